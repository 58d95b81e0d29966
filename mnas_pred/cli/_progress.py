"""Progress of long commands when the output is not a terminal.

rich's progress bar redraws one line in place; written to a log file or a pipe (``make demo >
log``, CI) it shows nothing until the command ends. :class:`PlainProgress` offers the part of
:class:`rich.progress.Progress` that the commands use (``add_task``, ``update``, ``console``) and
prints one flushed line per finished item instead: done/total, the item's result, elapsed time and
an ETA at the pace of the items done in this run. Items skipped because they were done before
(a resumed run) are summarized at most every ``quiet_s`` seconds.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import Progress


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class PlainProgress:
    """One plain line per finished item on ``console``, each flushed at once."""

    def __init__(self, console: Console, quiet_s: float = 10.0):
        self.console = console
        self.quiet_s = quiet_s
        self._tasks: dict[int, dict] = {}

    def add_task(self, description: str, total: int, **fields) -> int:
        task = len(self._tasks)
        self._tasks[task] = {"description": description, "total": total, "completed": 0, "start": time.monotonic(),
                             "worked": 0, "last_print": 0.0}
        return task

    def update(self, task: int, completed: int, last: str = "", **_fields) -> None:
        t = self._tasks[task]
        if completed <= t["completed"]:
            return
        t["completed"] = completed
        now = time.monotonic()
        elapsed = now - t["start"]
        skipped = last == "already measured"
        if not skipped:
            t["worked"] += 1
        # a run resuming 500 stored models prints a line every quiet_s, not 500 lines
        if skipped and completed < t["total"] and now - t["last_print"] < self.quiet_s:
            return
        t["last_print"] = now
        left = t["total"] - completed
        if left == 0:
            eta = "done"
        elif t["worked"]:
            eta = f"eta {duration(elapsed / t['worked'] * left)}"
        else:
            eta = "eta unknown"
        self.console.print(f"{t['description']} {completed}/{t['total']}: {last}; {duration(elapsed)} elapsed, {eta}",
                           markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_display(bar_console: Console, log_console: Console, columns, quiet: bool) -> Progress | PlainProgress:
    """rich's bar on ``bar_console`` (stderr) when it is a terminal; else plain lines on
    ``log_console`` (stdout: stderr stays for the one-line error a failed run ends with); nothing
    with ``quiet`` (--json)."""
    if quiet or bar_console.is_terminal:
        return Progress(*columns, console=bar_console, transient=quiet, disable=quiet)
    return PlainProgress(log_console)
