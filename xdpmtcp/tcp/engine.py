"""The TCP engine's control plane: one per port (per core/queue).

Each ``poll`` is one batch and one C call (xc_engine_poll: receive, every
segment, handshakes included, the due timers, send).  Python takes part
only when C hands it a segment (a SYN reusing a TIME-WAIT tuple) or events
(readiness, a block to release).  The connection block is opaque: the
boundary is api_tcp.h (docs/architecture.md).
"""
import errno
import select
import time
from dataclasses import dataclass

from .._core import ffi, lib
from ..housekeeping import Housekeeping
from ..kernel import NextHopCache, boot_secret
from ..phy import Burst
from ..storage import Memo
from ..tunables import DEFAULTS
from ..wire import MalformedFrame, parse_tcp_frame
from ..wire.tcp import TcpFlags
from ..wire.addr import ip_be, ip_str, port_be, port_str
from .connection import Connection
from .listener import Listener
from .ports import EphemeralPorts
from .state import Event, TcpState

EVENT_CHUNK = 1024
READ_BUFFER = 256 * 1024      # the most one read returns
HOUSEKEEPING_NS = 100_000_000     # the loop's periodic work (steering checks, ...), at most this often
IP_NAMES_MAX = 4096           # address strings shared by the connections that have them
_LISTEN_EVENT = lib.XC_LISTEN_EVENT   # on an event's id: a listener's, not a connection's


@dataclass
class EngineStats:
    """What Python's slow path counts (C counts the rest: c_stats())."""
    slow_segments: int = 0
    malformed: int = 0
    conn_refused_cap: int = 0    # active opens refused: max_concurrency reached
    conn_refused_memory: int = 0 # active opens refused: their buffers, full, would pass buffer_memory_max
    timewait_reused: int = 0



