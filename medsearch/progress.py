"""Progress of a long run (indexing, bench embedding, training): a rich bar on a terminal, periodic log lines
everywhere else. Every progress display in medsearch comes from ``progress_display``.

When stderr is not a terminal (a log file, CI, ``nohup``, a pipe), a redrawn bar is noise: one line per task
every ``interval`` seconds (and when a task ends) says items done, the total, items/s and the time left::

    medsearch: embedding 1,024/4,414 items (23%), 15.2 items/s, ETA 3m43s

Both expose the part of rich's Progress the callers use: a context manager with add_task, advance, update
(total, completed, advance, description) and log (a line above the bar, or a line of the log).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

LOG_INTERVAL_S = 10.0


def progress_display(enabled: bool, stream=None, interval: float = LOG_INTERVAL_S, unit: str = "items",
                     transient: bool = False):
    """A rich bar when ``stream`` (stderr) is a terminal, else a LogProgress; a silent one when not enabled.
    ``unit`` names what is counted ("items", "pairs"); a ``transient`` bar is erased when it is done."""
    stream = stream if stream is not None else sys.stderr
    if enabled and not _is_terminal(stream):
        return LogProgress(stream, interval, unit=unit)
    return rich_bar(enabled, unit, transient)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False


def rich_bar(enabled: bool, unit: str = "items", transient: bool = False):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:,.1f} {unit}/s" if task.speed else f"- {unit}/s")

    return Progress(
        TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
        TextColumn("left"), TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled,
        transient=transient,
    )


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_logged: float = field(default_factory=time.monotonic)
    finished: bool = False
    resumed_from: float = 0.0  # done before this run (a resumed training): not counted in the rate


class LogProgress:
    """Periodic progress lines on a non-terminal stream (see the module docstring)."""

    def __init__(self, stream, interval: float = LOG_INTERVAL_S, clock=time.monotonic, unit: str = "items"):
        self.stream, self.interval, self.clock, self.unit = stream, interval, clock, unit
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc) -> None:
        for task in self.tasks.values():
            if not task.finished and task.completed > task.resumed_from:
                self._log(task)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **_) -> int:
        now = self.clock()
        task_id = len(self.tasks)
        self.tasks[task_id] = _Task(description, total, completed, started=now, last_logged=now,
                                    resumed_from=completed)
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None, **_) -> None:
        task = self.tasks[task_id]
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        self._maybe_log(task)

    def log(self, *objects) -> None:
        print(*objects, file=self.stream, flush=True)

    def _maybe_log(self, task: _Task) -> None:
        done = task.total is not None and task.completed >= task.total
        if done and not task.finished:
            task.finished = True
            self._log(task)
        elif not done and self.clock() - task.last_logged >= self.interval:
            self._log(task)

    def line(self, task: _Task) -> str:
        elapsed = max(self.clock() - task.started, 1e-9)
        rate = (task.completed - task.resumed_from) / elapsed
        unit = self.unit
        text = f"medsearch: {task.description} {int(task.completed):,}"
        if task.total:
            text += f"/{int(task.total):,} {unit} ({100 * task.completed / task.total:.0f}%)"
        else:
            text += f" {unit}"
        text += f", {rate:,.1f} {unit}/s"
        if task.total and task.completed < task.total and rate > 0:
            text += f", ETA {duration((task.total - task.completed) / rate)}"
        elif task.total and task.completed >= task.total:
            text += f", done in {duration(elapsed)}"
        return text

    def _log(self, task: _Task) -> None:
        task.last_logged = self.clock()
        print(self.line(task), file=self.stream, flush=True)
