"""The Ray engine (`medsearch index --engine ray`, extra ``[ray]``): Ray Data decodes and embeds, the driver writes.

Plan, per run (only the items the reader found new or changed, as with the local engine):

    from_items(positions, image paths, texts)                 one row per pending item
      .map_batches(decode_batch)                              tasks: read + decode + transform, errors as rows
      .map_batches(EmbedActor, concurrency=N, num_gpus=g)     actor pool: the encoder loads once per actor
      .iter_batches(preserve_order)                           back to the driver, in the reader's order

The driver turns each batch into the same ``EmbeddedBatch`` the local ``TorchEmbedder`` yields, so reader,
writer (store rows, vector files, FAISS), manifest, vector ids and the skip report are the local engine's: only
where decoding and encoding run changes. A decode failure is ``Skipped(stage="decode")`` with the same reason.

Cluster: ``address`` is passed to ``ray.init`` ("auto" joins the cluster this machine is part of, "ray://host:10001"
a remote one through Ray Client). The workers must be able to import medsearch and read the archive's paths
(a shared file system, or the same paths on every node); see README "Indexing on a Ray cluster".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from medsearch.errors import MissingExtra
from medsearch.models.embed_loop import BatchTimings

from indexer.embed import DEFAULT_BATCH_SIZE, Embedded, EmbeddedBatch, decode_skip
from indexer.reader import Pending, has_text

RAY_HINT = "pip install 'medsearch[ray]'"


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"--engine ray needs {exc.name}, which is not installed", hint=RAY_HINT) from exc
    return ray


def decode_batch(batch: dict, transform, shape: tuple) -> dict:
    """Ray task: image paths -> transformed float32 arrays of ``shape`` (zeros where an item has no image or it
    failed; every batch has the same tensor shape); a decode error becomes that row's ``error``."""
    from medsearch.models.embed_loop import DecodeDataset

    paths = DecodeDataset([path or None for path in batch["path"]], transform)  # the local engine's decode
    decoded = [paths[row] for row in range(len(paths))]
    images = np.zeros((len(decoded), *shape), np.float32)
    for row, d in enumerate(decoded):
        if d.array is not None:
            images[row] = d.array
    return {"position": np.asarray(batch["position"], dtype=np.int64), "image": images,
            "has_image": np.array([d.array is not None for d in decoded], dtype=bool),
            "error": np.array([d.error or "" for d in decoded], dtype=object),
            "text": np.asarray(batch["text"], dtype=object),
            "decode_s": np.array([d.seconds for d in decoded], dtype=np.float64)}


class EmbedActor:
    """Ray actor: loads the encoder once, embeds the images and texts of each batch it is given."""

    def __init__(self, encoder_factory: Callable, device: str):
        import torch

        from medsearch.models.device import resolve_device

        if device == "cpu":
            torch.set_num_threads(1)  # one CPU per actor (Ray reserves one); more threads only oversubscribe
        self.encoder = encoder_factory()
        self.device = resolve_device(device)

    def __call__(self, batch: dict) -> dict:
        import torch

        from medsearch.models.device import autocast

        start = time.perf_counter()
        ok = np.array([not e for e in batch["error"]], dtype=bool)
        image_rows = np.flatnonzero(ok & batch["has_image"])
        text_rows = np.flatnonzero(ok & np.array([bool(t) and str(t).strip() != "" for t in batch["text"]]))
        dim = self.encoder.dim
        images = np.zeros((len(ok), dim), np.float32)
        texts = np.zeros((len(ok), dim), np.float32)
        with torch.inference_mode(), autocast(self.device):
            if len(image_rows):
                images[image_rows] = np.asarray(self.encoder.encode_image_batch(batch["image"][image_rows]),
                                                dtype=np.float32)
            if len(text_rows):
                texts[text_rows] = np.asarray(self.encoder.encode_texts([str(batch["text"][i]) for i in text_rows]),
                                              dtype=np.float32)
        has_image_vector = np.zeros(len(ok), bool)
        has_image_vector[image_rows] = True
        has_text_vector = np.zeros(len(ok), bool)
        has_text_vector[text_rows] = True
        seconds = time.perf_counter() - start
        return {"position": batch["position"], "error": batch["error"], "decode_s": batch["decode_s"],
                "image_vector": images, "has_image_vector": has_image_vector,
                "text_vector": texts, "has_text_vector": has_text_vector,
                "embed_s": np.full(len(ok), seconds / max(len(ok), 1))}


