"""Descriptors of a context's table and the TCP endpoint socket.

A ``TcpSocket`` is what ``mtcp_socket`` creates: fresh, then bound,
listening (through a ``ListenGroup`` shared by SO_REUSEPORT sockets) or
connected (it holds the engine's ``Connection``).  Blocking behaviour,
low-water marks, linger and readiness for epoll live here; the options
themselves in options.py.
"""
import collections
import copy
import errno
import ipaddress
import logging
import os
import socket as _socket
import time

from .._core import ffi, lib
from ..storage import Memo
from ..tcp import Event, TcpState
from ..tcp.connection import AGAIN, FileReadError
from . import constants as C
from .errors import error
from .options import SocketOptions, apply_before_syn, inherit_options

log = logging.getLogger("xdpmtcp.api")
TRACE_LEN = 256                       # SO_DEBUG records kept per socket

# Plain ints for the per-call paths (readiness, reads, writes): enum
# arithmetic there costs more than the rest of the call.
_IN = C.MTCP_EPOLLIN | C.MTCP_EPOLLRDNORM
_OUT = C.MTCP_EPOLLOUT | C.MTCP_EPOLLWRNORM
_GONE = _IN | _OUT | C.MTCP_EPOLLRDHUP | C.MTCP_EPOLLHUP
_getopt = lib.xc_tcp_getopt
_setopt = lib.xc_tcp_setopt


def scatter(data, views):
    """readv: copy data over the byte views in order; returns len(data)."""
    off = 0
    for v in views:
        k = min(len(v), len(data) - off)
        if k <= 0:
            break
        v[:k] = data[off:off + k]
        off += k
    return len(data)


class Descriptor:
    """One entry of a context's descriptor table."""
    kind = C.MTCP_SOCK_UNUSED

    def __init__(self, ctx):
        self.ctx = ctx
        self.fd = -1
        self.closed = False
        self.nonblocking = True       # mtcp_socket.3: non-blocking by default
        self.timeout_override = None  # the facade's settimeout(); None: SO_*TIMEO rules
        self.watchers = []            # epoll entries interested in this descriptor

    def poll_mask(self):
        return 0

    def wake(self):
        """Readiness may have changed: tell the epolls watching."""
        for entry in list(self.watchers):
            entry.notify()

    def watched(self, entry):
        """An epoll entry was added (C may watch what is behind us)."""

    def close(self):
        if self.closed:
            return
        self.closed = True
        for entry in list(self.watchers):
            entry.epoll.forget(entry)
        self.ctx.table.release(self)

    # -- blocking -------------------------------------------------------------------
    def _timeout(self, sockopt_seconds):
        if self.timeout_override is not None:
            return self.timeout_override
        return sockopt_seconds or None

    def _block(self, ready, timeout, progress=None):
        """Run the context until ready() or timeout seconds pass without
        progress() changing (SO_RCVTIMEO/SO_SNDTIMEO are inactivity timers).
        True when ready."""
        if ready():
            return True
        if self.nonblocking:
            return False
        step = self.ctx.tunables.poll_step_ms / 1000.0
        mark = progress() if progress else None
        deadline = None if timeout is None else time.monotonic() + timeout
        # only the context's own thread runs its engines; others (a pipe
        # writer elsewhere) just wait for it
        run = self.ctx.poll if self.ctx.in_owner_thread() else lambda t: time.sleep(min(t, 0.001))
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            run(step if deadline is None else min(step, deadline - now))
            if ready():
                return True
            if progress is not None and deadline is not None:
                m = progress()
                if m != mark:
                    mark, deadline = m, time.monotonic() + timeout

    def _timed_out(self, what):
        if self.timeout_override is not None:
            return TimeoutError("timed out")
        return error(errno.EAGAIN, "%s timed out" % what)


