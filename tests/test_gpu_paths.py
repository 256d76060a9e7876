"""GPU code paths (faiss-gpu training/adding, fp16 autocast in the embedder, GPU actors for the Ray engine).

Marked ``gpu``: skipped where no CUDA device is visible (FAISS or torch), run where one is lent. Each compares
the GPU path against the CPU path on the same data, so a wrong GPU path fails rather than merely runs.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def _need_faiss_gpu():
    import faiss

    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("FAISS sees no GPU (install the [gpu] extra on a CUDA machine)")


def _need_torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")


def test_ivf_trained_on_the_gpu_matches_the_cpu_recall():
    _need_faiss_gpu()
    from indexer import ann

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((20_000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = ann.build(vectors, "IVF64,Flat")
    assert built.ntotal == len(vectors) and "Gpu" not in type(built.index).__name__  # saved indexes are CPU
    queries = vectors[:200]
    found = built.search(queries, 10)[1]
    assert ann.candidate_recall(found, ann.exact_neighbours(vectors, queries, 10)) > 0.9


def test_autocast_embedding_stays_close_to_fp32(tmp_path):
    _need_torch_cuda()
    from PIL import Image

    from medsearch.models import load_encoder
    from medsearch.models.embed_loop import embed_batches

    from indexer.embed import TorchEmbedder

    cpu = load_encoder(None, device="cpu")
    gpu = load_encoder(None, device="cuda")
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(image)

    def image_vectors(encoder, device):  # the embedder's loop: inference mode and autocast for ``device``
        batch = next(embed_batches(encoder, [image], [None], 1, device=TorchEmbedder(encoder, device=device).device))
        return np.stack([vector for _, vector, _ in batch.kept])

    on_cpu = image_vectors(cpu, "cpu")
    on_gpu = image_vectors(gpu, "cuda")
    assert TorchEmbedder(gpu, device="cuda").workers >= 0
    np.testing.assert_allclose(on_gpu, on_cpu, atol=2e-2)  # fp16 autocast: close, not equal
    assert abs(float(np.linalg.norm(on_gpu[0])) - 1) < 1e-2
