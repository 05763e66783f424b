"""Process-wide state of the mTCP dialect: the configuration mtcp_init read
and the contexts mtcp_create_context made (one per core)."""
import errno
import os
import threading

from .config import load_config
from .context import Context
from .errors import error


class Runtime:
    def __init__(self, config):
        self.config = config
        self.contexts = {}            # core -> Context
        self.lock = threading.Lock()  # contexts may be created from their own threads


_runtime = None


def init(path):
    global _runtime
    if _runtime is not None and any(not c.closed for c in _runtime.contexts.values()):
        raise error(errno.EBUSY, "mtcp_init: contexts exist; mtcp_destroy first")
    _runtime = Runtime(load_config(path))
    return 0


def current():
    if _runtime is None:
        raise error(errno.EINVAL, "call mtcp_init(config_path) first")
    return _runtime


def destroy():
    global _runtime
    rt, _runtime = _runtime, None
    if rt is not None:
        for ctx in list(rt.contexts.values()):
            ctx.close()


def create_context(core, **kwargs):
    rt = current()
    n = rt.config.num_cores
    if not isinstance(core, int) or not 0 <= core < n:
        raise error(errno.EINVAL, "core %r: num_cores is %d (cores 0..%d)" % (core, n, n - 1))
    with rt.lock:
        old = rt.contexts.get(core)
        if old is not None and not old.closed:
            raise error(errno.EEXIST, "core %d already has a context" % core)
        ctx = Context(config=rt.config, core=core, **kwargs)
        rt.contexts[core] = ctx
    return ctx


def core_affinitize(core):
    if not isinstance(core, int) or core < 0 or core >= (os.cpu_count() or 1):
        raise error(errno.EINVAL, "no CPU %r (this machine has %d)" % (core, os.cpu_count() or 1))
    os.sched_setaffinity(0, {core})
    return 0