def check_socket_args(domain, type, protocol):
    """mtcp_socket.3's checks: AF_INET only (EAFNOSUPPORT), SOCK_STREAM
    only (EINVAL); protocol 0 (or IPPROTO_TCP), else EPROTONOSUPPORT."""
    if domain != C.AF_INET:
        raise error(errno.EAFNOSUPPORT, "domain %r: only AF_INET is supported" % (domain,))
    if type != C.SOCK_STREAM:
        raise error(errno.EINVAL, "type %r: only SOCK_STREAM is supported" % (type,))
    if protocol not in (0, C.IPPROTO_TCP):
        raise error(errno.EPROTONOSUPPORT, "protocol %r: only 0 (TCP) is supported" % (protocol,))


def parse_addr(addr, what="address"):
    """(ip, port) checked; EAFNOSUPPORT for something not IPv4."""
    if not isinstance(addr, tuple) or len(addr) != 2:
        raise error(errno.EINVAL, "%s must be (ip, port), got %r" % (what, addr))
    ip, port = addr
    if ip in ("", None):
        ip = "0.0.0.0"
    ip = _canonical(ip) if type(ip) is str else _canonical_ipv4(ip)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise error(errno.EINVAL, "bad port %r" % (port,))
    return ip, port


def _canonical_ipv4(ip):
    try:
        canonical = str(ipaddress.IPv4Address(ip))
    except (ipaddress.AddressValueError, ValueError):
        try:
            ipaddress.IPv6Address(ip)
        except (ipaddress.AddressValueError, ValueError):
            raise error(errno.EINVAL, "bad IPv4 address %r" % (ip,)) from None
        raise error(errno.EAFNOSUPPORT, "only AF_INET (IPv4) is supported: %r" % (ip,)) from None
    return canonical


_canonical = Memo(_canonical_ipv4)   # address text -> its canonical IPv4 text


class ListenGroup:
    """The engine listeners of one (address, port) and the listening sockets
    sharing them: one socket, or several with SO_REUSEPORT (then each may
    accept from the one queue)."""

    def __init__(self, ctx, addr, port, backlog, opts):
        self.ctx = ctx
        self.key = (addr, port)
        self.listeners = []
        try:
            for eng in ctx.engines:
                lst = eng.listen(port, addr, backlog)
                lst.watchers.append(self._on_listener)
                self.listeners.append(lst)
        except BaseException:
            self.close()
            raise
        self.members = []
        self._next = 0
        self.configure(opts)

    def configure(self, opts):
        """The listening socket's options, inherited by every connection
        from the next SYN on (C builds the children; Linux does the same)."""
        for lst in self.listeners:
            inherit_options(opts, lst.children, lst.engine)
            lst.configure()

    def _on_listener(self, lst, bits):
        for sock in self.members:
            sock.wake()

    def pending(self):
        return any(lst.pending() for lst in self.listeners)

    def set_backlog(self, backlog):
        for lst in self.listeners:
            lst.backlog = max(1, backlog)

    def pop(self):
        """The next established connection, round-robin over the engines."""
        n = len(self.listeners)
        for k in range(n):
            lst = self.listeners[(self._next + k) % n]
            if lst.pending():
                self._next = (self._next + k + 1) % n
                return lst.accept()
        return None

    def close(self):
        for lst in self.listeners:
            lst.close()
        self.listeners = []


