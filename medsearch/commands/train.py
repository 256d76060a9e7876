"""`medsearch train`: contrastive training of the default model's heads, or fine-tuning of an open_clip model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def train_command(
    manifest: Annotated[str, typer.Option("--manifest", help="Archive manifest name or .toml path, e.g. roco.")],
    root: Annotated[Path, typer.Option("--root", help="Archive root directory.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory: checkpoints, metrics.json, exported weights.")],
    model: Annotated[str, typer.Option("--model", help="medsearch-default, biomedclip, hf-hub:..., local-dir:..., open_clip:ARCH@CKPT.")] = "medsearch-default",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per step (in-batch negatives).")] = 128,
    lr: Annotated[float, typer.Option(min=0, help="Peak learning rate (AdamW) of the heads, or of the whole model when fine-tuning open_clip.")] = 1e-3,
    tower_lr: Annotated[float, typer.Option(min=0, help="Peak learning rate of unfrozen tower blocks.")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(min=0, help="AdamW weight decay.")] = 0.05,
    warmup: Annotated[float, typer.Option(min=0, max=1, help="Warm-up as a fraction of all steps, then cosine decay.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and shuffling.")] = 0,
    dim: Annotated[int, typer.Option(min=1, help="Embedding size of the shared space.")] = 256,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden width of the projection heads.")] = 512,
    dropout: Annotated[float, typer.Option(min=0, max=1, help="Dropout inside the heads.")] = 0.1,
    feature_noise: Annotated[float, typer.Option(min=0, help="Gaussian noise on tower features (x feature std) while training.")] = 0.1,
    unfreeze_image: Annotated[int, typer.Option(min=0, max=3, help="Fine-tune the last N EfficientNet stages.")] = 0,
    unfreeze_text: Annotated[int, typer.Option(min=0, max=6, help="Fine-tune the last N MiniLM layers.")] = 0,
    soft_positives: Annotated[float, typer.Option(min=0, help="Weight of soft positives between captions sharing UMLS concepts (0: off).")] = 0.0,
    queue: Annotated[int, typer.Option(min=0, help="Momentum-queue size (MoCo-style extra negatives; 0: off).")] = 0,
    momentum: Annotated[float, typer.Option(min=0, max=1, help="EMA momentum of the queue's key model.")] = 0.995,
    licence: Annotated[Optional[list[str]], typer.Option("--licence", help="Train only on rows with this licence (repeatable).")] = None,
    redistributable: Annotated[bool, typer.Option("--redistributable", help="Train only on CC BY and CC0 rows (for shipped weights).")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where frozen-tower features are cached (default ~/.cache/medsearch/features).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run directory's last checkpoint.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (open_clip fine-tuning).")] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train on an archive's train split, pick the best epoch on val, report recall@1/5/10 on test."""
    from medsearch.train.loop import TrainConfig
    from medsearch.archives.licences import REDISTRIBUTABLE
    from medsearch.train.run import TrainRequest, run

    licences = tuple(licence) if licence else (REDISTRIBUTABLE if redistributable else None)
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, tower_lr=tower_lr, weight_decay=weight_decay,
        warmup_fraction=warmup, seed=seed, soft_weight=soft_positives, queue_size=queue, momentum=momentum,
    )
    request = TrainRequest(
        manifest=manifest, root=str(root), out=out, model=model, licences=licences,
        unfreeze_image=unfreeze_image, unfreeze_text=unfreeze_text, dim=dim, hidden=hidden, dropout=dropout,
        feature_noise=feature_noise, cache_dir=cache_dir, resume=resume, progress=not quiet, device=device,
        config=config,
    )
    from medsearch.train import checkpoint

    if resume and not checkpoint.exists(out):
        typer.echo(f"nothing to resume in {out} (no checkpoint there): training from the first epoch", err=True)
    metrics = run(request)
    test = metrics["test"]
    if test:
        typer.echo(
            f"test (pool {test['pool']}, chance R@1 {test['chance@1']:.2f}%): "
            f"i→t R@1/5/10 {test['i2t@1']:.1f}/{test['i2t@5']:.1f}/{test['i2t@10']:.1f}  "
            f"t→i {test['t2i@1']:.1f}/{test['t2i@5']:.1f}/{test['t2i@10']:.1f}"
        )
    typer.echo(f"best epoch {metrics['best_epoch']}; metrics and weights in {out}")
    if metrics.get("model_dir"):
        typer.echo(f"fine-tuned model: index or query it with --model local-dir:{metrics['model_dir']}")
