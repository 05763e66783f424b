"""The mTCP dialect: flat functions with mTCP's names, arguments in mTCP's
order minus the C out-pointers, mTCP's constants, and errors raised as
``OSError`` with the errno the reference pages name.

    from xdpmtcp.mtcp_api import *
    mtcp_init("epserver.conf")
    mctx = mtcp_create_context(0)
    s = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)      # non-blocking (mtcp_socket.3)
    mtcp_bind(mctx, s, ("0.0.0.0", 80))
    mtcp_listen(mctx, s, 4096)
    ep = mtcp_epoll_create1(mctx, 0)
    mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLIN)
    for events, sockid in mtcp_epoll_wait(mctx, ep, 1024, -1): ...

Every call checks its context first (EACCES: not a live context, as
mos_getsockopt.3 says), then the descriptor (EBADF: not open in this
context; ENOTSOCK: an epoll or pipe where a socket is needed).
See docs/api.md for each function's status and the differences from mTCP.
"""
import errno
import signal

from .api import constants as _C
from .api import options as _options
from .api import runtime as _runtime
from .api.constants import *  # noqa: F401,F403  (the dialect's constants)
from .api.context import Context
from .api.epoll import Epoll as _Epoll
from .api.errors import error as _error
from .api.pipe import PipeEnd as _PipeEnd
from .api.sockets import TcpSocket as _TcpSocket
from .api.sockets import check_socket_args as _check_socket_args
from .api.structs import linger, mtcp_conf, tcp_info, timeval  # noqa: F401


# --- argument checks shared by every call -----------------------------------------------

def _ctx(mctx):
    if not isinstance(mctx, Context) or mctx.closed:
        raise _error(errno.EACCES, "%r is not a live mTCP context" % (mctx,))
    return mctx


def _desc(mctx, sockid):
    return _ctx(mctx).table.get(sockid)


def _sock(mctx, sockid):
    obj = _desc(mctx, sockid)
    if not isinstance(obj, _TcpSocket):
        raise _error(errno.ENOTSOCK, "descriptor %d is %s, not a socket" % (sockid, obj.kind.name))
    return obj


def _stream_or_pipe(mctx, sockid):
    if type(mctx) is Context and type(sockid) is int and not mctx.closed:
        obj = mctx.table.items.get(sockid)    # the per-call common case, checked at once
        if type(obj) is _TcpSocket:
            return obj
    obj = _desc(mctx, sockid)
    if not isinstance(obj, (_TcpSocket, _PipeEnd)):
        raise _error(errno.ENOTSOCK, "descriptor %d is %s: cannot read or write it" % (sockid, obj.kind.name))
    return obj


def _epoll(mctx, epid):
    obj = _desc(mctx, epid)
    if not isinstance(obj, _Epoll):
        raise _error(errno.EINVAL, "descriptor %d is not an epoll" % epid)
    return obj


# --- process and contexts --------------------------------------------------------------------

def mtcp_init(config_file):
    """Read an mtcp.conf-style file (raises ConfigError naming the line)."""
    return _runtime.init(config_file)


def mtcp_destroy():
    """Destroy every context and forget the configuration."""
    _runtime.destroy()


def mtcp_getconf():
    """The configuration as a struct mtcp_conf."""
    return _runtime.current().config.as_mtcp_conf()


def mtcp_setconf(conf):
    """Change num_cores, max_concurrency, buffers and timers for contexts
    created from now on."""
    if not isinstance(conf, mtcp_conf):
        raise _error(errno.EINVAL, "mtcp_setconf takes an mtcp_conf")
    _runtime.current().config.update_from_mtcp_conf(conf)
    return 0


def mtcp_core_affinitize(cpu):
    """Pin the calling thread to one CPU."""
    return _runtime.core_affinitize(cpu)


def mtcp_create_context(cpu):
    """The context of core cpu: queue cpu of every configured port."""
    return _runtime.create_context(cpu)


def mtcp_destroy_context(mctx):
    _ctx(mctx).close()


def mtcp_register_signal(signum, handler):
    """Install a signal handler; returns the previous one."""
    return signal.signal(signum, handler)


