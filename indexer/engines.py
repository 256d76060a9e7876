"""Indexing engines by name (`medsearch index --engine NAME`): each makes the pipeline's Embedder.

- ``local``: ``TorchEmbedder`` (DataLoader decode workers, the encoder in this process).
- ``ray``: ``RayEmbedder`` (Ray Data decode tasks, an actor pool of encoders; extra ``[ray]``).

Reader, writer, manifest and skip report are shared: engines differ only in where decode and encode run.
"""

from __future__ import annotations

from functools import partial

from medsearch.errors import UnknownName

from indexer.embed import TorchEmbedder
from indexer.limits import check_counts


def local_engine(encoder, batch_size: int, workers: int | None, address: str | None = None,
                 actors: int | None = None):
    return TorchEmbedder(encoder, batch_size, workers)


def ray_engine(encoder, batch_size: int, workers: int | None, address: str | None = None,
               actors: int | None = None):
    """Each actor loads the encoder again by its identity (registry name, device asked for)."""
    from medsearch.models import load_encoder

    from indexer.ray_engine import RayEmbedder, require_ray

    require_ray()
    identity = encoder.identity
    return RayEmbedder(encoder_factory=partial(load_encoder, identity.name, device=identity.device),
                       transform=encoder.image_transform(), dim=encoder.dim, batch_size=batch_size,
                       address=address, actors=actors, device=identity.device)


ENGINES = {"local": local_engine, "ray": ray_engine}


def make_embedder(engine: str, encoder, batch_size: int, workers: int | None = None, address: str | None = None,
                  actors: int | None = None):
    """The embed stage of engine ``engine`` for ``encoder`` (a registry-loaded one: see ``ModelIdentity``)."""
    check_counts(batch_size=batch_size, workers=workers, actors=actors)
    try:
        factory = ENGINES[engine]
    except KeyError:
        raise UnknownName("engine", engine, list(ENGINES)) from None
    return factory(encoder, batch_size, workers, address, actors)
