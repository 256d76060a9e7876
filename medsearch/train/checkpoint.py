"""Checkpoints as safetensors: model weights, AdamW state (flattened), and a JSON file for counters and history."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

MODEL_FILE = "last.safetensors"
BEST_FILE = "best.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"


def trainable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Everything that training can change (parameters and buffers), contiguous and detached."""
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}


def save_weights(path: Path, module: torch.nn.Module, metadata: dict | None = None) -> None:
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    save_file(trainable_state(module), str(path), metadata=meta)


def load_weights(path: Path, module: torch.nn.Module) -> dict:
    from safetensors import safe_open

    module.load_state_dict(load_file(str(path)))
    with safe_open(str(path), framework="pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            tensors[f"{pid}.{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": groups["param_groups"]}


def save(out_dir: Path, module, optimizer, state: dict) -> None:
    """Write weights and optimizer first, state.json last, so a crash mid-save leaves the previous state usable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_weights(out_dir / MODEL_FILE, module, {"config": state.get("config", {})})
    tensors, groups = _flatten_optimizer(optimizer)
    save_file(tensors, str(out_dir / OPTIMIZER_FILE))
    tmp = out_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({**state, "optimizer_groups": groups}, indent=1))
    tmp.replace(out_dir / STATE_FILE)


def exists(out_dir: Path) -> bool:
    return (out_dir / STATE_FILE).exists()


def restore(out_dir: Path, module, optimizer) -> dict:
    state = json.loads((out_dir / STATE_FILE).read_text())
    load_weights(out_dir / MODEL_FILE, module)
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(out_dir / OPTIMIZER_FILE)), state.pop("optimizer_groups")))
    return state