class Engine:
    def __init__(self, port, local_mac, local_addrs, *, tunables=DEFAULTS, resolve=None,
                 steering=None, mtu=1500, isn_key=None, rss=None, rx_queue=0):
        t = tunables
        self.tunables = t
        self.port = port
        self.local_mac = bytes(local_mac)
        self.local_addrs = list(local_addrs)
        self.resolve = resolve
        self.steering = steering
        self.mss = mtu - 40
        cfg = ffi.new("struct xc_tcp_config *")
        cfg.max_tcbs = t.max_concurrency
        cfg.delack_us = int(t.delack_ms * 1000)
        cfg.rto_initial_us = int(t.rto_initial_ms * 1000)
        cfg.rto_min_us = int(t.rto_min_ms * 1000)
        cfg.rto_max_us = int(t.rto_max_ms * 1000)
        cfg.max_retries = t.tcp_retries
        cfg.syn_retries = t.syn_retries
        cfg.initial_window = t.initial_window
        cfg.challenge_ack_limit = t.challenge_ack_limit
        cfg.invalid_ratelimit_us = int(t.invalid_ratelimit_ms * 1000)
        cfg.quickack_segs = t.quickack_segs
        cfg.gso_max_segs = t.gso_max_segs
        cfg.sndbuf_max = max(t.sndbuf_max, t.sndbuf)
        cfg.persist_min_us = 200000
        cfg.persist_max_us = 60000000
        cfg.ttl = t.ttl
        cfg.rcvbuf_max = max(t.rcvbuf_max, t.rcvbuf)
        cfg.timewait_ms = int(t.tcp_timewait * 1000) if t.tcp_timewait > 0 else 0
        cfg.fin_wait2_ms = int(t.fin_wait2_timeout * 1000)
        cfg.idle_timeout_ms = int(t.tcp_timeout * 1000) if t.tcp_timeout > 0 else 0
        cfg.buffer_memory_max = t.buffer_memory_max
        cfg.buffer_pool_cache = t.buffer_pool_cache
        cfg.syn_backlog = t.syn_backlog
        cfg.syncookies = 1 if t.syncookies else 0
        cfg.max_listeners = t.max_listeners
        cfg.pacing = 1 if t.pacing else 0
        ffi.memmove(cfg.local_mac, self.local_mac, 6)
        self.cc_algo = lib.xc_cc_by_name(t.congestion.encode())
        if self.cc_algo < 0:
            raise ValueError("unknown congestion control %r" % t.congestion)
        self.raw = lib.xc_engine_new(port.raw, cfg)
        if self.raw == ffi.NULL:
            raise MemoryError("cannot allocate a TCP engine for %d connections" % t.max_concurrency)
        # one secret per boot for every engine and process (kernel/secret.py):
        # a steering program keeps a copy of the cookie key derived from it
        lib.xc_isn_set_key(isn_key or boot_secret())
        if steering is not None and t.syncookies:
            key = ffi.new("uint8_t[16]")
            lib.xc_syncookie_key(key)
            steering.answer_syns(bytes(key), t.xdp_syn_rate, t.xdp_syn_burst, t.ttl)
        self.burst = Burst(t.rx_burst)
        self._burst_raw = self.burst.raw
        self._res = ffi.new("struct xc_poll_result *")
        self._busy_ns = int(t.busy_poll_us * 1000)
        # the loop's periodic tasks (steering checks, the control channel)
        self.housekeeping = Housekeeping(HOUSEKEEPING_NS)
        if steering is not None:
            self.housekeeping.add(steering.check)
        # what a read copies out of C, once per call (the engine's thread only)
        self.read_buffer_size = READ_BUFFER
        self.read_buffer = ffi.new("uint8_t[]", READ_BUFFER)
        self._slow = ffi.new("uint32_t[]", self.burst.cap)
        self._ev_ids = ffi.new("uint32_t[]", EVENT_CHUNK)
        self._ev_bits = ffi.new("uint32_t[]", EVENT_CHUNK)
        self.conns = {}               # id -> Connection
        self.by_tuple = {}            # (lip, lport, rip, rport) -> Connection
        self.listeners = {}           # (addr or None, port) -> Listener
        self.ephemeral = EphemeralPorts(*t.ephemeral_ports)
        # a multi-queue NIC: active opens take source ports whose replies
        # the NIC's RSS hash (rss: tcp/rss.py RssMap) puts on our queue
        self.rss, self.rx_queue = rss, rx_queue
        self.stats = EngineStats()
        self.want_flush = False
        self._listeners_by_id = {}    # C listener id -> Listener
        # address (network order) -> one dotted-quad str shared by its connections
        self._ip_name = Memo(ip_str, IP_NAMES_MAX)
        # what every active open shares (xc_tcp_open); the tuple is set per call
        self._open = ffi.new("struct xc_tcp_open *")
        self._open.rcvbuf, self._open.sndbuf = t.rcvbuf, t.sndbuf
        self._open.rcv_mss = self.mss
        self._open.cc_algo = self.cc_algo
        self._open.flags = self.offered_options()
        self._open_err = ffi.new("int32_t *")
        self._poller = None
        if port.fd >= 0:
            self._poller = select.poll()
            self._poller.register(port.fd, select.POLLIN)

    @classmethod
    def on_netif(cls, netif, tunables=None, **kwargs):
        """An engine on a NetIf: its port, addresses, MAC, MTU and steering;
        next hops from the kernel's tables."""
        from ..netif import interface_link

        mac, mtu = interface_link(netif.ifname)
        tun = tunables or netif.tunables
        return cls(netif.port, mac, netif.addresses, tunables=tun, resolve=NextHopCache(tun),
                   steering=netif, mtu=mtu, rss=netif.rss, rx_queue=netif.queue, **kwargs)

    @staticmethod
    def now_ns():
        return time.monotonic_ns()

    # -- lifecycle --------------------------------------------------------------------
    def drain(self, timeout=2.0):
        """Poll until every connection has finished closing (released or in
        TIME-WAIT), at most timeout seconds: what the kernel does for a
        process that exits with connections still closing."""
        def quiet():
            return all(c.state in (TcpState.TIME_WAIT, TcpState.CLOSED) or not c.orphan
                       for c in self.conns.values())
        return self.run_until(quiet, timeout)

    def close(self):
        """Reset every connection and free the C engine."""
        if self.raw is None:
            return
        for conn in list(self.conns.values()):
            conn.abort()
        for lst in list(self.listeners.values()):
            lst.close()
        lib.xc_engine_flush(self.raw, self.now_ns())
        lib.xc_engine_free(self.raw)
        self.raw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- counters ---------------------------------------------------------------------
    def _stats(self, pool=ffi.NULL):
        s = ffi.new("struct xc_tcp_stats *")
        lib.xc_engine_get_stats(self.raw, s, pool)
        return s

    def c_stats(self):
        s = self._stats()
        return {name: getattr(s, name) for name, _ in ffi.typeof("struct xc_tcp_stats").fields}

    def tcb_count(self):
        """Connection blocks in use (unaccepted passive opens included)."""
        return self._stats().tcbs

    @property
    def buffer_memory(self):
        """Bytes of storage the connections' buffers hold now: what
        buffer_memory_max caps (a buffer holds storage only while it holds
        data, so idle connections count 0)."""
        return self._stats().buffer_bytes

    @property
    def buffer_capacity(self):
        """Receive and send buffer sizes of every block: what the windows
        and send() may fill, not memory held (C keeps it exact)."""
        return self._stats().buffer_capacity

    def buffer_pool_stats(self):
        """The buffer pool's counters (api_bufpool.h): in use, cached, reuse."""
        pool = ffi.new("struct xc_bufpool_stats *")
        self._stats(pool)
        return {name: getattr(pool, name) for name, _ in ffi.typeof("struct xc_bufpool_stats").fields}

    # -- opening ----------------------------------------------------------------------
    def listen(self, port, addr=None, backlog=128):
        key = (addr, port)
        if key in self.listeners or (None, port) in self.listeners:
            raise OSError(errno.EADDRINUSE, "port %d already listening" % port)
        lst = Listener(self, addr, port, backlog)
        self.listeners[key] = lst
        self._listeners_by_id[lst.id] = lst
        self.steer_listener(lst)
        return lst

    def steer_listener(self, lst):
        """(Re)tell the XDP program about a listener: its port, and how its
        cookie SYN-ACKs look when XDP answers a flood for it."""
        if self.steering is not None:
            self.steering.listen(lst.port, lst.addr, lst.syn_answer())

    def unlisten(self, lst):
        self.listeners.pop((lst.addr, lst.port), None)
        self._listeners_by_id.pop(lst.id, None)
        if self.steering is not None:
            self.steering.unlisten(lst.port, lst.addr)

    def _new_conn(self, local, remote, remote_mac, now):
        o = self._open
        o.local_addr, o.local_port = ip_be(local[0]), port_be(local[1])
        o.remote_addr, o.remote_port = ip_be(remote[0]), port_be(remote[1])
        ffi.memmove(o.remote_mac, remote_mac, 6)
        tcb = lib.xc_tcp_open(self.raw, o, now, self._open_err)
        if tcb == ffi.NULL:
            err = -self._open_err[0]
            if err == errno.EAGAIN:
                self.stats.conn_refused_cap += 1
            elif err == errno.ENOBUFS:
                self.stats.conn_refused_memory += 1
            return None
        return self._track(Connection(self, tcb, local, remote))

    def _track(self, conn):
        self.conns[conn.id] = conn
        self.by_tuple[conn.local + conn.remote] = conn
        return conn

    def adopt(self, tcb, who, children):
        """A connection C established for a listener, now accepted (who: its
        struct xc_tcp_ident): Python meets it here for the first time."""
        conn = Connection(self, tcb, (self._ip_name(who.local_addr), port_str(who.local_port)),
                          (self._ip_name(who.remote_addr), port_str(who.remote_port)))
        conn.active = False
        conn.ephemeral_port = False
        conn.keepalive_idle_s = children.keepalive_idle_s
        conn.keepalive_intvl_s = children.keepalive_intvl_s
        conn.keepalive_cnt = children.keepalive_cnt
        return self._track(conn)

    def resize_buffers(self, conn, rcvbuf=None, sndbuf=None):
        """Resize a connection's receive and/or send buffer (SO_RCVBUF,
        SO_SNDBUF), keeping buffer_capacity exact (storage follows what a
        buffer holds, not its size: only a block larger than the new size
        moves).  A
        buffer never shrinks below the bytes it holds: it shrinks that far.
        Raises ENOBUFS when growing would leave the connection's buffers,
        filled, unable to fit beside the storage the others hold now
        (buffer_memory_max).  Returns (rcvbuf, sndbuf)."""
        for opt, size, which in ((lib.XC_OPT_RCVBUF, rcvbuf, "receive"), (lib.XC_OPT_SNDBUF, sndbuf, "send")):
            if size is None:
                continue
            try:
                conn.setopt(opt, int(size))     # C: never below what it holds; grown: announced
            except OSError as e:
                raise OSError(errno.ENOBUFS, "cannot grow the %s buffer: buffer_memory_max (%d bytes)"
                              % (which, self.tunables.buffer_memory_max)) from e
        return conn.getopt(lib.XC_OPT_RCVBUF), conn.getopt(lib.XC_OPT_SNDBUF)

    def offered_options(self):
        """The XC_TF_* options our SYNs and SYN-ACKs offer."""
        t = self.tunables
        return ((lib.XC_TF_TS_OK if t.timestamps else 0) |
                (lib.XC_TF_SACK_OK if t.sack else 0) |
                (lib.XC_TF_WS_OK if t.window_scaling else 0))

    def connect(self, remote, local_addr=None, local_port=None, setup=None):
        """Active open; returns the connection in SYN-SENT (non-blocking).

        local_port: a port the caller bound (else one from the reserved
        range).  setup(conn) runs before the SYN is built, so socket options
        that shape it (buffer sizes and so the window scale, MSS, Nagle,
        congestion control) are in place."""
        rip, rport = remote
        if self.resolve is None:
            raise OSError(errno.ENETUNREACH, "no next-hop resolver")
        mac = self.resolve(rip)
        lip = local_addr or self.local_addrs[0]
        if local_port:
            if (lip, local_port, rip, rport) in self.by_tuple:
                raise OSError(errno.EADDRNOTAVAIL, "%s:%d to %s:%d is in use" % (lip, local_port, rip, rport))
            lport = local_port
        else:
            rss, queue, taken = self.rss, self.rx_queue, self.by_tuple
            if rss is None:
                lport = self.ephemeral.take(lambda p: (lip, p, rip, rport) in taken)
            else:                     # replies come to (lip, p) from (rip, rport)
                queue_of = rss.local_port_queue(rip, lip, rport)
                lport = self.ephemeral.take(lambda p: (lip, p, rip, rport) in taken or queue_of(p) != queue)
            if lport is None:
                raise OSError(errno.EADDRNOTAVAIL, "no free port in the reserved range")
        now = self.now_ns()
        conn = self._new_conn((lip, lport), (rip, rport), mac, now)
        if conn is None:
            if not local_port:
                self.ephemeral.release(lport)
            raise OSError(errno.EAGAIN, "connection limit reached")
        conn.ephemeral_port = not local_port
        if setup is not None:
            try:
                setup(conn)
            except BaseException:
                self.release(conn)
                raise
        if self.steering is not None:
            self.steering.own_flow(conn.local, conn.remote)
        lib.xc_tcp_connect(self.raw, conn.tcb, now)     # C runs the handshake from here
        self.want_flush = True                            # the SYN leaves with the next batch
        self._drain_events()
        return conn

    # -- the batch loop -----------------------------------------------------------------
    def poll(self, timeout=0.0):
        """One batch.  Waits up to timeout seconds for frames or a timer.
        Returns the number of frames received."""
        if timeout > 0 and self._poller is not None and not self.want_flush:
            rest = self.busy_wait(self.wait_budget(timeout, self.now_ns()))
            if rest > 0:
                self._poller.poll(rest * 1000.0)
        now = self.now_ns()
        res = self._res
        lib.xc_engine_poll(self.raw, self._burst_raw, self._slow, now, res)
        if now >= self.housekeeping.due:
            self.housekeeping.run(now)
        self.want_flush = False
        if res.slow or res.events:
            if res.slow:
                burst = self.burst
                for k in range(res.slow):
                    self._slow_path(burst.frame(self._slow[k]).data, now)
                burst.clear()
            self._drain_events()
            lib.xc_engine_flush(self.raw, now)
        return res.frames

    def wait_budget(self, timeout, now_ns):
        """Seconds a caller may sleep, at most timeout: until the next timer
        or held (delayed) frame is due."""
        wait = timeout
        for due in (self.next_timer_ns(), self.port.next_due_ns()):
            if due:
                wait = min(wait, max(0.0, (due - now_ns) / 1e9))
        return wait

    def busy_wait(self, wait):
        """Watch the RX ring in C up to busy_poll_us (at most wait seconds)
        before the caller sleeps on the port's fd; returns the seconds left
        to sleep (0 when frames came or nothing is left).  A deadline less
        than a millisecond away is watched for whole: poll() sleeps whole
        milliseconds, and RACK's reordering timer, a pacing gap or a delayed
        frame would come up to a millisecond late (ten round trips on a
        veth)."""
        if wait <= 0:
            return 0.0
        spin = int(wait * 1e9) if wait < 0.001 else min(self._busy_ns, int(wait * 1e9))
        if spin <= 0:
            return wait
        rc = lib.xc_port_busy_wait(self.port.raw, spin)
        if rc == 1:
            return 0.0
        return wait if rc < 0 else max(0.0, wait - spin / 1e9)   # < 0: a port that cannot be watched

    def next_timer_ns(self):
        """The earliest deadline C holds (CLOCK_MONOTONIC ns), 0 if none."""
        return lib.xc_engine_next_timer(self.raw)

    def run_until(self, predicate, timeout=10.0, step=0.01):
        """Poll until predicate() is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            self.poll(step if self._poller is not None else 0.0)
            if self._poller is None:
                time.sleep(0)
        return True

    def _drain_events(self):
        while True:
            n = lib.xc_engine_events(self.raw, self._ev_ids, self._ev_bits, EVENT_CHUNK)
            for k in range(n):
                cid = self._ev_ids[k]
                if cid & _LISTEN_EVENT:
                    lst = self._listeners_by_id.get(cid & ~_LISTEN_EVENT)
                    if lst is not None:
                        lst.on_events(self._ev_bits[k])
                    continue
                conn = self.conns.get(cid)          # None: a listener's child, C's alone
                if conn is not None:
                    conn.on_events(self._ev_bits[k])      # a plain int: cheaper than Event()
            if n < EVENT_CHUNK:
                return

    # -- slow path ---------------------------------------------------------------------------
    def _slow_path(self, data, now):
        """A segment C left to Python: a SYN for a tuple in TIME-WAIT, which
        may reopen it for a listener (RFC 9293 §3.10.7.4, RFC 6191: a new
        SYN beyond the old sequence space) once Python released the old
        block; or, for such a tuple, the ACK of a SYN cookie the XDP program
        answered the new SYN with (C checked the cookie: no old duplicate
        carries one).  Every other segment is C's."""
        self.stats.slow_segments += 1
        try:
            f = parse_tcp_frame(data)
        except MalformedFrame:
            self.stats.malformed += 1
            return
        conn = self.by_tuple.get((f.ip.dst, f.tcp.dst_port, f.ip.src, f.tcp.src_port))
        if conn is not None and conn.state == TcpState.TIME_WAIT:
            syn = bool(f.tcp.flags & TcpFlags.SYN)
            if (syn and ((f.tcp.seq - conn.c_info().rcv_nxt) & 0xffffffff) >= 0x80000000
                    or self._listener_for(f) is None):
                return
            self.stats.timewait_reused += 1
            self.release(conn)
        lib.xc_engine_slow_input(self.raw, data, len(data), now)

    def _listener_for(self, f):
        lst = self.listeners.get((f.ip.dst, f.tcp.dst_port)) or self.listeners.get((None, f.tcp.dst_port))
        return None if lst is None or lst.closed else lst

    # -- teardown -----------------------------------------------------------------------------
    def release(self, conn):
        """Forget a connection: tuple, port, steering entry, C block."""
        if conn.released:
            return
        # one struct copy: the dict is built only if someone asks
        conn.final_info = conn.c_info()
        conn._error = conn.getopt(lib.XC_OPT_ERROR)
        conn.released = True
        self.conns.pop(conn.id, None)
        self.by_tuple.pop(conn.local + conn.remote, None)
        if conn.active:
            if self.steering is not None:
                self.steering.release_flow(conn.local, conn.remote)
            if conn.ephemeral_port:
                self.ephemeral.release(conn.local[1])
        lib.xc_tcb_free(self.raw, conn.tcb)
        conn.tcb = None
        conn.notify(Event.STATE)
