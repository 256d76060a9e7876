"""`medsearch classify IMAGE... --label L --label L2`: zero-shot classification of your own images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medsearch.commands.options import DeviceOpt, JsonOpt, ModelOpt
from medsearch.errors import NothingClassified


def classify_command(
    images: Annotated[list[Path], typer.Argument(help="Image files: PNG, JPEG or DICOM.")],
    label: Annotated[list[str], typer.Option("--label", "-l", help="A class, in words (repeat: at least two).")],
    json_output: JsonOpt = False,
    temperature: Annotated[Optional[float], typer.Option(help="Softmax temperature (default: the documented one, or --calibration's).")] = None,
    calibration: Annotated[Optional[Path], typer.Option(help="A `medsearch bench zeroshot` JSON: use its fitted temperature.")] = None,
    min_probability: Annotated[Optional[float], typer.Option(min=0, max=1, help="Flag for review below this top probability.")] = None,
    min_margin: Annotated[Optional[float], typer.Option(min=0, max=1, help="Flag for review below this margin between the top two.")] = None,
    templates: Annotated[str, typer.Option(help="Prompt template set (medsearch.prompts).")] = "clinical",
    no_expand: Annotated[bool, typer.Option("--no-expand", help="Do not expand abbreviations in the labels.")] = False,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Zero-shot classification of images against the labels you give: the most likely label, its probability,
    and whether it needs review (low top probability or a close second). A file that cannot be read is
    reported on its own line and the others are still classified; the exit code is non-zero (4) only when
    no file could be classified."""
    from medsearch.classifier import BATCH_SIZE, Classifier
    from medsearch.progress import progress_display

    clf = Classifier(label, model=model, device=device, template_set=templates, expand=not no_expand,
                     temperature=temperature, calibration=calibration, min_probability=min_probability,
                     min_margin=min_margin)
    # more than one batch of files: a bar on a terminal (erased when done), log lines every 10 s otherwise
    with progress_display(len(images) > BATCH_SIZE, transient=True) as bar:
        task = bar.add_task("classifying", total=len(images))
        results = clf.classify(images, progress=lambda done: bar.update(task, completed=done))
    if json_output:
        from medsearch.commands import json_output as output

        output.print_json({**clf.settings(), "results": [r.to_dict() for r in results]})
    else:
        _print_table(results, clf)
    failed = [r for r in results if r.error]
    if failed and len(failed) == len(results):
        raise NothingClassified(f"none of the {len(results)} file(s) could be classified",
                                hint="give PNG, JPEG or DICOM files (each file's reason is listed above)")


def _print_table(results, clf) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    names = [Path(r.source).name for r in results]
    if len(set(names)) < len(names):  # same file name in two folders: show the paths as given
        names = [r.source for r in results]
    table = Table("file", "label", "probability", "margin", "review", "runner-up")
    for r, name in zip(results, names):
        if r.error:
            table.add_row(escape(name), "[red]error[/red]", "-", "-", "-", "(see below)")
            continue
        runner_up = list(r.probabilities.items())[1] if len(r.probabilities) > 1 else None
        table.add_row(escape(name), escape(r.label), f"{r.probability:.3f}", f"{r.margin:.3f}",
                      "[yellow]needs review[/yellow]" if r.needs_review else "ok",
                      f"{escape(runner_up[0])} {runner_up[1]:.3f}" if runner_up else "-")
    console.print(table)
    thresholds = [f"{name} {value:g}" for name, value in (("probability", clf.min_probability),
                                                          ("margin", clf.min_margin)) if value > 0]
    review = f"review below {' or '.join(thresholds)}" if thresholds else "review never flagged (both thresholds 0)"
    console.print(f"model {clf.encoder.model_id}, temperature {clf.temperature:g} ({clf.temperature_source}), {review}")
    for r in results:  # one whole line per bad file, on stderr, like every other error
        if r.error:
            typer.echo(f"error: {r.source}: {r.error}", err=True)
