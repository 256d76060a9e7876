"""Issue 11: the options commands share are declared once (medsearch/commands/options.py), so every command that
takes --index also reads $MEDSEARCH_INDEX and every one that takes --db reads $MEDSEARCH_DB; cli.py registers an
explicit table of module-level commands and uses typer's public API only."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from medsearch.cli import COMMANDS, GROUPS, app

REPO = Path(__file__).resolve().parents[1]


def all_commands() -> list[list[str]]:
    commands = [[c.name] for c in app.registered_commands]
    for group in app.registered_groups:
        commands += [[group.name, c.name] for c in group.typer_instance.registered_commands]
    return commands


def test_every_index_and_db_option_reads_its_environment_variable():
    seen = {"--index": [], "--db": []}
    for command in all_commands():
        help_text = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"}).output
        for flag, env in (("--index", "MEDSEARCH_INDEX"), ("--db", "MEDSEARCH_DB")):
            line = next((line for line in help_text.splitlines() if re.search(rf"{flag}\b(?!-)", line)), None)
            if line is not None:
                assert env in help_text, (command, flag)
                seen[flag].append(command[-1])
    assert {"query", "info", "draft", "ls", "delete", "compact", "verify", "serve", "index", "phrasing",
            "search"} <= set(seen["--index"]) & set(seen["--db"])


def test_the_index_environment_variable_names_the_index(tiny_index):
    result = CliRunner().invoke(app, ["info", "--json"], env={"MEDSEARCH_INDEX": str(tiny_index[0])})
    assert result.exit_code == 0, result.output
    assert '"fake-32"' in result.stdout


def test_commands_are_an_explicit_table_of_module_level_functions():
    assert [c.name for c in app.registered_commands] == list(COMMANDS)
    assert [g.name for g in app.registered_groups] == list(GROUPS)
    for name, command in COMMANDS.items():
        assert command.__module__ == f"medsearch.commands.{name}" and "<locals>" not in command.__qualname__
    source = (REPO / "medsearch" / "cli.py").read_text()
    assert "_click" not in source and "importlib" not in source


def test_the_item_filter_options_become_filters_in_one_place():
    # ls, delete and query each built Filters(modality=..., labels=list(label or []), ...) from the same
    # options, and draft a fourth time
    from medsearch.commands.options import item_filters
    from medsearch.store.filters import Filters

    assert item_filters(modality="CT", label=["pneumothorax"], split="test", licence="CC BY*") == Filters(
        modality="CT", labels=["pneumothorax"], split="test", licence="CC BY*")
    assert item_filters().is_empty() and item_filters().labels == []
    for command in (REPO / "medsearch" / "commands").glob("*.py"):
        if command.name != "options.py":
            assert "Filters(" not in command.read_text(), command.name
