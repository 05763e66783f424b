"""epoll for a context's descriptors, with Linux's semantics.

Each watched descriptor has an entry.  A descriptor whose readiness may
have changed (the engine reported data, space, a FIN, a reset; a listener
got a connection; a pipe was written) *notifies* its entries, which puts
them on the epoll's ready list.  ``wait`` then asks each listed descriptor
for its current mask (``poll_mask``), so nothing stale is reported:

- level-triggered entries that are still ready stay listed (EPOLLOUT on a
  writable socket is reported at every wait: never forgotten);
- edge-triggered (EPOLLET) entries are reported once per notification;
- EPOLLONESHOT entries are disabled after one report until EPOLL_CTL_MOD;
- EPOLLERR and EPOLLHUP are reported whether asked for or not; EPOLLRDHUP
  when the peer's FIN arrived (if asked); EPOLLIN only for in-order data
  (out-of-order segments never make a socket readable).
"""
import collections
import errno
import time

from . import constants as C
from .errors import error
from .sockets import Descriptor


class Entry:
    __slots__ = ("epoll", "target", "events", "data", "enabled", "listed")

    def __init__(self, epoll, target, events, data):
        self.epoll = epoll
        self.target = target
        self.events = events
        self.data = data
        self.enabled = True
        self.listed = False

    def notify(self):
        if self.enabled and not self.listed:
            self.listed = True
            self.epoll.ready.append(self)


class Epoll(Descriptor):
    kind = C.MTCP_SOCK_EPOLL

    def __init__(self, ctx):
        super().__init__(ctx)
        self.entries = {}             # fd -> Entry
        self.ready = collections.deque()

    def __repr__(self):
        return "<Epoll %d watching %d>" % (self.fd, len(self.entries))

    def poll_mask(self):
        return C.MTCP_EPOLLIN if self.ready else 0

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
            entry = Entry(self, target, int(events), fd if data is None else data)
            self.entries[fd] = entry
            target.watchers.append(entry)
            entry.notify()            # may be ready already
        elif op == C.MTCP_EPOLL_CTL_MOD:
            entry = self.entries.get(fd)
            if entry is None:
                raise error(errno.ENOENT, "descriptor %d is not registered" % fd)
            entry.events = int(events)
            if data is not None:
                entry.data = data
            entry.enabled = True      # re-arms EPOLLONESHOT
            entry.notify()
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
        self.ready.clear()
        super().close()

    def forget(self, entry):
        """Drop an entry (EPOLL_CTL_DEL, or its descriptor was closed)."""
        if self.entries.get(entry.target.fd) is entry:
            del self.entries[entry.target.fd]
        try:
            entry.target.watchers.remove(entry)
        except ValueError:
            pass
        entry.enabled = False         # a listed entry is skipped by collect

    def collect(self, maxevents):
        """Ready (events, data) pairs, at most maxevents, without waiting."""
        out = []
        again = []
        ready = self.ready
        for _ in range(len(ready)):
            if len(out) >= maxevents:
                break
            entry = ready.popleft()
            entry.listed = False
            if not entry.enabled:
                continue
            mask = entry.target.poll_mask() & (entry.events | C.EPOLL_ALWAYS)
            if not mask:
                continue              # consumed since the notification: wait for the next
            out.append((mask, entry.data))
            if entry.events & C.MTCP_EPOLLONESHOT:
                entry.enabled = False
            elif not entry.events & C.MTCP_EPOLLET:
                again.append(entry)   # level-triggered: check again next time
        for entry in again:
            entry.notify()
        return out

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
