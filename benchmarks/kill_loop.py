"""kill -9 loop over `index`, `delete` and `compact` on one index directory: 0 lost, 0 duplicated?

Each round changes the archive (a few captions edited, rows added, rows removed), then runs one operation in a
child process (an index run of the changed archive, a delete of some keys (also removed from the archive, so
they stay gone), or a compact) and sends it SIGKILL after a random delay within the operation's usual
duration. Then, like a user, it runs `index` again to completion and checks the directory:

- lost: an archive key with no store row, or whose text vector is not found as its own nearest neighbour;
- duplicated: a key returned twice by one search, or two store rows pointing at one vector;
- verify: ``medsearch verify`` (checksums, norms, store ids inside the files) fails;
- stale: a deleted or pruned key still returned by a search.

While the child runs, a reader (an open ``Index`` in this process) keeps searching: any wrong or duplicated
answer it gets counts as a "reader error" (a killed writer must never make a reader answer wrongly).

    python benchmarks/kill_loop.py --rounds 40 --out benchmarks/results/kill_loop.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys, json
from pathlib import Path
op, idx, arch, arg = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
from medsearch.archives import open_archive
from medsearch.models.fake import FakeEncoder
from indexer import maintain
from indexer.pipeline import IndexOptions, build_index
print("ready", flush=True)
if op == "index":
    s = build_index(open_archive("csv", arch), idx, FakeEncoder(),
                    IndexOptions(workers=0, progress=False, batch_size=16, flush_items=32, commit_every=2))
    print(json.dumps({"indexed": s.indexed, "reclaimed": s.reclaimed, "pruned": s.pruned}), flush=True)
elif op == "delete":
    maintain.delete_items(idx, keys=json.loads(arg))
elif op == "compact":
    maintain.compact(idx)
print("done", flush=True)
"""


def write_archive(root: Path, rows: dict[str, str]) -> None:
    lines = ["id,image,text,split,licence,modality"]
    lines += [f"{key},{key}.png,{text},train,CC BY,CR" for key, text in sorted(rows.items())]
    (root / "items.csv").write_text("\n".join(lines) + "\n")


def make_image(root: Path, key: str, seed: int) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / f"{key}.png")


WORDS = ["effusion", "nodule", "fracture", "opacity", "mass", "edema", "atelectasis", "consolidation"]


def caption(rng: random.Random, key: str) -> str:
    return f"{key} " + " ".join(rng.choice(WORDS) for _ in range(6))