def mtcp_init_rss(mctx, saddr_base, num_addr, daddr=None, dport=None):
    """Source addresses for this context's active opens: num_addr addresses
    from saddr_base (a dotted string, or an in_addr_t in network byte order
    as C has it; INADDR_ANY: the interface's address).  Each must be an
    address of the context's interfaces (EADDRNOTAVAIL).  daddr/dport are
    accepted: with one receive queue every source port maps to this
    context, so no port has to be picked for the NIC's RSS hash."""
    import ipaddress
    import socket as _s
    import struct as _st
    ctx = _ctx(mctx)
    if isinstance(saddr_base, int):
        saddr_base = _s.inet_ntoa(_st.pack("=I", saddr_base))
    if not isinstance(num_addr, int) or num_addr < 1:
        raise _error(errno.EINVAL, "num_addr must be >= 1")
    try:
        base = ipaddress.IPv4Address(saddr_base)
    except ValueError:
        raise _error(errno.EINVAL, "bad address %r" % (saddr_base,)) from None
    if int(base) == 0:
        base = ipaddress.IPv4Address(ctx.local_addresses()[0])
    pool = [str(base + k) for k in range(num_addr)]
    missing = [a for a in pool if not ctx.owns_address(a)]
    if missing:
        raise _error(errno.EADDRNOTAVAIL, "not addresses of %s: %s" % (ctx.name, ", ".join(missing)))
    ctx.source_pool = pool
    return 0


# --- sockets ---------------------------------------------------------------------------------

def mtcp_socket(mctx, domain, type, protocol):
    """A new non-blocking TCP socket's descriptor.  EAFNOSUPPORT (domain),
    EINVAL (type), ENFILE (the context's pool of max_concurrency is used up)."""
    ctx = _ctx(mctx)
    _check_socket_args(domain, type, protocol)
    return ctx.new_socket().fd


def mtcp_bind(mctx, sockid, addr):
    _sock(mctx, sockid).bind(addr)
    return 0


def mtcp_listen(mctx, sockid, backlog):
    _sock(mctx, sockid).listen(backlog)
    return 0


def mtcp_accept(mctx, sockid):
    """(new descriptor, (ip, port)); EAGAIN when none is waiting."""
    sock, addr = _sock(mctx, sockid).accept()
    return sock.fd, addr


def mtcp_connect(mctx, sockid, addr):
    """Start connecting; a non-blocking socket raises EINPROGRESS (an
    OSError that is a BlockingIOError): wait for MTCP_EPOLLOUT, then
    SO_ERROR says how it went."""
    _sock(mctx, sockid).connect(addr)
    return 0


def mtcp_read(mctx, sockid, length):
    """Up to length bytes; b"" at end of stream; EAGAIN when none yet."""
    return _stream_or_pipe(mctx, sockid).recv(length)


def mtcp_recv(mctx, sockid, length, flags=0):
    """mtcp_read with flags 0 or MSG_PEEK (the bytes stay)."""
    return _stream_or_pipe(mctx, sockid).recv(length, flags)


def mtcp_readv(mctx, sockid, buffers):
    """Fill the writable buffers in order; returns the bytes read."""
    return _stream_or_pipe(mctx, sockid).recv_into(buffers)


def mtcp_write(mctx, sockid, data):
    """Bytes taken (maybe fewer than given); EAGAIN when none fit."""
    return _stream_or_pipe(mctx, sockid).send(data)


def mtcp_writev(mctx, sockid, buffers):
    return _stream_or_pipe(mctx, sockid).send_vectors(buffers)


def mtcp_sendfile(mctx, sockid, fd, offset, count):
    """count bytes of the (kernel) file descriptor fd from offset, read in
    C straight into the socket's send buffer; bytes taken, as mtcp_write
    (EAGAIN when none fit; 0 at the end of the file).  Not in mTCP: as
    Linux sendfile(2) with an offset.  ENOTSOCK for a pipe end."""
    return _sock(mctx, sockid).sendfile(fd, offset, count)


def mtcp_close(mctx, sockid):
    """Close any descriptor.  A socket with SO_LINGER on blocks until its
    data is acknowledged (at most l_linger seconds), or resets with 0."""
    _desc(mctx, sockid).close()
    return 0


