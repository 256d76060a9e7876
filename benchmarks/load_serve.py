"""Bounded load test of `medsearch serve`: N concurrent clients for T seconds on loopback.

    # against a server that is already running
    python benchmarks/load_serve.py --url http://127.0.0.1:8000 --clients 8 --seconds 30
    # or let the script start one over an index (and stop it afterwards)
    python benchmarks/load_serve.py --index idx-demo --clients 8 --seconds 30

Each client (a thread with its own keep-alive httpx.Client) loops over a request mix until the time is up:
text searches (words -> images and -> reports), item detail, thumbnails, and image searches by upload.
Reports requests/s, p50/p99 latency and errors, overall and per request kind, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

QUERIES = [
    "pneumothorax", "pulmonary embolism on CT angiography", "pleural effusion", "fracture of the femur",
    "brain MRI with ring enhancing lesion", "abdominal CT with free air", "cardiomegaly on chest x-ray",
    "renal cyst ultrasound", "consolidation right lower lobe", "aortic dissection", "hydronephrosis",
    "liver metastases", "subdural haematoma", "bowel obstruction", "PE", "CXR normal", "spine MRI disc herniation",
    "thyroid nodule ultrasound", "lung nodule", "intracranial haemorrhage on non-contrast CT",
]
# request kind -> weight in the mix
DEFAULT_MIX = {"search_image": 4, "search_text": 2, "item": 1, "thumbnail": 2, "upload": 1}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if error:
                self.errors.setdefault(kind, []).append(error)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summarise(values: list[float], errors: list[str], seconds: float) -> dict:
    ms = [v * 1000 for v in values]
    return {
        "requests": len(ms), "errors": len(errors), "qps": round(len(ms) / seconds, 1),
        "p50_ms": round(percentile(ms, 50), 1) if ms else None,
        "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "error_examples": sorted(set(errors))[:3],
    }


class Workload:
    """What the clients ask for: item ids and an upload image are taken from the server's own answers."""

    def __init__(self, client: httpx.Client):
        hits = client.get("/api/search", params={"q": "chest", "k": 50}).raise_for_status().json()["results"]
        if not hits:
            raise SystemExit("the index answered no results: nothing to load-test")
        self.item_ids = [h["item_id"] for h in hits]
        self.image_ids = [h["item_id"] for h in hits if h["has_image"]]
        self.upload = client.get(f"/api/items/{self.image_ids[0]}/thumbnail", params={"size": 224}).content

    def request(self, client: httpx.Client, kind: str, rng: random.Random) -> httpx.Response:
        if kind == "search_image":
            return client.get("/api/search", params={"q": rng.choice(QUERIES), "k": 24, "target": "image"})
        if kind == "search_text":
            return client.get("/api/search", params={"q": rng.choice(QUERIES), "k": 24, "target": "text"})
        if kind == "item":
            return client.get(f"/api/items/{rng.choice(self.item_ids)}")
        if kind == "thumbnail":
            return client.get(f"/api/items/{rng.choice(self.image_ids)}/thumbnail", params={"size": 256})
        if kind == "upload":
            return client.post("/api/search/image", params={"k": 24, "target": rng.choice(["image", "text"])},
                               content=self.upload, headers={"content-type": "image/png"})
        raise ValueError(kind)


def client_loop(url, headers, workload, mix, deadline, tally, seed):
    rng = random.Random(seed)
    kinds, weights = zip(*mix.items())
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            start = time.perf_counter()
            error = None
            try:
                response = workload.request(client, kind, rng)
                if response.status_code >= 400:
                    error = f"HTTP {response.status_code}: {response.text[:120]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            tally.add(kind, time.perf_counter() - start, error)


def run_load(url: str, token: str | None, clients: int, seconds: float, mix: dict[str, int]) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    load_before = os.getloadavg()[0]  # other work on the machine, before this test adds its own
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        info = client.get("/api/info").raise_for_status().json()
        workload = Workload(client)
    tally = Tally()
    # warm-up: one pass over every kind, not counted
    client_loop(url, headers, workload, mix, time.monotonic() + 2, Tally(), seed=-1)
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, headers, workload, mix, deadline, tally, i))
               for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = [v for values in tally.latencies.values() for v in values]
    all_errors = [e for errors in tally.errors.values() for e in errors]
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_before": round(load_before, 2),
                    "python": platform.python_version(), "platform": platform.platform()},
        "index": {"model": info["model"], "counts": info["counts"]},
        "clients": clients, "seconds": round(elapsed, 1), "mix": mix,
        "overall": summarise(every, all_errors, elapsed),
        "by_kind": {k: summarise(v, tally.errors.get(k, []), elapsed) for k, v in sorted(tally.latencies.items())},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: str, model: str | None, token: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from medsearch.cli import main; main(sys.argv[1:])",
           "serve", "--index", index, "--port", str(port)]
    if model:
        cmd += ["--model", model]
    proc = subprocess.Popen(cmd, env={**os.environ, "MEDSEARCH_TOKEN": token or ""})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"medsearch serve exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("medsearch serve did not come up within 300 s")


def parse_mix(text: str | None) -> dict[str, int]:
    if not text:
        return dict(DEFAULT_MIX)
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind not in DEFAULT_MIX:
            raise SystemExit(f"unknown request kind {kind!r}; choose from {', '.join(DEFAULT_MIX)}")
        mix[kind] = int(weight or 1)
    return mix


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    where.add_argument("--index", help="start `medsearch serve --index DIR` on a free loopback port")
    parser.add_argument("--model", help="with --index: the model name, if not the index's")
    parser.add_argument("--token", default=os.environ.get("MEDSEARCH_TOKEN"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--mix", help="request mix, e.g. search_image=4,search_text=2,item=1,thumbnail=2,upload=1")
    parser.add_argument("--note", default="", help="free text kept in the report (which index, machine load)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve_load.json"))
    args = parser.parse_args(argv)

    proc = None
    url = args.url
    if args.index:
        proc, url = start_server(args.index, args.model, args.token)
    try:
        report = run_load(url, args.token, args.clients, args.seconds, parse_mix(args.mix))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    report = {"note": args.note, **report}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    o = report["overall"]
    print(f"{args.clients} clients, {report['seconds']} s: {o['qps']} req/s, p50 {o['p50_ms']} ms, "
          f"p99 {o['p99_ms']} ms, {o['errors']} errors -> {args.out}")
    for kind, s in report["by_kind"].items():
        print(f"  {kind:13s} {s['qps']:7.1f} req/s  p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  errors {s['errors']}")
    return 1 if o["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
