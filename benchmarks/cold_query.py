"""Cold CLI query time (a fresh `medsearch query` process each run) for the default model, text and image queries,
and for a BiomedCLIP-sized open_clip model after its first use.

    python benchmarks/cold_query.py --work /tmp/coldq [--runs 5] [--items 40]

The BiomedCLIP-sized model is BiomedCLIP's exact architecture and config shape (timm ViT-B/16 224 px + a 12-layer,
768-wide BERT text tower with CLS pooling and MLP projection, context 256) with random weights (~196M parameters,
~0.8 GB safetensors) and bert-base-uncased's 30,522-token WordPiece vocabulary (from the MiniLM package): the real
weights are not on this machine, and the timing depends only on the shapes. Each model indexes the same small
archive (the first --items demo pairs); the first query of the big model (ONNX export of its text tower) is timed
separately and not counted as cold. Targets: default text <= 1.0 s, default image <= 2.0 s, BiomedCLIP-sized
text <= 2.0 s after first use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUERY = "CT pulmonary angiogram showing pulmonary embolism"


def biomedclip_sized(directory: Path) -> Path:
    """BiomedCLIP's open_clip config with a local bert-base-sized text tower config; random weights."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from medsearch.models.towers import minilm_dir

    if (directory / "open_clip_model.safetensors").exists():
        return directory
    tower = directory / "text_tower"
    tower.mkdir(parents=True, exist_ok=True)
    (tower / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": 30522, "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "max_position_embeddings": 512, "type_vocab_size": 2, "pad_token_id": 0}))
    text_cfg = {"hf_model_name": str(tower), "hf_tokenizer_name": str(tower), "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256}
    vision_cfg = {"timm_model_name": "vit_base_patch16_224", "timm_model_pretrained": False, "timm_pool": "",
                  "timm_proj": "linear", "image_size": 224}
    (directory / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": {"embed_dim": 512, "vision_cfg": vision_cfg, "text_cfg": text_cfg},
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}}))
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir() / name).exists():
            shutil.copy(minilm_dir() / name, directory / name)
    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(embed_dim=512, vision_cfg=vision_cfg, text_cfg={**text_cfg, "hf_model_pretrained": False})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))
    return directory


def small_archive(work: Path, n: int) -> Path:
    from medsearch.archives import open_archive

    root = work / "archive"
    if root.exists():
        return root
    (root / "images").mkdir(parents=True)
    items = [it for it in open_archive("demo", None).items() if it.image_path and it.text][:n]
    import csv

    with open(root / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "image", "text"])
        for it in items:
            name = Path(it.image_path).name
            shutil.copyfile(it.image_path, root / "images" / name)
            w.writerow([it.key, f"images/{name}", it.text])
    return root


def cli(*args) -> list[str]:
    return [sys.executable, "-c", "from medsearch.cli import main; main()", *args]


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    root = small_archive(args.work, args.items)
    image = next((root / "images").iterdir())
    models = {"medsearch-default": None}
    if not args.skip_big:
        models["biomedclip-sized"] = f"local-dir:{biomedclip_sized(args.work / 'biomedclip-sized')}"
    out = {"benchmark": "cold_query", "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
           "load_1min_at_start": os.getloadavg()[0]}, "query": QUERY, "runs": args.runs, "models": {}}
    for label, model in models.items():
        index = args.work / f"index-{label}"
        if not index.exists():
            extra = ["--model", model] if model else []
            subprocess.run(cli("index", "--manifest", "csv", "--root", str(root), "--index", str(index), *extra),
                           check=True, capture_output=True, text=True)
        first = timed(cli("query", QUERY, "--index", str(index), "--k", "10"))  # may export ONNX: not cold
        text = sorted(timed(cli("query", QUERY, "--index", str(index), "--k", "10")) for _ in range(args.runs))
        entry = {"model": model or "medsearch-default", "first_query_s": round(first, 2),
                 "text_cold_s": [round(t, 3) for t in text], "text_cold_median_s": round(text[len(text) // 2], 3)}
        if label == "medsearch-default":
            img = sorted(timed(cli("query", "--image", str(image), "--index", str(index), "--k", "10")) for _ in range(args.runs))
            entry.update(image_cold_s=[round(t, 3) for t in img], image_cold_median_s=round(img[len(img) // 2], 3))
        out["models"][label] = entry
        print(label, json.dumps(entry), flush=True)
    out["machine"]["load_1min_at_end"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_query.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
