"""What the example programs share: running from a checkout, stopping on
SIGINT/SIGTERM, an optional network namespace, and one context per core
as far as the interface allows."""
import contextlib
import signal
import sys
import threading

import _bootstrap  # noqa: F401  (first: the clone on sys.path, its .venv)

from xdpmtcp.mtcp_api import mtcp_create_context, mtcp_getconf, mtcp_setconf  # noqa: E402


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