class TcpSocket(Descriptor):
    """An mTCP endpoint socket (MTCP_SOCK_STREAM, MTCP_SOCK_LISTENER once
    listening)."""

    def __init__(self, ctx, opts=None):
        super().__init__(ctx)
        self.opts = opts or SocketOptions.defaults(ctx.tunables)
        self.bound = None             # (ip, port) after bind
        self.port_taken = None        # (engine, port) we took from the reserved range
        self.group = None             # ListenGroup while listening
        self.conn = None
        self.engine = None            # the engine of conn
        self.error = 0                # errors of our own (not the connection's)
        self.shut_rd = False
        self.trace_log = ()           # SO_DEBUG records (a deque from the first one)

    @property
    def kind(self):
        return C.MTCP_SOCK_LISTENER if self.group is not None else C.MTCP_SOCK_STREAM

    @property
    def listening(self):
        return self.group is not None

    def __repr__(self):
        what = ("listening %s:%d" % (self.bound[0], self.bound[1]) if self.listening else
                repr(self.conn) if self.conn else "fresh")
        return "<TcpSocket %d %s>" % (self.fd, what)

    def live_conn(self):
        """The connection, unless there is none or the engine freed it."""
        c = self.conn
        return None if c is None or c.released else c

    # -- SO_DEBUG -----------------------------------------------------------------------
    def trace(self, what):
        if self.opts.debug:
            rec = (time.monotonic(), what, self.conn.state.name if self.conn else "-")
            if not self.trace_log:
                self.trace_log = collections.deque(maxlen=TRACE_LEN)
            self.trace_log.append(rec)
            log.debug("socket %d: %s (%s)", self.fd, what, rec[2])

    # -- errors ------------------------------------------------------------------------
    def take_error(self):
        """SO_ERROR: the pending error, cleared."""
        err, self.error = self.error, 0
        if not err and self.conn is not None:
            err = self.conn.take_error()
        return err

    # -- the connection's events ----------------------------------------------------------
    def _attach(self, conn, engine):
        self.conn, self.engine = conn, engine
        conn.watchers.append(self._on_conn_event)
        tcb = conn.tcb
        if not self.opts.debug:
            # C's epoll sees every event: Python needs only the end
            _setopt(engine.raw, tcb, lib.XC_OPT_EV_QUIET, ~lib.XC_EV_RELEASE & 0xffffffff, 0)
        self._sync_readiness(conn)
        for entry in self.watchers:
            entry.bind(tcb)
        self.trace("attached %s:%d > %s:%d" % (conn.local + conn.remote))

    def _sync_readiness(self, conn):
        """What C's readiness mask needs from the socket: low-water marks, SHUT_RD."""
        raw, tcb = conn.engine.raw, conn.tcb
        _setopt(raw, tcb, lib.XC_OPT_RCVLOWAT, self.opts.rcvlowat, 0)
        _setopt(raw, tcb, lib.XC_OPT_SNDLOWAT, self.opts.sndlowat, 0)
        if self.shut_rd:
            _setopt(raw, tcb, lib.XC_OPT_RCV_SHUT, 1, 0)

    def watched(self, entry):
        c = self.conn
        if c is not None and c.tcb is not None and self.group is None:
            entry.bind(c.tcb)
        else:
            entry.notify()

    def wake(self):
        c = self.conn
        if c is not None and c.tcb is not None:
            self._sync_readiness(c)
        super().wake()

    def _detach(self):
        if self.conn is not None:
            try:
                self.conn.watchers.remove(self._on_conn_event)
            except ValueError:
                pass
            for entry in self.watchers:
                entry.bind(None)

    def _on_conn_event(self, conn, bits):
        if self.opts.debug:
            self.trace("event %s" % (Event(bits).name or int(bits)))
        self.wake()

    # -- readiness ---------------------------------------------------------------------------
    def poll_mask(self):
        if self.group is not None:
            return _IN if self.group.pending() else 0
        c = self.conn
        if c is None:
            return _OUT | C.MTCP_EPOLLHUP                    # unconnected, as Linux
        tcb = c.tcb
        if tcb is None:                                      # released
            return _GONE | (C.MTCP_EPOLLERR if c.error or self.error else 0)
        return _getopt(tcb, lib.XC_OPT_POLL_MASK)            # what C's epoll computes

    # -- bind / listen / accept -------------------------------------------------------------
    def _check_open(self):
        if self.closed:
            raise error(errno.EBADF, "socket closed")

    def bind(self, addr):
        self._check_open()
        if self.bound is not None or self.conn is not None:
            raise error(errno.EINVAL, "socket already bound")
        ip, port = parse_addr(addr)
        if ip != "0.0.0.0" and not self.ctx.owns_address(ip):
            raise error(errno.EADDRNOTAVAIL, "%s is not an address of %s" % (ip, self.ctx.name))
        if port == 0:
            eng = self.ctx.engine_for_address(ip)
            port = eng.ephemeral.take(lambda p: self.ctx.port_in_use(ip, p, self, probe=True))
            if port is None:
                raise error(errno.EADDRINUSE, "no free port in the reserved range")
            self.port_taken = (eng, port)
        else:
            self.ctx.check_bind(ip, port, self)
        self.bound = (ip, port)
        self.trace("bound %s:%d" % self.bound)

    def listen(self, backlog):
        self._check_open()
        if self.conn is not None:
            raise error(errno.EINVAL, "socket is connected")
        if backlog <= 0 or backlog > self.ctx.tunables.max_concurrency:
            # mTCP: EINVAL outside 1..max_concurrency
            raise error(errno.EINVAL, "backlog %d not in 1..%d" % (backlog, self.ctx.tunables.max_concurrency))
        if self.bound is None:
            raise error(errno.EINVAL, "bind before listen (mTCP needs an explicit address)")
        if self.group is not None:
            self.group.set_backlog(backlog)
            return
        ip, port = self.bound
        key = (None if ip == "0.0.0.0" else ip, port)
        group = self.ctx.groups.get(key)
        if group is None:
            if self.ctx.port_listening(ip, port):
                raise error(errno.EADDRINUSE, "%s:%d is already listening" % self.bound)
            group = ListenGroup(self.ctx, key[0], port, backlog, self.opts)
            self.ctx.groups[key] = group
        elif not (self.opts.reuseport and all(m.opts.reuseport for m in group.members)):
            raise error(errno.EADDRINUSE, "%s:%d is already listening (SO_REUSEPORT on both "
                        "sockets would share it)" % self.bound)
        else:
            group.set_backlog(max(backlog, max(lst.backlog for lst in group.listeners)))
        group.members.append(self)
        self.group = group
        self.trace("listening, backlog %d" % backlog)

    def accept(self):
        """(TcpSocket, (ip, port)) of the next connection."""
        self._check_open()
        if self.group is None:
            raise error(errno.EINVAL, "socket is not listening")
        group = self.group
        if not self._block(group.pending, self._timeout(self.opts.rcvtimeo)):
            if self.nonblocking:
                raise error(errno.EAGAIN, "no connection to accept")
            raise self._timed_out("accept")
        if self.ctx.table.full():
            raise error(errno.ENFILE, "no descriptor left in this context's pool (max_concurrency)")
        conn = group.pop()
        if conn is None:                      # raced away by a REUSEPORT sibling
            raise error(errno.EAGAIN, "no connection to accept")
        sock = TcpSocket(self.ctx, opts=self._child_options())
        self.ctx.table.add(sock)
        sock._attach(conn, conn.engine)
        sock.trace("accepted from %s:%d" % conn.remote)
        return sock, conn.remote

    def _child_options(self):
        opts = copy.copy(self.opts)          # inherited, as in Linux (copy: cheaper than replace)
        opts.reuseport = False
        return opts

    # -- connect ---------------------------------------------------------------------------------
    def connect(self, addr):
        self._check_open()
        if self.group is not None:
            raise error(errno.EINVAL, "socket is listening")
        ip, port = parse_addr(addr, "destination")
        c = self.conn
        if c is not None:
            if not c.released and c.state == TcpState.SYN_SENT:
                if self.nonblocking:
                    raise error(errno.EALREADY, "connection in progress")
                return self._wait_connected()
            if c.error or self.error:
                raise error(self.take_error(), "connect to %s:%d failed" % c.remote)
            if not c.released and c.state != TcpState.CLOSED:
                raise error(errno.EISCONN, "already connected to %s:%d" % c.remote)
            self._detach()                    # a failed attempt: try again
            self.conn = None
        if port == 0:
            raise error(errno.EINVAL, "destination port 0")
        self.ctx.check_destination(ip, self.opts)
        lip, lport = self.bound if self.bound else ("0.0.0.0", 0)
        engine, lip = self.ctx.route(ip, None if lip == "0.0.0.0" else lip)
        conn = self.ctx.open_connection(engine, (ip, port), lip, lport,
                                        lambda c, opts=self.opts: apply_before_syn(opts, c))
        self._attach(conn, engine)
        if self.nonblocking:
            raise error(errno.EINPROGRESS, "connecting to %s:%d" % (ip, port))
        return self._wait_connected()

    def _wait_connected(self):
        c = self.conn
        if not self._block(lambda: c.released or c.state != TcpState.SYN_SENT,
                           self._timeout(self.opts.sndtimeo)):
            if self.timeout_override is not None:
                raise TimeoutError("timed out")
            raise error(errno.EINPROGRESS, "connect timed out (SO_SNDTIMEO); still trying")
        if c.error or c.released or c.state == TcpState.CLOSED:
            raise error(c.take_error() or errno.ECONNREFUSED, "connect to %s:%d" % c.remote)

    # -- data ------------------------------------------------------------------------------------
    def _stream(self):
        self._check_open()
        if self.group is not None or self.conn is None:
            raise error(errno.ENOTCONN, "socket is not connected")
        return self.conn

    def readable(self):
        c = self.conn
        return 0 if c is None or c.released else c.readable_bytes

    def recv(self, n, flags=0):
        """Up to n bytes; b"" at end of stream."""
        c = self.conn
        if c is not None and self.nonblocking and not flags and n > 0 and self.group is None \
                and not self.closed:
            # the common cases in one C call: data is there, or an open
            # connection has none yet (else: the checks below)
            data = c.read_now(n)
            if data is AGAIN:
                raise BlockingIOError(errno.EAGAIN, "no data yet")
            if data is not None:
                return data
        elif c is not None and c.tcb is not None and n > 0 and not flags and self.group is None \
                and not self.closed and not self.shut_rd:
            # blocking: data is there (as much as SO_RCVLOWAT asks)
            avail = _getopt(c.tcb, lib.XC_OPT_RCV_QUEUED)
            if avail >= min(self.opts.rcvlowat, n) and avail:
                return c.recv(n)
        if flags & ~C.MSG_PEEK:
            raise error(errno.EINVAL, "flags may be 0 or MSG_PEEK")
        if n < 0:
            raise error(errno.EINVAL, "negative length")
        c = self._stream()
        if n == 0:
            return b""
        need = min(max(self.opts.rcvlowat, 1), n)

        def ready():
            return (c.released or c.error or self.shut_rd or c.state == TcpState.CLOSED or
                    (c.state.synchronized and (c.readable_bytes >= need or c.eof)))
        if not ready():
            if c.state in (TcpState.SYN_SENT, TcpState.SYN_RCVD) and self.nonblocking:
                raise error(errno.EAGAIN, "connection not established yet")
            if not self._block(ready, self._timeout(self.opts.rcvtimeo), progress=lambda: c.readable_bytes):
                if self.nonblocking:
                    if c.readable_bytes:
                        return c.recv(n, peek=bool(flags & C.MSG_PEEK))
                    raise error(errno.EAGAIN, "no data yet")
                if not c.readable_bytes:
                    raise self._timed_out("receive")
        if c.released:
            err = c.take_error()
            if err:
                raise error(err)
            return b""
        if self.shut_rd and not c.readable_bytes:
            return b""
        try:
            return c.recv(n, peek=bool(flags & C.MSG_PEEK))
        except BlockingIOError:
            raise error(errno.EAGAIN, "no data yet") from None

    def recv_into(self, buffers):
        """readv: fill the buffers in order; bytes read in total."""
        views = [memoryview(b).cast("B") for b in buffers]
        total = sum(len(v) for v in views)
        if total == 0:
            self._stream()
            return 0
        return scatter(self.recv(total), views)

    def send(self, data):
        """Bytes taken.  Non-blocking: what fits (EAGAIN if not even
        min(SO_SNDLOWAT, len)); blocking: all of it, unless SO_SNDTIMEO
        passes without progress (then a short count, or EAGAIN)."""
        c = self._stream()
        view = memoryview(data).cast("B")
        if not len(view):
            return 0
        if self.nonblocking:
            # the common case in one C call: an open connection, a
            # non-blocking write (else: the checks below)
            n = c.send_now(view)
            if n == 0:
                raise BlockingIOError(errno.EAGAIN, "send buffer full")
            if n is not None:
                return n
        return self._send_from(c, len(view), lambda off, k: c.send(view[off:off + k]))

    def sendfile(self, fd, offset, count):
        """mtcp_sendfile: count bytes of the file fd from offset, read by C
        straight into the send buffer (no copy through Python; the file
        position is left alone).  As send: non-blocking, what fits (EAGAIN
        if not even min(SO_SNDLOWAT, count)); blocking, all of it.  Fewer
        (0 at the end) where the file ends.  EBADF: fd is not open for
        reading; EINVAL: a negative offset or count, or fd cannot be read
        at an offset (a directory, a pipe)."""
        if isinstance(fd, bool) or not all(isinstance(v, int) for v in (fd, offset, count)):
            raise error(errno.EINVAL, "fd, offset and count must be integers")
        c = self._stream()
        if offset < 0 or count < 0 or offset >= 1 << 63:
            raise error(errno.EINVAL, "offset or count out of range")
        if not count:
            try:
                os.fstat(fd)
            except (OSError, OverflowError):
                raise error(errno.EBADF, "fd %r is not an open file" % fd) from None
            return 0
        tcb = c.tcb
        if self.nonblocking and tcb is not None and 0 <= fd < 1 << 31 and not c.error \
                and c.state.can_send and not c.getopt(lib.XC_OPT_FIN_QUEUED):
            # the common case, as in send: one C call to write
            free = c.send_space
            if free < min(self.opts.sndlowat, count, c.getopt(lib.XC_OPT_SNDBUF)):
                raise BlockingIOError(errno.EAGAIN, "send buffer full")
            refused = c.getopt(lib.XC_OPT_SND_REFUSED)
            n = lib.xc_tcp_write_fd(c.engine.raw, tcb, fd, offset, min(count, free))
            if n > 0:
                c.engine.want_flush = True
                return n
            if n < 0:
                raise self._read_error(fd, -n)
            if c.getopt(lib.XC_OPT_SND_REFUSED) != refused:
                raise BlockingIOError(errno.EAGAIN, "send buffer full")
            return 0                             # end of file

        if not -1 <= fd < 1 << 31:
            raise error(errno.EBADF, "fd %r is not an open file" % fd)

        def take(off, k):
            before = None if c.released else c.getopt(lib.XC_OPT_SND_REFUSED)
            try:
                n = c.sendfile(fd, offset + off, min(k, 1 << 30))
            except FileReadError as e:
                raise self._read_error(fd, e.errno) from None
            if not n and c.send_space and not c.released and c.getopt(lib.XC_OPT_SND_REFUSED) == before:
                return None                  # end of file
            return n
        return self._send_from(c, count, take)

    @staticmethod
    def _read_error(fd, err):
        """What sendfile says when reading fd failed with err."""
        if err in (errno.ESPIPE, errno.EISDIR, errno.EINVAL):
            return error(errno.EINVAL, "fd %d cannot be read at an offset" % fd)
        return error(err, "reading fd %d: %s" % (fd, os.strerror(err)))

    def _send_from(self, c, length, take):
        """send's rules for length bytes that take(offset, k) queues (the
        bytes taken; None when there are no more: end of file)."""
        if c.released:
            err = c.take_error() or self.take_error()
            raise error(err or errno.EPIPE, "connection gone")
        if self.nonblocking:
            if c.state in (TcpState.SYN_SENT, TcpState.SYN_RCVD):
                if c.error:
                    raise error(c.take_error())
                raise error(errno.EAGAIN, "connection not established yet")
            if c.state.can_send and not c.error and \
                    c.send_space < min(self.opts.sndlowat, length, c.getopt(lib.XC_OPT_SNDBUF)):
                raise error(errno.EAGAIN, "send buffer full")
            n = take(0, length)
            if n is None:
                return 0
            if n == 0:
                raise error(errno.EAGAIN, "send buffer full")
            return n
        total = 0
        timeout = self._timeout(self.opts.sndtimeo)
        while total < length:
            left = length - total
            need = min(self.opts.sndlowat, left, max(1, c.getopt(lib.XC_OPT_SNDBUF)) if not c.released else 1)

            def ready():
                return (c.released or c.error or c.state == TcpState.CLOSED or
                        (c.state.synchronized and (not c.state.can_send or c.send_space >= need)))
            if not self._block(ready, timeout, progress=lambda: c.send_space):
                if total:
                    return total
                raise self._timed_out("send")
            if c.released:
                raise error(c.take_error() or errno.EPIPE, "connection gone")
            n = take(total, left)
            if n is None:
                return total
            total += n
        return total

    def send_vectors(self, buffers):
        """writev: the buffers in order, as one write."""
        return self.send(b"".join(bytes(b) for b in buffers))

    # -- closing ---------------------------------------------------------------------------------
    def shutdown(self, how):
        c = self._stream()
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise error(errno.EINVAL, "how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
        if how in (_socket.SHUT_RD, _socket.SHUT_RDWR):
            self.shut_rd = True
        if how in (_socket.SHUT_WR, _socket.SHUT_RDWR) and not c.released:
            c.shutdown_write()
        self.wake()

    def close(self):
        if self.closed:
            return
        if self.group is not None:
            group, self.group = self.group, None
            group.members.remove(self)
            if not group.members:
                group.close()
                self.ctx.groups.pop(group.key, None)
        c = self.conn
        super().close()
        self._detach()
        if c is not None and not c.released:
            if self.opts.linger_on and self.opts.linger_s == 0:
                self.trace("close: linger 0, reset")
                c.abort()                                  # SO_LINGER zero: RST
            else:
                c.close()
                if self.opts.linger_on:
                    self._linger(c, self.opts.linger_s)
        self._release_port()

    def _linger(self, c, seconds):
        """Block until what we sent (and our FIN) is acknowledged, at most
        the linger interval; the close goes on in the background after."""
        def done():
            return c.released or c.state in (TcpState.FIN_WAIT_2, TcpState.TIME_WAIT, TcpState.CLOSED)
        nonblocking, self.nonblocking = self.nonblocking, False   # linger blocks, as in Linux
        try:
            self._block(done, seconds)
        finally:
            self.nonblocking = nonblocking

    def abort(self):
        """mtcp_abort: RST now and free the descriptor."""
        c = self.conn
        if c is not None and not c.released:
            self._detach()
            c.abort()
        self.close()

    def _release_port(self):
        if self.port_taken is not None:
            eng, port = self.port_taken
            eng.ephemeral.release(port)
            self.port_taken = None

    # -- names --------------------------------------------------------------------------------------
    def getsockname(self):
        self._check_open()
        if self.conn is not None:
            return self.conn.local
        return self.bound or ("0.0.0.0", 0)

    def getpeername(self):
        self._check_open()
        c = self.conn
        if c is None or self.group is not None or (not c.released and c.state == TcpState.SYN_SENT) \
                or c.released or c.state == TcpState.CLOSED:
            raise error(errno.ENOTCONN, "socket is not connected")
        return c.remote