def run_child(op: str, idx: Path, arch: Path, arg: str, kill_after: float | None, probe=None):
    """(killed before it finished, seconds the operation ran, the child's summary line or None); ``probe()`` runs
    over and over meanwhile."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, op, str(idx), str(arch), arg], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    if kill_after is None:
        out, err = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"{op} failed: {err[-2000:]}")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return False, time.perf_counter() - start, json.loads(lines[-1]) if lines else None
    finished = False
    while time.perf_counter() - start < kill_after:
        if child.poll() is not None:
            finished = True
            break
        if probe is not None:
            probe()
        else:
            time.sleep(0.01)
    if not finished:
        child.send_signal(signal.SIGKILL)
    child.communicate()
    return not finished, time.perf_counter() - start, None


def check(idx: Path, expected: set[str], gone: set[str]) -> dict:
    """lost / duplicated / stale / verify after a completed index run."""
    import medsearch
    from indexer import maintain

    with medsearch.open_index(idx, model="fake") as index:
        records = index.store.list_items()
        keys = [r.key for r in records]
        duplicated = len(keys) - len(set(keys))
        vids = [r.text_vector_id for r in records if r.text_vector_id is not None]
        duplicated += len(vids) - len(set(vids))
        lost = len(expected - set(keys))
        stale = len(set(keys) & gone)
        for record in records:
            if record.key not in expected:
                continue
            own = index.stored_vector("text", record.text_vector_id)
            hits = index.search_vector(own, k=3, target="text")
            if not hits or hits[0].key != record.key:
                lost += 1
            duplicated += len(hits) - len({h.key for h in hits})
            stale += sum(h.key in gone for h in hits)
    report = maintain.verify(idx)
    return {"lost": lost, "duplicated": duplicated, "stale": stale, "verify_failed": 0 if report.ok else 1,
            "problems": report.problems}


class ReaderProbe:
    """An open reader searching while writers run. Wrong answers: a hit whose score is not the query's inner
    product with that item's own text embedding (a vector mapped to the wrong item), a key returned twice, a key
    deleted before the round began, or an error."""

    def __init__(self, index, seed: int):
        from medsearch.models.fake import FakeEncoder

        self.index, self.encoder = index, FakeEncoder()
        rng = np.random.default_rng(seed)
        self.queries = [self.encoder.encode_texts([" ".join(rng.choice(WORDS, 3))])[0] for _ in range(8)]
        self.gone: set[str] = set()
        self.queries_run = self.errors = 0

    def __call__(self) -> None:
        query = self.queries[self.queries_run % len(self.queries)]
        self.queries_run += 1
        try:
            hits = self.index.search_vector(query, k=10, target="text")
        except Exception as exc:  # noqa: BLE001 - counted and shown: a reader must never fail
            print(f"reader failed: {exc}", file=sys.stderr)
            self.errors += 1
            return
        keys = [h.key for h in hits]
        self.errors += len(keys) - len(set(keys)) + sum(k in self.gone for k in keys)
        if hits:
            truth = self.encoder.encode_texts([h.text for h in hits]) @ query
            self.errors += int(np.sum(np.abs(truth - np.array([h.score for h in hits])) > 1e-4))


def run(rounds: int, items: int, seed: int, work: Path | None = None, out: Path | None = None) -> dict:
    import medsearch
    from medsearch.index_dir import IndexDir

    rng = random.Random(seed)
    work = Path(work or tempfile.mkdtemp(prefix="kill-loop-"))
    arch, idx = work / "archive", work / "idx"
    arch.mkdir(parents=True, exist_ok=True)
    rows = {}
    for i in range(items):
        key = f"k{i:05d}"
        make_image(arch, key, i)
        rows[key] = caption(rng, key)
    write_archive(arch, rows)
    run_child("index", idx, arch, "", None)
    durations = {"index": 1.0, "delete": 0.3, "compact": 0.5}
    totals = {"rounds": 0, "killed": {"index": 0, "delete": 0, "compact": 0},
              "finished": {"index": 0, "delete": 0, "compact": 0},
              "lost": 0, "duplicated": 0, "stale": 0, "verify_failed": 0,
              # where the kills landed: a compact between its files and its manifest swap, an index run that had
              # committed part of its items (the resume found them unchanged) or written orphan vectors
              "evidence": {"compact_next_manifest_left": 0, "index_resume_reclaimed_orphans": 0,
                           "index_resume_had_less_to_do": 0}}
    gone: set[str] = set()
    next_key = items
    reader = medsearch.open_index(idx, model="fake")
    probe = ReaderProbe(reader, seed)
    problems = []
    for round_number in range(rounds):
        op = rng.choice(["index", "index", "delete", "compact"])
        probe.gone = set(gone)  # removed in earlier rounds: never to be seen again; this round's may linger
        arg = ""
        changed: set[str] = set()
        if op == "index":
            for key in rng.sample(sorted(rows), 5):
                rows[key] = caption(rng, key)  # edited captions: re-embedded, old vectors dead
                changed.add(key)
            for _ in range(rng.randint(1, 10)):
                key = f"k{next_key:05d}"
                make_image(arch, key, next_key)
                rows[key] = caption(rng, key)
                changed.add(key)
                next_key += 1
            for key in rng.sample(sorted(rows), 3):
                rows.pop(key)  # pruned by the next full run
                gone.add(key)
        elif op == "delete":
            keys = rng.sample(sorted(rows), 5)
            for key in keys:
                rows.pop(key)
                gone.add(key)
            arg = json.dumps(keys)
        write_archive(arch, rows)
        for key in rows:
            gone.discard(key)
        kill_after = rng.uniform(0, 1.5 * durations[op])
        pending_before = len(changed & set(rows))  # new and edited rows still in the archive
        killed, seconds, _ = run_child(op, idx, arch, arg, kill_after, probe)
        durations[op] = 0.5 * durations[op] + 0.5 * seconds if not killed else 1.25 * durations[op]
        totals["killed" if killed else "finished"][op] += 1
        evidence = totals["evidence"]
        if killed and op == "compact" and IndexDir(idx).next_manifest.exists():
            evidence["compact_next_manifest_left"] += 1
        _, _, resumed = run_child("index", idx, arch, "", None)  # resume, as a user would
        if killed and op == "index" and resumed:
            evidence["index_resume_reclaimed_orphans"] += resumed["reclaimed"] > 0
            evidence["index_resume_had_less_to_do"] += resumed["indexed"] < pending_before

        result = check(idx, set(rows), gone)
        for name in ("lost", "duplicated", "stale", "verify_failed"):
            totals[name] += result[name]
        probe.gone = set(gone)
        probe()
        if result["problems"]:
            problems.append({"round": round_number, "op": op, "killed": killed, "problems": result["problems"]})
        totals["rounds"] += 1
        print(f"round {round_number}: {op} {'killed' if killed else 'finished'} after {seconds:.2f} s; "
              f"lost {result['lost']} dup {result['duplicated']} stale {result['stale']}", file=sys.stderr)
    reader.close()
    totals["reader_queries"], totals["reader_errors"] = probe.queries_run, probe.errors
    totals["items_at_end"] = len(rows)
    totals["problems"] = problems
    if out is not None:
        out.write_text(json.dumps(totals, indent=2) + "\n")
    return totals


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="kill -9 loop over index/delete/compact")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    cli = parser.parse_args()
    summary = run(cli.rounds, cli.items, cli.seed, cli.work, cli.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "problems"}, indent=2))
