"""Building index directories: reader -> embedder -> writer (see ``indexer.pipeline.build_index``).

Modules: ``pipeline`` (the run, timings, progress, RunSummary), ``reader`` (archive walk + content hashes),
``embed`` (DataLoader decode workers + batched encoding), ``writer`` (vector files, store rows, FAISS, manifest),
``ann`` (FAISS index choice, training, nprobe), ``vectors`` (append-only .npy), ``lock`` (one run per directory).
Only ``medsearch/commands/index.py`` imports this package from ``medsearch``.
"""
