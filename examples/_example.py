"""What the example programs share: running from a checkout, stopping on
SIGINT/SIGTERM, an optional network namespace, and one context per core
as far as the interface allows."""
import contextlib
import os
import signal
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)        # run from a clone without installing



def _run_in_the_clones_venv():
    """`examples/epserver.py` runs /usr/bin/env python3, which lacks the
    venv's packages (pyroute2, ...): start again in the clone's .venv
    (tools/setup makes it), unless this already is that interpreter."""
    venv = os.path.join(ROOT, ".venv")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        os.execv(python, [python] + sys.argv)


try:
    from xdpmtcp.mtcp_api import mtcp_create_context, mtcp_getconf, mtcp_setconf  # noqa: E402
except ImportError:
    _run_in_the_clones_venv()
    raise


class StopFlag:
    """Set by SIGINT/SIGTERM: loops check it between epoll waits and end
    cleanly, so the contexts close and the XDP program is detached."""

    def __init__(self):
        self.event = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        self.event.set()

    def __bool__(self):
        return self.event.is_set()


def in_netns(name):
    if not name:
        return contextlib.nullcontext()
    from xdpmtcp.lab.netns import in_netns as enter
    return enter(name)


def note(prog, text):
    print("%s: %s" % (prog, text), file=sys.stderr, flush=True)


def create_contexts(prog, cores):
    """Contexts for cores 0..cores-1; a core the interface cannot give a
    queue to is reported and the program runs with fewer (veth: one)."""
    if cores:
        conf = mtcp_getconf()
        conf.num_cores = cores
        mtcp_setconf(conf)
    wanted = mtcp_getconf().num_cores
    contexts = [mtcp_create_context(0)]
    for core in range(1, wanted):
        try:
            contexts.append(mtcp_create_context(core))
        except OSError as e:
            note(prog, "core %d: %s; running %d core(s)" % (core, e.strerror, len(contexts)))
            break
    return contexts


def run_per_context(items, loop):
    """loop(item) for each per-context item (it has .ctx), each in its own
    thread but the first, which runs here."""
    threads = []
    for item in items[1:]:
        t = threading.Thread(target=lambda it=item: (it.ctx.adopt_current_thread(), loop(it)),
                             daemon=True)
        t.start()
        threads.append(t)
    results = [loop(items[0])]
    for t in threads:
        t.join()
    return results
