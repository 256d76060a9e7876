"""The contrastive training loop, shared by the cached-feature path and the open_clip path.

A *model* is an nn.Module whose ``forward(batch)`` returns (image, text) normalised embeddings and whose
``scale()`` is the logit scale; a *data* object turns row numbers into that batch (``batch(rows)``) and gives
their label sets (``labels(rows)``) for soft positives. Checkpoints are written every epoch; the best one by
mean val recall is kept; ``resume`` continues from the last finished epoch with the same shuffles.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from medsearch.progress import progress_display
from medsearch.train import checkpoint
from medsearch.train.loss import clip_loss, soft_targets
from medsearch.train.metrics import mean_recall, paired_recall
from medsearch.train.queue import MomentumQueue
from medsearch.train.schedule import warmup_cosine


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    tower_lr: float = 1e-4  # for unfrozen tower blocks
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    seed: int = 0
    soft_weight: float = 0.0  # weight of soft positives between captions sharing UMLS concepts
    queue_size: int = 0  # momentum-queue negatives; 0 turns the queue off
    momentum: float = 0.995
    eval_batch: int = 256


@dataclass
class TrainResult:
    best_epoch: int
    best_val: dict
    history: list[dict] = field(default_factory=list)
    best_path: Path | None = None


def _param_groups(model, cfg: TrainConfig):
    tower, heads = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            # unfrozen blocks of the default's towers get tower_lr; a fine-tuned open_clip model is trained at lr
            (tower if name.startswith(("image_top", "text_top")) else heads).append(p)
    groups = [{"params": heads, "lr": cfg.lr}]
    if tower:
        groups.append({"params": tower, "lr": cfg.tower_lr})
    return groups


@torch.no_grad()
def embed_rows(model, data, rows: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    images, texts = [], []
    for s in range(0, len(rows), batch):
        i, t = model(data.batch(rows[s : s + batch]))
        images.append(i.float().cpu().numpy())
        texts.append(t.float().cpu().numpy())
    return np.concatenate(images), np.concatenate(texts)


def evaluate(model, data, rows: np.ndarray, batch: int = 256) -> dict:
    image, text = embed_rows(model, data, rows, batch)
    return paired_recall(image, text)


def train(
    model, data, train_rows, val_rows, cfg: TrainConfig, out_dir: Path, resume=False, progress=True, stop_after: int | None = None
) -> TrainResult:
    """``stop_after``: end after this many epochs in total (the schedule still spans ``cfg.epochs``)."""
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), weight_decay=cfg.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    steps_per_epoch = max(1, len(train_rows) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_fraction * total)
    queue = MomentumQueue(model, cfg.queue_size, model.config["dim"], cfg.momentum) if cfg.queue_size else None

    state = {"epoch": 0, "step": 0, "best_score": -1.0, "best_epoch": -1, "best_val": {}, "history": []}
    if resume and checkpoint.exists(out_dir):
        state.update(checkpoint.restore(out_dir, model, optimizer))
        if queue is not None:  # the key model restarts from the restored weights; the queue refills within an epoch
            queue = MomentumQueue(model, cfg.queue_size, model.config["dim"], cfg.momentum)
    state["config"] = {**asdict(cfg), "model": model.config}

    with progress_display(progress, unit="pairs") as bar:
        task = bar.add_task("training", total=cfg.epochs * len(train_rows), completed=state["epoch"] * len(train_rows))
        for epoch in range(state["epoch"], min(cfg.epochs, stop_after or cfg.epochs)):
            model.train()
            torch.manual_seed(cfg.seed + epoch)
            order = np.random.default_rng(cfg.seed + epoch).permutation(train_rows)
            losses = []
            for b in range(steps_per_epoch):
                rows = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                factor = warmup_cosine(state["step"], warmup, total)
                for g, lr in zip(optimizer.param_groups, base_lrs):
                    g["lr"] = lr * factor
                loss = _step(model, data, rows, cfg, queue)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if queue is not None:
                    queue.update_key_model(model)
                losses.append(loss.item())
                state["step"] += 1
                bar.update(task, advance=len(rows), description=f"epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses):.3f}")
            val = evaluate(model, data, val_rows, cfg.eval_batch)
            score = mean_recall(val)
            state["history"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val": val, "scale": float(model.scale().detach())})
            state["epoch"] = epoch + 1
            if score > state["best_score"]:
                state.update(best_score=score, best_epoch=epoch + 1, best_val=val)
            checkpoint.save(out_dir, model, optimizer, state)
            if state["best_epoch"] == epoch + 1:
                shutil.copyfile(out_dir / checkpoint.MODEL_FILE, out_dir / checkpoint.BEST_FILE)
            bar.log(
                f"epoch {epoch + 1}: loss {np.mean(losses):.3f}  val R@1/5/10 i→t "
                f"{val['i2t@1']:.1f}/{val['i2t@5']:.1f}/{val['i2t@10']:.1f}  t→i "
                f"{val['t2i@1']:.1f}/{val['t2i@5']:.1f}/{val['t2i@10']:.1f}  (pool {val['pool']})"
            )
    return TrainResult(state["best_epoch"], state["best_val"], state["history"], out_dir / checkpoint.BEST_FILE)


def _step(model, data, rows, cfg: TrainConfig, queue: MomentumQueue | None) -> torch.Tensor:
    image, text = model(data.batch(rows))
    targets = soft_targets(data.labels(rows), cfg.soft_weight)
    q_image = q_text = None
    if queue is not None:
        q_image, q_text = queue.negatives(image.device)
        with torch.no_grad():
            queue.key_model.train()
            k_image, k_text = queue.key_model(data.batch(rows))
    loss = clip_loss(image, text, model.scale(), targets, q_image, q_text)
    if queue is not None:
        queue.push(k_image, k_text)
    return loss

