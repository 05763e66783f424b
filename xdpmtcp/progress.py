"""Progress bars for long runs, shown only where a person watches them: on
a terminal (stderr, so stdout stays the result), never with --json or
when stderr is a pipe or a file.  The bar disappears when the run ends."""
import contextlib
import sys


class _Silent:
    def advance(self, amount=1):
        pass

    def update(self, completed):
        pass


class _Bar:
    def __init__(self, progress, task):
        self._progress = progress
        self._task = task

    def advance(self, amount=1):
        self._progress.advance(self._task, amount)

    def update(self, completed):
        self._progress.update(self._task, completed=completed)


def wanted(json_output=False, stream=None):
    """Whether to show one: a terminal, and no machine-readable output."""
    stream = stream or sys.stderr
    return not json_output and stream.isatty()


@contextlib.contextmanager
def progress_bar(description, total=None, *, json_output=False, stream=None):
    """A bar with advance(n) and update(completed); total None: a spinner
    with the time elapsed.  Safe to advance from several threads."""
    stream = stream or sys.stderr
    if not wanted(json_output, stream):
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    columns = ([SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
               if total is None else
               [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn()])
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))


def track(items, description, *, json_output=False):
    """items, one by one, with a bar advanced after each (a loop's runs)."""
    items = list(items)
    with progress_bar(description, len(items), json_output=json_output) as bar:
        for item in items:
            yield item
            bar.advance()
