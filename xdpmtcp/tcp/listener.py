"""Passive open: a listening endpoint with its SYN queue (half-open
connections, capped; SYN cookies beyond the cap) and its accept queue
(established, not yet accepted; capped by the backlog, SYNs dropped when
full, as Linux does)."""
import errno
from collections import deque
from dataclasses import dataclass

from .._core import lib
from ..wire import TcpFlags
from .state import Event, TcpState

# MSS values a SYN cookie can carry (2 bits), as Linux's msstab does.
COOKIE_MSS = (536, 1300, 1440, 1460)


@dataclass
class ListenerStats:
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
    probes_dropped: int = 0      # neither SYN nor ACK nor RST (FIN/NULL/Xmas scans): no answer


class Listener:
    def __init__(self, engine, addr, port, backlog):
        self.engine = engine
        self.addr = addr              # None = every local address
        self.port = port
        self.backlog = max(1, int(backlog))
        self.syn_queue = {}           # id -> Connection in SYN-RCVD
        self.accept_queue = deque()
        self.stats = ListenerStats()
        self.watchers = []
        self.closed = False
        # child_setup(conn): runs on each new connection before its SYN-ACK
        # (the listening socket's options: buffers, MSS, Nagle, cc)
        self.child_setup = None

    def __repr__(self):
        return "<Listener %s:%d backlog %d>" % (self.addr or "*", self.port, self.backlog)

    @property
    def state(self):
        return TcpState.CLOSED if self.closed else TcpState.LISTEN

    # -- application side ----------------------------------------------------------
    def accept(self):
        """The next established connection; BlockingIOError when none."""
        if self.closed:
            raise OSError(errno.EINVAL, "listener closed")
        if not self.accept_queue:
            raise BlockingIOError(errno.EAGAIN, "no connection to accept")
        conn = self.accept_queue.popleft()
        conn.listener = None
        return conn

    def close(self):
        """Stop listening; connections not yet accepted are reset."""
        if self.closed:
            return
        self.closed = True
        for conn in list(self.syn_queue.values()) + list(self.accept_queue):
            conn.listener = None
            conn.abort()
        self.syn_queue.clear()
        self.accept_queue.clear()
        self.engine.unlisten(self)

    def notify(self, bits):
        for w in list(self.watchers):
            w(self, bits)

    # -- slow path ---------------------------------------------------------------------
    def on_syn(self, f, now_ns):
        """A SYN for this listener and no connection of that tuple yet."""
        self.stats.syns += 1
        if len(self.accept_queue) >= self.backlog:
            self.stats.accept_overflow += 1
            return
        if len(self.syn_queue) >= self.engine.tunables.syn_backlog:
            self.stats.syn_queue_overflow += 1
            if self.engine.tunables.syncookies:
                self._send_cookie(f, now_ns)
            return
        conn = self.engine.passive_open(self, f, now_ns)
        if conn is None:
            self.stats.refused_no_memory += 1
            return
        self.syn_queue[conn.id] = conn
        self.stats.synacks += 1

    def _send_cookie(self, f, now_ns):
        opts = f.tcp.options
        peer_mss = opts.mss or 536
        index = max(i for i, m in enumerate(COOKIE_MSS) if m <= peer_mss or i == 0)
        eng = self.engine
        t = eng.scratch_for(f)
        t.iss = lib.xc_syncookie_make(t.local_addr, t.remote_addr, t.local_port, t.remote_port,
                                      f.tcp.seq, index, now_ns)
        t.irs = f.tcp.seq
        t.rcv_nxt = (f.tcp.seq + 1) & 0xffffffff
        t.rcv_mss = min(eng.mss, COOKIE_MSS[index])
        t.flags = 0                   # no state: no options a cookie cannot remember
        lib.xc_tcp_init_conn(eng.raw, t, now_ns)
        lib.xc_tcp_send_ctl(eng.raw, t, lib.XC_CTL_SYNACK, now_ns)
        t.timer_due[lib.XC_T_RTO] = 0
        self.stats.cookies_sent += 1

    def on_bare_ack(self, f, now_ns):
        """An ACK for a tuple we do not know: maybe the end of a cookie
        handshake.  Returns the new connection, or None."""
        if not self.engine.tunables.syncookies or f.tcp.flags & (TcpFlags.SYN | TcpFlags.RST):
            return None
        eng = self.engine
        t = eng.scratch_for(f)
        peer_isn = (f.tcp.seq - 1) & 0xffffffff
        index = lib.xc_syncookie_check(t.local_addr, t.remote_addr, t.local_port, t.remote_port,
                                       peer_isn, (f.tcp.ack - 1) & 0xffffffff, now_ns)
        if index < 0:
            self.stats.cookies_rejected += 1
            return None
        if len(self.accept_queue) >= self.backlog:
            self.stats.accept_overflow += 1
            return None
        conn = eng.cookie_open(self, f, COOKIE_MSS[index], now_ns)
        if conn is None:
            self.stats.refused_no_memory += 1
            return None
        self.stats.cookies_accepted += 1
        self._established(conn)
        return conn

    def on_child_change(self, conn):
        """A connection of ours changed state before being accepted."""
        if conn.id in self.syn_queue and conn.state != TcpState.SYN_RCVD:
            del self.syn_queue[conn.id]
            if conn.state.synchronized:
                self._established(conn)
                return
            self.stats.half_open_failed += 1
            if conn in self.accept_queue:
                self.accept_queue.remove(conn)

    def _established(self, conn):
        self.stats.established += 1
        self.accept_queue.append(conn)
        self.notify(Event.READABLE)

    def forget(self, conn):
        """The engine released conn."""
        self.syn_queue.pop(conn.id, None)
        try:
            self.accept_queue.remove(conn)
        except ValueError:
            pass
