"""The JSON a command prints with --json: one printer for every command, so they share one format (indented,
dates and paths as strings). Commands call it through this module (``json_output.print_json(...)``)."""

from __future__ import annotations

import json

import typer


def print_json(payload) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))
