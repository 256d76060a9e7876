"""`medsearch models`: what can be named with --model."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command() -> None:
        """List the models that --model accepts (and the prefixes for open_clip checkpoints)."""
        from rich.console import Console
        from rich.table import Table

        from medsearch.models import list_models

        table = Table("name", "dim", "what", "preprocess", "tokenizer")
        for spec in list_models():
            table.add_row(spec.name, str(spec.dim or "?"), spec.summary, spec.preprocess, spec.tokenizer)
        table.add_row("hf-hub:ORG/NAME", "?", "open_clip model already in the Hugging Face cache", "", "")
        table.add_row("local-dir:PATH", "?", "open_clip model saved in a local directory", "", "")
        table.add_row("open_clip:ARCH@CKPT", "?", "open_clip architecture with a checkpoint file", "", "")
        Console().print(table)