def decode_cpus(cluster_cpus: float, actors: int) -> float:
    """CPUs per decode task. With CPUs to spare beyond one per encoder actor, decode runs in its own tasks (half a
    CPU each, so Ray keeps it a separate stage); without, it asks for what an actor asks for, and Ray Data fuses
    it into the actors' stage (separate decode tasks would wait forever for a CPU the actors hold)."""
    return 0.5 if cluster_cpus >= actors + 1 else 1


@dataclass
class RayEmbedder:
    """``Embedder`` (see indexer.pipeline) that runs decode and encode on a Ray cluster."""

    encoder_factory: Callable  # picklable: builds the encoder inside each actor
    transform: object  # the encoder's image transform (picklable), run in decode tasks
    dim: int
    batch_size: int = DEFAULT_BATCH_SIZE
    address: str | None = None  # None: start a local Ray; "auto" or "ray://host:port": join a cluster
    actors: int | None = None  # encoder actors (default: one per GPU, else 1 on a CPU-only cluster)
    num_cpus: int | None = None  # CPUs of the local Ray started when ``address`` is None
    device: str = "auto"

    def embed(self, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]:
        if not pending:
            return
        ray = require_ray()
        started_here = self._init(ray)
        try:
            yield from self._run(ray, pending)
        finally:
            if started_here:
                ray.shutdown()

    def _init(self, ray) -> bool:
        if ray.is_initialized():
            return False
        options = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False}
        if self.address is not None:
            ray.init(address=self.address, **options)
        else:
            ray.init(num_cpus=self.num_cpus, **options)
        return True

    def _shape(self) -> tuple:
        """What the image transform makes of an image: every decoded tensor has this shape."""
        from PIL import Image

        return tuple(np.asarray(self.transform(Image.new("RGB", (64, 64))), dtype=np.float32).shape)

    def _run(self, ray, pending: Sequence[Pending]) -> Iterator[EmbeddedBatch]:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # vectors come back in the reader's order
        context.enable_progress_bars = False
        gpus = int(ray.cluster_resources().get("GPU", 0))
        device = self.device if self.device != "auto" else ("cuda" if gpus else "cpu")
        actors = self.actors or max(1, gpus)
        rows = [{"position": i, "path": None if p.item.image_path is None else str(p.item.image_path),
                 "text": p.item.text if has_text(p.item) else None} for i, p in enumerate(pending)]
        blocks = max(1, min(len(rows) // self.batch_size, 4 * actors * 4))
        dataset = (
            ray.data.from_items(rows, override_num_blocks=blocks)
            .map_batches(decode_batch, fn_kwargs={"transform": self.transform, "shape": self._shape()},
                         batch_size=self.batch_size,
                         batch_format="numpy", num_cpus=decode_cpus(ray.cluster_resources().get("CPU", 1), actors))
            .map_batches(EmbedActor, fn_constructor_kwargs={"encoder_factory": self.encoder_factory,
                                                            "device": device},
                         batch_size=self.batch_size, batch_format="numpy", concurrency=actors,
                         num_gpus=1 if gpus else 0, num_cpus=1)
        )
        wait_start = time.perf_counter()
        for out in dataset.iter_batches(batch_size=self.batch_size, batch_format="numpy"):
            batch = EmbeddedBatch(timings=BatchTimings(decode_wait_s=time.perf_counter() - wait_start,
                                                       decode_worker_s=float(np.sum(out["decode_s"])),
                                                       embed_s=float(np.sum(out["embed_s"]))))
            for row, position in enumerate(out["position"]):
                p = pending[int(position)]
                if out["error"][row]:
                    batch.skipped.append(decode_skip(p, out["error"][row]))
                    continue
                image = out["image_vector"][row].copy() if out["has_image_vector"][row] else None
                text = out["text_vector"][row].copy() if out["has_text_vector"][row] else None
                batch.items.append(Embedded(p, image, text))
            yield batch
            wait_start = time.perf_counter()
