"""`medsearch models`: what can be named with --model (one block per model, readable at 80 columns)."""

from __future__ import annotations

import textwrap

import typer

PREFIXES = (
    ("hf-hub:ORG/NAME", "open_clip model already in the Hugging Face cache"),
    ("local-dir:PATH", "open_clip model saved in a local directory"),
    ("open_clip:ARCH@CKPT", "open_clip architecture with a checkpoint file"),
)


def model_blocks(specs, width: int) -> list[str]:
    """Each model as a name line (never cut) and its details wrapped to ``width``."""
    width = max(width, 40)
    lines = []
    for spec in specs:
        lines.append(f"{spec.name}  (dim {spec.dim or '?'})")
        for label, value in (("", spec.summary), ("preprocess: ", spec.preprocess), ("tokenizer:  ", spec.tokenizer)):
            if value:
                lines += textwrap.wrap(label + value, width, initial_indent="  ", subsequent_indent="    ")
        lines.append("")
    lines.append("Also accepted, for open_clip checkpoints you have on disk:")
    for name, what in PREFIXES:
        lines += textwrap.wrap(f"{name}  {what}", width, initial_indent="  ", subsequent_indent="    ")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command() -> None:
        """List the models that --model accepts (and the prefixes for open_clip checkpoints)."""
        import shutil

        from medsearch.models import list_models

        width = shutil.get_terminal_size((80, 24)).columns - 1
        typer.echo("\n".join(model_blocks(list_models(), width)))
