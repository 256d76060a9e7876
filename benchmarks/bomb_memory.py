"""Server memory under decompression-bomb uploads (issue 8 item 9): peak RSS of `medsearch serve` while four bombs
are posted to /api/search/image at once.

Bombs, made here (nothing is downloaded):
* png:   a 9900 x 10000 greyscale PNG of zeros (~100 KB on disk, 99 MB decoded, ~1 GB through the old path);
* dicom: a Deflated Explicit VR Little Endian DICOM of 9000 x 9000 x 10 frames x 16 bits of zeros (~1.6 MB on
         disk, 1.6 GB inflated), written as a stream so that this script never holds it inflated.

For each bomb a fresh server (fake encoder, the demo archive) is started from ``--repo`` (the code measured), warmed
up with one small upload; then four clients post the bomb at once. Reported: the server's resident memory before
(VmRSS after warm-up), its peak (VmHWM) and the increase, each response's status and time.

    python benchmarks/bomb_memory.py --repo . --out benchmarks/results/bomb_memory.json
    python benchmarks/bomb_memory.py --repo /path/to/old/checkout --label before ...   # the same on older code
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

MIB = 1024 * 1024


def png_bomb(path: Path, width: int = 9900, height: int = 10000) -> Path:
    """Zeros compress ~1000:1; rows are written through zlib one at a time (never the whole raster here)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, parts = zlib.compressobj(9), []
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def dicom_bomb(path: Path, rows: int = 9000, cols: int = 9000, frames: int = 10) -> Path:
    """Deflated Explicit VR Little Endian: file meta, then the raw-deflated dataset, pixel data streamed as zeros."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Rows, ds.Columns, ds.NumberOfFrames = "OT", rows, cols, str(frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    head = DicomBytesIO()
    head.is_little_endian, head.is_implicit_VR = True, False
    write_file_meta_info(head, meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    length = rows * cols * frames * 2
    pixel_header = b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", length)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as f:
        f.write(b"\x00" * 128 + b"DICM" + head.getvalue())
        f.write(compressor.compress(body.getvalue() + pixel_header))
        zeros = b"\x00" * (16 * MIB)
        left = length
        while left:
            n = min(left, len(zeros))
            f.write(compressor.compress(zeros[:n]))
            left -= n
        f.write(compressor.flush())
    return path


def small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def post(url: str, data: bytes, content_type: str, timeout: float = 600) -> tuple[int, float, str]:
    start = time.perf_counter()
    request = urllib.request.Request(url, data=data, headers={"content-type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:  # a server killed by the OOM killer
        return -1, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    message = ""
    if status >= 400:
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:200].decode("utf-8", "replace")
    return status, time.perf_counter() - start, message


def run_scenario(repo: Path, index: Path, bomb: bytes, content_type: str, clients: int) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    # cwd = the measured checkout: `python -c` puts the working directory first on sys.path
    server = subprocess.Popen([sys.executable, "-c", "from medsearch.cli import main; main()", "serve", "--index",
                               str(index), "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/search/image?k=3"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        warm = post(url, small_png(), "image/png")
        baseline = status_kib(server.pid, "VmRSS")
        results: list = [None] * clients
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, post(url, bomb, content_type)))
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        alive = server.poll() is None
        peak = status_kib(server.pid, "VmHWM") if alive else None
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"warm_up_status": warm[0], "baseline_rss_mib": round(baseline / 1024, 1),
            "peak_rss_mib": round(peak / 1024, 1) if peak else None,
            "increase_mib": round((peak - baseline) / 1024, 1) if peak else None,
            "server_survived": alive,
            "responses": [{"status": s, "seconds": round(t, 2), "message": m} for s, t, m in results]}


def main() -> None:
    from medsearch.index_dir import IndexDir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("."), help="checkout whose code the server runs")
    parser.add_argument("--label", default="after", help="name of this run in the output (e.g. before / after)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--bombs", nargs="+", default=["png", "dicom"], choices=["png", "dicom"])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bomb_memory.json"))
    args = parser.parse_args()

    repo = args.repo.resolve()
    work = (args.work or Path(tempfile.mkdtemp(prefix="bomb-memory-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    index = (work / f"idx-{args.label}").resolve()
    if not IndexDir(index).manifest.exists():
        subprocess.run([sys.executable, "-c", "from medsearch.cli import main; main()", "index", "--manifest",
                        "demo", "--index", str(index), "--model", "fake"],
                       env={**os.environ, "PYTHONPATH": str(repo)}, cwd=repo, check=True, capture_output=True)
    files = {"png": (png_bomb, "image/png"), "dicom": (dicom_bomb, "application/dicom")}
    scenarios = {}
    for name in args.bombs:
        make, content_type = files[name]
        path = work / f"bomb.{name}"
        if not path.exists():
            make(path)
        bomb = path.read_bytes()
        result = run_scenario(repo, index, bomb, content_type, args.clients)
        scenarios[name] = {"file_bytes": len(bomb), **result}
        print(f"{args.label} {name} ({len(bomb):,} bytes) x{args.clients}: baseline {result['baseline_rss_mib']} MiB, "
              f"peak {result['peak_rss_mib']} MiB (+{result['increase_mib']}), "
              f"statuses {[r['status'] for r in result['responses']]}, "
              f"slowest {max(r['seconds'] for r in result['responses'])} s", flush=True)
    out = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "bomb_memory", "runs": {}}
    out["runs"][args.label] = {
        "repo_commit": subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                                      text=True).stdout.strip(),
        "clients": args.clients, "scenarios": scenarios,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
