"""Passive open, as Python sees it: a handle on one of the C engine's
listeners.  C keeps the SYN queue (half-open connections, capped; SYN
cookies beyond the cap), the accept queue (established, not yet accepted;
capped by the backlog, SYNs dropped when full, as Linux does) and every
handshake; Python meets a connection once, when it is accepted."""
import errno
from dataclasses import dataclass, fields

from .._core import ffi, lib
from ..wire.addr import ip_be, port_be
from .state import Event, TcpState


@dataclass
class ListenerStats:
    """struct xc_listen_stats, read from C."""
    syns: int = 0
    synacks: int = 0
    syn_retransmits_seen: int = 0
    accept_overflow: int = 0     # SYN dropped: accept queue full
    syn_queue_overflow: int = 0  # SYN answered with a cookie (or dropped without cookies)
    cookies_sent: int = 0
    cookies_accepted: int = 0
    cookies_rejected: int = 0
    refused_no_memory: int = 0   # SYN dropped: connection or buffer cap reached
    established: int = 0
    half_open_failed: int = 0    # SYN-RCVD ended by RST or timeout
    probes_dropped: int = 0      # FIN/NULL/Xmas and other no-ACK segments
    aborted_unaccepted: int = 0  # established, then reset or timed out before accept


_STAT_NAMES = [f.name for f in fields(ListenerStats)]


class ChildOptions:
    """What a listener's new connections inherit (the listening socket's
    options): struct xc_listen_conf, built from Python values."""

    def __init__(self, engine, backlog):
        t = engine.tunables
        self.backlog = max(1, int(backlog))
        self.rcvbuf, self.sndbuf = t.rcvbuf, t.sndbuf
        self.rcvbuf_fixed = False
        self.sndbuf_fixed = False
        self.nodelay = False
        self.mss = engine.mss
        self.cc_algo = engine.cc_algo
        self.keepalive = False
        self.keepalive_idle_s = t.keepalive_idle_s
        self.keepalive_intvl_s = t.keepalive_intvl_s
        self.keepalive_cnt = t.keepalive_cnt
        self.offered = engine.offered_options()

    def to_c(self):
        c = ffi.new("struct xc_listen_conf *")
        c.backlog = self.backlog
        c.rcvbuf, c.sndbuf = self.rcvbuf, self.sndbuf
        c.flags = (self.offered | (lib.XC_TF_NODELAY if self.nodelay else 0) |
                   (lib.XC_TF_RCVBUF_FIXED if self.rcvbuf_fixed else 0) |
                   (lib.XC_TF_SNDBUF_FIXED if self.sndbuf_fixed else 0) |
                   (lib.XC_TF_KEEPALIVE if self.keepalive else 0))
        c.rcv_mss = self.mss
        c.cc_algo = self.cc_algo
        c.keepalive_idle_ms = max(1, int(self.keepalive_idle_s * 1000))
        c.keepalive_intvl_ms = max(1, int(self.keepalive_intvl_s * 1000))
        c.keepalive_cnt = self.keepalive_cnt
        return c


class Listener:
    def __init__(self, engine, addr, port, backlog):
        self.engine = engine
        self.addr = addr              # None = every local address
        self.port = port
        self.children = ChildOptions(engine, backlog)
        self.id = lib.xc_listen_open(engine.raw, ip_be(addr), port_be(port),
                                     self.children.to_c())
        if self.id < 0:
            raise OSError(errno.EADDRINUSE, "port %d already listening (or too many listeners)" % port)
        self._who = ffi.new("struct xc_tcp_ident *")    # what accept fills
        self.watchers = []
        self.closed = False
        self._final_stats = None

    def __repr__(self):
        return "<Listener %s:%d backlog %d>" % (self.addr or "*", self.port, self.backlog)

    @property
    def state(self):
        return TcpState.CLOSED if self.closed else TcpState.LISTEN

    @property
    def backlog(self):
        return self.children.backlog

    @backlog.setter
    def backlog(self, value):
        self.children.backlog = max(1, int(value))
        self.configure()

    def configure(self):
        """Push self.children to C: connections from the next SYN on get it."""
        if not self.closed:
            lib.xc_listen_configure(self.engine.raw, self.id, self.children.to_c())
            self.engine.steer_listener(self)

    def syn_answer(self):
        """(our MSS, window) of the cookie SYN-ACKs the XDP program sends
        for this listener, the values C's own cookie SYN-ACK carries
        (tcp_listen.c); None without cookies."""
        if not self.engine.tunables.syncookies:
            return None
        return self.children.mss, min(self.children.rcvbuf, 65535)

    @property
    def stats(self):
        if self.closed:
            return self._final_stats
        s = ffi.new("struct xc_listen_stats *")
        lib.xc_listen_get_stats(self.engine.raw, self.id, s)
        return ListenerStats(*(getattr(s, n) for n in _STAT_NAMES))

    # -- application side ----------------------------------------------------------
    def pending(self):
        """Established connections waiting for accept."""
        return 0 if self.closed else lib.xc_listen_pending(self.engine.raw, self.id)

    def accept(self):
        """The next established connection; BlockingIOError when none."""
        if self.closed:
            raise OSError(errno.EINVAL, "listener closed")
        who = self._who
        tcb = lib.xc_listen_accept(self.engine.raw, self.id, who)
        if tcb == ffi.NULL:
            raise BlockingIOError(errno.EAGAIN, "no connection to accept")
        return self.engine.adopt(tcb, who, self.children)

    def close(self):
        """Stop listening; connections not yet accepted are reset."""
        if self.closed:
            return
        self._final_stats = self.stats
        lib.xc_listen_close(self.engine.raw, self.id, self.engine.now_ns())
        self.closed = True
        self.engine.unlisten(self)

    def notify(self, bits):
        for w in list(self.watchers):
            w(self, bits)

    def on_events(self, bits):
        """C queued new connections for accept."""
        self.notify(Event.READABLE)
