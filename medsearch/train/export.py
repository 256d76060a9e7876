"""Turn a best checkpoint of the feature model into the shipped default weights file (fp16, config in metadata)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from safetensors.torch import load_file, save_file


def export_default(checkpoint_file: Path, out: Path, metrics: dict) -> Path:
    """fp16 tensors halve the file; the towers' own frozen weights are not included (they come from pip)."""
    from safetensors import safe_open

    tensors = load_file(str(checkpoint_file))
    with safe_open(str(checkpoint_file), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    model_config = dict(config["model"])
    model_config["logit_scale"] = float(tensors["heads.logit_scale"].clamp(max=math.log(100.0)))
    small = {k: (v.half() if v.is_floating_point() and v.dim() > 0 else v).contiguous() for k, v in tensors.items()}
    summary = {
        "archive": metrics.get("archive"),
        "train_pairs": metrics.get("train_pairs"),
        "licences": metrics.get("licences"),
        "best_epoch": metrics.get("best_epoch"),
        "test": {k: round(v, 2) for k, v in metrics.get("test", {}).items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # one metadata key: safetensors writes several keys in hash order, which would change the file's fingerprint
    meta = json.dumps({"model": model_config, "train": config, "summary": summary}, sort_keys=True)
    save_file(small, str(out), metadata={"config": meta})
    return out


def export_ensemble(checkpoint_files: list[Path], out: Path, metrics: dict) -> Path:
    """K head checkpoints of one setting (different seeds) as one shipped file: ``heads.<i>.*`` tensors, config
    ``ensemble: K``, ``dim: K x member dim`` (see default_torch.build_heads)."""
    from safetensors import safe_open

    tensors, configs, scales = {}, [], []
    for i, path in enumerate(checkpoint_files):
        member = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            configs.append(json.loads(f.metadata()["config"]))
        if configs[-1]["model"].get("image_top") or configs[-1]["model"].get("text_top"):
            raise ValueError("an ensemble is made of heads only (no unfrozen tower blocks)")
        scales.append(float(member["heads.logit_scale"].clamp(max=math.log(100.0))))
        tensors.update({f"heads.{i}.{k[len('heads.'):]}": v for k, v in member.items() if k.startswith("heads.")})
    model_config = dict(configs[0]["model"])
    model_config.update(ensemble=len(checkpoint_files), member_dim=model_config["dim"],
                        dim=model_config["dim"] * len(checkpoint_files), logit_scale=sum(scales) / len(scales))
    small = {k: (v.half() if v.is_floating_point() and v.dim() > 0 else v).contiguous() for k, v in tensors.items()}
    summary = {"archive": metrics.get("archive"), "train_pairs": metrics.get("train_pairs"),
               "licences": metrics.get("licences"), "members": [str(p.parent.name) for p in checkpoint_files],
               "test": {k: round(v, 2) for k, v in metrics.get("test", {}).items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"model": model_config, "train": configs[0], "summary": summary}, sort_keys=True)
    save_file(small, str(out), metadata={"config": meta})
    return out
