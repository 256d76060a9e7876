"""`medsearch models`: what can be named with --model (one block per model, readable at 80 columns);
`medsearch models prepare`: export a model's ONNX graphs into the cache now."""

from __future__ import annotations

import textwrap

import typer

from medsearch.commands.options import ModelOpt


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
    from medsearch.models.openclip_files import SOURCES

    lines.append("Also accepted, for open_clip checkpoints you have on disk:")
    for source in SOURCES:
        lines += textwrap.wrap(f"{source.form}  {source.summary}", width, initial_indent="  ",
                               subsequent_indent="    ")
    return lines


models_app = typer.Typer(help="List the models that --model accepts; `prepare` readies one for fast queries.",
                         no_args_is_help=False, add_completion=False)


@models_app.callback(invoke_without_command=True)
def models_command(ctx: typer.Context) -> None:
    """List the models that --model accepts (and the prefixes for open_clip checkpoints)."""
    if ctx.invoked_subcommand is not None:
        return
    import shutil

    from medsearch.models import list_models

    width = shutil.get_terminal_size((80, 24)).columns - 1
    typer.echo("\n".join(model_blocks(list_models(), width)))


@models_app.command("prepare")
def prepare_command(model: ModelOpt = None) -> None:
    """Export the model's ONNX graphs into the cache now, so the first query needs no torch.

    The first `medsearch index` does the same; this is for machines that query an index built elsewhere."""
    from medsearch.models import load_encoder

    encoder = load_encoder(model, device="cpu")
    paths = encoder.prepare() if hasattr(encoder, "prepare") else []
    for path in paths:
        typer.echo(f"ready: {path}")
    typer.echo(f"{encoder.model_id}: prepared")
