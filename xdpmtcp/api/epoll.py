"""epoll for a context's descriptors, with Linux's semantics.

The ready list lives in C (api_epoll.h).  An entry that watches a
connection is listed by C itself whenever the connection's readiness may
have changed (data, space, a FIN, a reset), and C computes its mask at
``wait``: a wait is one C call however many connections are ready.  Entries
of descriptors Python alone knows (pipes, fresh and listening sockets, a
connection already released) are listed when the descriptor wakes them,
and Python computes their mask.  Either way nothing stale is reported:

- level-triggered entries that are still ready stay listed (EPOLLOUT on a
  writable socket is reported at every wait: never forgotten);
- edge-triggered (EPOLLET) entries are reported once per notification;
- EPOLLONESHOT entries are disabled after one report until EPOLL_CTL_MOD;
- EPOLLERR and EPOLLHUP are reported whether asked for or not; EPOLLRDHUP
  when the peer's FIN arrived (if asked); EPOLLIN only for in-order data
  (out-of-order segments never make a socket readable).
"""
import errno
import time

from .._core import ffi, lib
from . import constants as C
from .errors import error
from .sockets import Descriptor


class Entry:
    """One watched descriptor: its C entry (``raw``) and what Python keeps
    (the target, the events asked for, the data returned)."""
    __slots__ = ("epoll", "target", "events", "data", "raw", "handle")

    def __init__(self, epoll, target, events, data, handle):
        self.epoll = epoll
        self.target = target
        self.events = events
        self.data = data
        self.handle = handle
        self.raw = lib.xc_epoll_add(epoll.raw, handle, events & 0xffffffff)
        if self.raw == ffi.NULL:
            raise error(errno.ENOMEM, "no memory for an epoll entry")

    def notify(self):
        lib.xc_epoll_notify(self.raw)

    def bind(self, tcb):
        """Let C watch a connection block (None: Python's mask again)."""
        lib.xc_epoll_bind(self.raw, ffi.NULL if tcb is None else tcb)


class Epoll(Descriptor):
    kind = C.MTCP_SOCK_EPOLL

    def __init__(self, ctx):
        super().__init__(ctx)
        self.raw = ffi.gc(lib.xc_epoll_new(), lib.xc_epoll_free)
        if self.raw == ffi.NULL:
            raise error(errno.ENOMEM, "no memory for an epoll")
        self.entries = {}             # fd -> Entry
        self.by_handle = []           # handle -> Entry (None: free slot)
        self._free_handles = []
        self._handles = self._masks = None
        self._room = 0

    def __repr__(self):
        return "<Epoll %d watching %d>" % (self.fd, len(self.entries))

    def poll_mask(self):
        return C.MTCP_EPOLLIN if lib.xc_epoll_listed(self.raw) else 0

    def ctl(self, op, fd, events=0, data=None):
        if self.closed:
            raise error(errno.EBADF, "epoll closed")
        target = self.ctx.table.get(fd)
        if target is self:
            raise error(errno.EINVAL, "an epoll cannot watch itself")
        if isinstance(target, Epoll):
            raise error(errno.EINVAL, "nesting epolls is not supported")
        if op == C.MTCP_EPOLL_CTL_ADD:
            if fd in self.entries:
                raise error(errno.EEXIST, "descriptor %d already registered" % fd)
            handle = self._free_handles.pop() if self._free_handles else len(self.by_handle)
            entry = Entry(self, target, int(events), fd if data is None else data, handle)
            if handle == len(self.by_handle):
                self.by_handle.append(entry)
            else:
                self.by_handle[handle] = entry
            self.entries[fd] = entry
            target.watchers.append(entry)
            target.watched(entry)     # a connected socket: C watches its block
        elif op == C.MTCP_EPOLL_CTL_MOD:
            entry = self.entries.get(fd)
            if entry is None:
                raise error(errno.ENOENT, "descriptor %d is not registered" % fd)
            entry.events = int(events)
            if data is not None:
                entry.data = data
            lib.xc_epoll_modify(entry.raw, entry.events & 0xffffffff)   # re-arms EPOLLONESHOT
        elif op == C.MTCP_EPOLL_CTL_DEL:
            entry = self.entries.get(fd)
            if entry is None:
                raise error(errno.ENOENT, "descriptor %d is not registered" % fd)
            self.forget(entry)
        else:
            raise error(errno.EINVAL, "op must be MTCP_EPOLL_CTL_ADD, _MOD or _DEL")

    def close(self):
        for entry in list(self.entries.values()):
            self.forget(entry)
        super().close()

    def forget(self, entry):
        """Drop an entry (EPOLL_CTL_DEL, or its descriptor was closed)."""
        if entry.raw is None:
            return
        if self.entries.get(entry.target.fd) is entry:
            del self.entries[entry.target.fd]
        try:
            entry.target.watchers.remove(entry)
        except ValueError:
            pass
        lib.xc_epoll_remove(entry.raw)
        entry.raw = None
        self.by_handle[entry.handle] = None
        self._free_handles.append(entry.handle)

    def collect(self, maxevents):
        """Ready (events, data) pairs, at most maxevents, without waiting."""
        if maxevents > self._room:
            self._room = max(maxevents, 64)
            self._handles = ffi.new("uint32_t[]", self._room)
            self._masks = ffi.new("uint32_t[]", self._room)
        handles, masks, by_handle = self._handles, self._masks, self.by_handle
        n = lib.xc_epoll_collect(self.raw, handles, masks, maxevents)
        out = []
        for k in range(n):
            entry = by_handle[handles[k]]
            mask = masks[k]
            if not mask:              # a descriptor C does not watch: ask it
                mask = self._python_mask(entry)
                if not mask:
                    continue
            out.append((mask, entry.data))
        return out

    @staticmethod
    def _python_mask(entry):
        mask = entry.target.poll_mask() & (entry.events | C.EPOLL_ALWAYS)
        if mask:
            if entry.events & C.MTCP_EPOLLONESHOT:
                lib.xc_epoll_disable(entry.raw)
            elif not entry.events & C.MTCP_EPOLLET:
                lib.xc_epoll_notify(entry.raw)   # level-triggered: check again next time
        return mask

    def wait(self, maxevents, timeout_ms):
        """Ready events; waits up to timeout_ms (-1: forever, 0: not at
        all), running the context's engines meanwhile."""
        if self.closed:
            raise error(errno.EBADF, "epoll closed")
        if maxevents <= 0:
            raise error(errno.EINVAL, "maxevents must be > 0")
        ctx = self.ctx
        step = ctx.tunables.poll_step_ms / 1000.0
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000.0
        ctx.poll(0)
        while True:
            out = self.collect(maxevents)
            if out:
                return out
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return []
            ctx.poll(step if deadline is None else min(step, deadline - now))
            if ctx.closed:
                raise error(errno.EBADF, "context destroyed")