def mtcp_abort(mctx, sockid):
    """Reset the connection (RST) and free the descriptor."""
    _sock(mctx, sockid).abort()
    return 0


def mtcp_getsockname(mctx, sockid):
    return _sock(mctx, sockid).getsockname()


def mtcp_getpeername(mctx, sockid):
    return _sock(mctx, sockid).getpeername()


def mtcp_getsockopt(mctx, sockid, level, optname, buflen=None):
    """An int for int options, linger/timeval/tcp_info objects, a str for
    TCP_CONGESTION; with buflen, the C bytes.  EACCES, EBADF, ENOTSOCK,
    ENOSYS (level/option not implemented), EPERM (SOL_MONSOCKET on an
    endpoint), EINVAL (buffer too small)."""
    return _options.getsockopt(_sock(mctx, sockid), level, optname, buflen)


def mtcp_setsockopt(mctx, sockid, level, optname, value):
    """value: an int, bytes in the C layout, or linger(on, secs) /
    timeval(sec, usec) / a congestion-control name.  ENOSYS also for the
    get-only SO_TYPE, SO_ERROR and TCP_INFO; EINVAL for a bad value."""
    _options.setsockopt(_sock(mctx, sockid), level, optname, value)
    return 0


def mtcp_setsock_nonblock(mctx, sockid):
    _desc(mctx, sockid).nonblocking = True
    return 0


def mtcp_socket_ioctl(mctx, sockid, request, arg=None):
    """FIONREAD (bytes readable), SIOCOUTQ (bytes sent and not yet
    acknowledged), FIONBIO (arg: non-zero = non-blocking).  Returns an int."""
    obj = _desc(mctx, sockid)
    if request == _C.FIONBIO:
        if arg is None:
            raise _error(errno.EFAULT, "FIONBIO needs an argument")
        obj.nonblocking = bool(arg)
        return 0
    if request == _C.FIONREAD:
        if isinstance(obj, _PipeEnd):
            return obj.readable()
        if isinstance(obj, _TcpSocket) and not obj.listening:
            return obj.readable()
    elif request == _C.SIOCOUTQ:
        if isinstance(obj, _TcpSocket) and not obj.listening:
            c = obj.live_conn()
            return c.unsent_bytes if c is not None else 0
    raise _error(errno.EINVAL, "ioctl 0x%x not supported on descriptor %d (%s)"
                 % (request, sockid, obj.kind.name))


def mtcp_pipe(mctx):
    """(read end, write end) descriptors; non-blocking like sockets."""
    r, w = _ctx(mctx).new_pipe()
    return r.fd, w.fd


# --- epoll ----------------------------------------------------------------------------------

def mtcp_epoll_create(mctx, size):
    if size <= 0:
        raise _error(errno.EINVAL, "size must be > 0")
    return _ctx(mctx).new_epoll().fd


def mtcp_epoll_create1(mctx, flags):
    if flags & ~_C.EPOLL_CLOEXEC:
        raise _error(errno.EINVAL, "flags may be 0 or EPOLL_CLOEXEC")
    return _ctx(mctx).new_epoll().fd


def mtcp_epoll_ctl(mctx, epid, op, sockid, events=0, data=None):
    """ADD/MOD/DEL (EEXIST, ENOENT); data defaults to sockid."""
    ep = _epoll(mctx, epid)
    _desc(mctx, sockid)
    ep.ctl(op, sockid, events, data)
    return 0


def mtcp_epoll_wait(mctx, epid, maxevents, timeout):
    """[(events, data)], waiting up to timeout ms (-1 forever, 0 not at
    all) while the context's engines run."""
    return _epoll(mctx, epid).wait(maxevents, timeout)


__all__ = [n for n in dir() if n.startswith(("mtcp_", "MTCP_", "MOS_", "SO_", "TCP_", "SOL_"))] + [
    "AF_INET", "SOCK_STREAM", "IPPROTO_TCP", "MSG_PEEK", "FIONREAD", "FIONBIO", "SIOCOUTQ", "SIOCINQ",
    "EPOLL_CLOEXEC", "linger", "timeval", "tcp_info", "mtcp_conf", "Context"]
