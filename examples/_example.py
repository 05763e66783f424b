"""What the example programs share: running from a checkout, stopping on
SIGINT/SIGTERM, an optional network namespace, and one context per core
as far as the interface allows: one core runs here, several run in a
worker process each (xdpmtcp.api.supervisor), as mTCP runs a thread per
core."""
import contextlib

import _bootstrap  # noqa: F401  (first: the clone on sys.path, its .venv)

from xdpmtcp.api import runtime  # noqa: E402
from xdpmtcp.api.supervisor import Supervisor, worker_ready as serving  # noqa: E402,F401
from xdpmtcp.osutil import StopFlag, say  # noqa: E402,F401
from xdpmtcp.mtcp_api import mtcp_getconf, mtcp_setconf  # noqa: E402


def in_netns(name):
    if not name:
        return contextlib.nullcontext()
    from xdpmtcp.lab.netns import in_netns as enter
    return enter(name)


note = say                    # "prog: text" on stderr, one line per write


def wanted_cores(prog, cores):
    """The cores to run: -N, else num_cores of the configuration, at most
    the RX queues of its interfaces (each core serves its own queue)."""
    from xdpmtcp.kernel.channels import rx_queue_count
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


def run_cores(prog, cores, work, tick=None, on_ready=None):
    """work(ctx, stop) on each core's context; their results in core
    order.  One core runs in this process, several in a worker process
    each; tick() runs here every 50 ms meanwhile (a progress bar);
    on_ready(cores) once every core called serving()."""
    n = wanted_cores(prog, cores)
    return Supervisor(n, prog=prog, tick=tick, on_ready=on_ready and (lambda: on_ready(n))).run(work)


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
