"""The Pythonic face of the same objects: socket objects with the methods
of Python's ``socket.socket``, an epoll object like ``select.epoll``, pipe
ends, all context managers.

Like Python's sockets these start *blocking* (the mTCP dialect's start
non-blocking, as mtcp_socket.3 says).  ``settimeout(t)`` bounds each
blocking call and raises TimeoutError; with no timeout set, SO_RCVTIMEO
and SO_SNDTIMEO bound them and an expired wait raises BlockingIOError
(EAGAIN), as the OS would.
"""
import errno

from . import constants as C
from .errors import error
from .options import getsockopt, setsockopt


class _Handle:
    def __init__(self, ctx, obj):
        self.ctx = ctx
        self._obj = obj

    def fileno(self):
        """The descriptor in this context's table (-1 once closed)."""
        return -1 if self._obj.closed else self._obj.fd

    @property
    def closed(self):
        return self._obj.closed

    def _live(self):
        if self._obj.closed:
            raise error(errno.EBADF, "closed")
        return self._obj

    def setblocking(self, flag):
        self._obj.nonblocking = not flag
        self._obj.timeout_override = None

    def getblocking(self):
        return not self._obj.nonblocking

    def settimeout(self, value):
        if value is None:
            self.setblocking(True)
        elif value < 0:
            raise ValueError("Timeout value out of range")
        elif value == 0:
            self.setblocking(False)
        else:
            self._obj.nonblocking = False
            self._obj.timeout_override = float(value)

    def gettimeout(self):
        if self._obj.nonblocking:
            return 0.0
        return self._obj.timeout_override

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._obj.close()


class Socket(_Handle):
    """A TCP socket of a context: bind/listen/accept/connect/recv/send/close
    and the rest of Python's socket methods that make sense for TCP."""

    family = C.AF_INET
    type = C.SOCK_STREAM
    proto = 0

    @classmethod
    def _create(cls, ctx, family=C.AF_INET, type=C.SOCK_STREAM, proto=0):
        from .sockets import check_socket_args
        check_socket_args(family, type, proto)
        obj = ctx.new_socket()
        obj.nonblocking = False
        return cls(ctx, obj)

    def __repr__(self):
        return "<xdpmtcp Socket fd=%d %r>" % (self.fileno(), self._obj)

    # addresses and connections
    def bind(self, address):
        self._live().bind(address)

    def listen(self, backlog=128):
        self._live().listen(backlog)

    def accept(self):
        obj, addr = self._live().accept()
        obj.nonblocking = False           # as Python: accepted sockets start blocking
        return Socket(self.ctx, obj), addr

    def connect(self, address):
        self._live().connect(address)

    def connect_ex(self, address):
        try:
            self._live().connect(address)
        except OSError as e:
            return e.errno or errno.ETIMEDOUT
        return 0

    def getsockname(self):
        return self._live().getsockname()

    def getpeername(self):
        return self._live().getpeername()

    # data
    def recv(self, bufsize, flags=0):
        return self._live().recv(bufsize, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):
        view = memoryview(buffer).cast("B")
        data = self._live().recv(nbytes or len(view), flags)
        view[:len(data)] = data
        return len(data)

    def send(self, data, flags=0):
        if flags:
            raise error(errno.EINVAL, "send flags are not supported")
        return self._live().send(data)

    def sendall(self, data, flags=0):
        view = memoryview(data).cast("B")
        sent = 0
        while sent < len(view):
            sent += self.send(view[sent:], flags)

    def shutdown(self, how):
        self._live().shutdown(how)

    def detach_abort(self):
        """Close with a reset (mtcp_abort)."""
        self._obj.abort()

    # options
    def setsockopt(self, level, optname, value):
        setsockopt(self._live(), level, optname, value)

    def getsockopt(self, level, optname, buflen=None):
        return getsockopt(self._live(), level, optname, buflen)

    # extras for people who like to look inside
    @property
    def connection(self):
        """The engine's Connection (None before connect/accept)."""
        return self._obj.conn

    @property
    def debug_trace(self):
        """Records SO_DEBUG collected: (monotonic time, what, state)."""
        return list(self._obj.trace_log)


class EpollObject(_Handle):
    """select.epoll's methods over an mTCP epoll; poll() returns
    [(fd, events)] like select.epoll.poll."""

    def __repr__(self):
        return "<xdpmtcp Epoll fd=%d>" % self.fileno()

    @staticmethod
    def _fd(target):
        return target.fileno() if hasattr(target, "fileno") else target

    def register(self, target, eventmask=C.MTCP_EPOLLIN | C.MTCP_EPOLLPRI | C.MTCP_EPOLLOUT):
        self._live().ctl(C.MTCP_EPOLL_CTL_ADD, self._fd(target), eventmask)

    def modify(self, target, eventmask):
        self._live().ctl(C.MTCP_EPOLL_CTL_MOD, self._fd(target), eventmask)

    def unregister(self, target):
        self._live().ctl(C.MTCP_EPOLL_CTL_DEL, self._fd(target))

    def poll(self, timeout=None, maxevents=-1):
        ms = -1 if timeout is None or timeout < 0 else int(timeout * 1000)
        n = maxevents if maxevents and maxevents > 0 else max(1, len(self._obj.entries))
        return [(data, events) for events, data in self._live().wait(n, ms)]


class PipeObject(_Handle):
    """One end of an mtcp_pipe: read() on the reader, write() on the writer.
    Starts blocking, like os.pipe() ends."""

    def __init__(self, ctx, obj):
        super().__init__(ctx, obj)
        obj.nonblocking = False

    def read(self, n=65536):
        return self._live().recv(n)

    def write(self, data):
        return self._live().send(data)
