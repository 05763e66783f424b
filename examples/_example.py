"""What the example programs share: running from a checkout, stopping on
SIGINT/SIGTERM, an optional network namespace, and one context per core
as far as the interface allows: one core runs here, several run in a
worker process each (xdpmtcp.api.supervisor), as mTCP runs a thread per
core."""
import contextlib
import sys

import _bootstrap  # noqa: F401  (first: the clone on sys.path, its .venv)

from xdpmtcp.api import runtime  # noqa: E402
from xdpmtcp.api.supervisor import StopFlag as _StopFlag, Supervisor, worker_ready  # noqa: E402
from xdpmtcp.mtcp_api import mtcp_create_context, mtcp_getconf, mtcp_setconf  # noqa: E402


class StopFlag(_StopFlag):
    """Set by SIGINT/SIGTERM: loops check it between epoll waits and end
    cleanly, so the contexts close and the XDP program is detached."""

    def __init__(self):
        super().__init__()
        self.install()


def in_netns(name):
    if not name:
        return contextlib.nullcontext()
    from xdpmtcp.lab.netns import in_netns as enter
    return enter(name)


def note(prog, text):
    # one write per line: the workers of several cores share this stderr
    sys.stderr.write("%s: %s\n" % (prog, text))
    sys.stderr.flush()


def wanted_cores(prog, cores):
    """The cores to run: -N, else num_cores of the configuration, at most
    the RX queues of its interfaces (each core serves its own queue)."""
    from xdpmtcp.api.context import rx_queue_count
    conf = mtcp_getconf()
    wanted = cores or conf.num_cores
    for ifname in runtime.current().config.ports:
        queues = rx_queue_count(ifname)
        if wanted > queues:
            note(prog, "core %d: %s has %d receive queue%s; running %d core(s)"
                 % (queues, ifname, queues, "" if queues == 1 else "s", queues))
            wanted = queues
    conf.num_cores = wanted
    mtcp_setconf(conf)
    return wanted


_on_ready_here = None      # one core: what serving() calls


def run_cores(prog, cores, work, tick=None, on_ready=None):
    """work(ctx, stop) on each core's context; their results in core
    order.  One core runs in this process, several in a worker process
    each; tick() runs here every 50 ms meanwhile (a progress bar);
    on_ready(cores) once every core called serving()."""
    global _on_ready_here
    n = wanted_cores(prog, cores)
    if n == 1:
        ctx = mtcp_create_context(0)
        for text in ctx.notes:
            note(prog, text)
        _on_ready_here = (lambda: on_ready(1)) if on_ready else None
        return [work(ctx, StopFlag())]
    return Supervisor(n, prog=prog, tick=tick, on_ready=on_ready and (lambda: on_ready(n))).run(work)


def serving():
    """The calling core serves now (its listeners are up)."""
    if _on_ready_here is not None:
        _on_ready_here()
    else:
        worker_ready()


class CoreProgress:
    """A progress bar that worker processes advance: one counter per core
    in memory they share with this process, which shows the sum."""

    def __init__(self, bar, cores):
        import multiprocessing
        self.bar = bar
        self.counts = multiprocessing.RawArray("q", max(1, cores))

    def for_core(self, core):
        counts = self.counts

        class Advance:
            def advance(self, amount=1):
                counts[core] += amount
        return Advance()

    def show(self):
        self.bar.update(sum(self.counts))
