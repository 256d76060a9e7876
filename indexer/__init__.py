"""Building index directories: reader -> embedder -> writer (``indexer.pipeline.build_index``, public as
``medsearch.build_index`` with ``medsearch.IndexOptions``).

Modules: ``pipeline`` (the run, timings, progress, RunSummary), ``reader`` (archive walk + content hashes),
``embed`` (DataLoader decode workers + batched encoding), ``writer`` (vector files, store rows, FAISS, manifest),
``ann`` (FAISS index choice, training, nprobe), ``vectors`` (append-only .npy), ``lock`` (one run per directory),
``limits`` (the least value of each count a run takes). ``medsearch`` imports this package only lazily (its
public API, the commands), except ``limits``, which the command line's options read when it starts.
"""
