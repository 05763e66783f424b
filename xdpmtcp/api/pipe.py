"""mtcp_pipe: a byte pipe between two descriptors of one context, which
epoll can watch.  Writes may come from another thread (the usual way to
wake an mTCP event loop): the buffer is locked, and the context is woken
through its eventfd so a waiting epoll_wait returns promptly."""
import errno
import threading

from . import constants as C
from .errors import error
from .sockets import Descriptor, scatter


class PipeBuffer:
    def __init__(self, cap):
        self.cap = cap
        self.data = bytearray()
        self.lock = threading.Lock()
        self.reader = None
        self.writer = None


class PipeEnd(Descriptor):
    kind = C.MTCP_SOCK_PIPE

    def __init__(self, ctx, buf, is_reader):
        super().__init__(ctx)
        self.buf = buf
        self.is_reader = is_reader

    def __repr__(self):
        return "<Pipe %s end %d, %d bytes>" % ("read" if self.is_reader else "write", self.fd,
                                              len(self.buf.data))

    @property
    def other(self):
        return self.buf.writer if self.is_reader else self.buf.reader

    def poll_mask(self):
        b = self.buf
        other = self.other
        if self.is_reader:
            m = C.MTCP_EPOLLIN | C.MTCP_EPOLLRDNORM if b.data else 0
            if other is None or other.closed:
                m |= C.MTCP_EPOLLHUP
            return m
        if other is None or other.closed:
            return C.MTCP_EPOLLERR | C.MTCP_EPOLLOUT      # as Linux: a write would fail (EPIPE)
        return C.MTCP_EPOLLOUT | C.MTCP_EPOLLWRNORM if len(b.data) < b.cap else 0

    def _wake_other(self):
        other = self.other
        if other is not None and not other.closed:
            self.ctx.wake_from_any_thread(other)

    def readable(self):
        return len(self.buf.data)

    def recv(self, n, flags=0):
        if self.closed:
            raise error(errno.EBADF, "pipe closed")
        if not self.is_reader:
            raise error(errno.EBADF, "the write end of a pipe cannot be read")
        if flags & ~C.MSG_PEEK:
            raise error(errno.EINVAL, "flags may be 0 or MSG_PEEK")
        if n < 0:
            raise error(errno.EINVAL, "negative length")
        b = self.buf

        def ready():
            return b.data or self.other is None or self.other.closed
        if not self._block(ready, self._timeout(0)):
            if self.nonblocking:
                raise error(errno.EAGAIN, "pipe empty")
            raise self._timed_out("pipe read")
        with b.lock:
            out = bytes(b.data[:n])
            if not flags & C.MSG_PEEK:
                del b.data[:n]
        if out and not flags & C.MSG_PEEK:
            self._wake_other()        # room for the writer
        return out

    def recv_into(self, buffers):
        views = [memoryview(v).cast("B") for v in buffers]
        return scatter(self.recv(sum(len(v) for v in views)), views)

    def send(self, data):
        if self.closed:
            raise error(errno.EBADF, "pipe closed")
        if self.is_reader:
            raise error(errno.EBADF, "the read end of a pipe cannot be written")
        view = memoryview(data).cast("B")
        b = self.buf
        total = 0
        while True:
            if self.other is None or self.other.closed:
                raise error(errno.EPIPE, "read end closed")
            with b.lock:
                k = min(len(view) - total, b.cap - len(b.data))
                b.data += view[total:total + k]
            total += k
            if k:
                self._wake_other()
            if total == len(view) or self.nonblocking:
                break
            if not self._block(lambda: len(b.data) < b.cap or self.other.closed, self._timeout(0)):
                break
        if not total and len(view):
            if self.nonblocking:
                raise error(errno.EAGAIN, "pipe full")
            raise self._timed_out("pipe write")
        return total

    def send_vectors(self, buffers):
        return self.send(b"".join(bytes(v) for v in buffers))

    def close(self):
        if self.closed:
            return
        super().close()
        self._wake_other()            # EOF for the reader, EPIPE for the writer
