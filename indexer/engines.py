"""Indexing engines by name (`medsearch index --engine NAME`): each makes the pipeline's Embedder.

- ``local``: ``TorchEmbedder`` (DataLoader decode workers, the encoder in this process).
- ``ray``: ``RayEmbedder`` (Ray Data decode tasks, an actor pool of encoders; extra ``[ray]``).

Reader, writer, manifest and skip report are shared: engines differ only in where decode and encode run.
"""

from __future__ import annotations

from functools import partial

from medsearch.errors import UnknownName

from indexer.embed import TorchEmbedder


def local_engine(encoder, model_name: str, batch_size: int, workers: int | None, device: str | None,
                 address: str | None = None, actors: int | None = None):
    return TorchEmbedder(encoder, batch_size, workers, device)


def ray_engine(encoder, model_name: str, batch_size: int, workers: int | None, device: str | None,
               address: str | None = None, actors: int | None = None):
    from medsearch.models import load_encoder

    from indexer.ray_engine import RayEmbedder, require_ray

    require_ray()
    actor_device = device or "auto"
    return RayEmbedder(encoder_factory=partial(load_encoder, model_name, device=actor_device), transform=encoder.image_transform(), dim=encoder.dim, batch_size=batch_size,
                       address=address, actors=actors, device=actor_device)


ENGINES = {"local": local_engine, "ray": ray_engine}


def make_embedder(engine: str, encoder, model_name: str, batch_size: int, workers: int | None = None,
                  device: str | None = None, address: str | None = None, actors: int | None = None):
    try:
        factory = ENGINES[engine]
    except KeyError:
        raise UnknownName("engine", engine, list(ENGINES)) from None
    return factory(encoder, model_name, batch_size, workers, device, address, actors)
