"""The periodic work of a batch loop (the engine's, the monitor's):
steering checks, the control channel, the metrics copy.  Tasks run between
batches, never per frame; the loop checks one deadline per batch."""


class Housekeeping:
    """task(now_ns) -> when it wants to run next (monotonic ns), or None
    for "in period_ns"; due is the earliest of them."""

    def __init__(self, period_ns):
        self.period_ns = period_ns
        self.tasks = []
        self.due = 0

    def add(self, task):
        self.tasks.append(task)
        self.due = 0                  # run it at the next batch

    def run(self, now_ns):
        due = now_ns + self.period_ns
        for task in self.tasks:
            when = task(now_ns)
            if when is not None and when < due:
                due = when
        self.due = due
