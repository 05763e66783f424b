"""The TCP engine's control plane: one per port (per core/queue).

Each ``poll`` is one batch: receive frames, let C run every synchronized
connection's segments, handle the rest here (handshakes, unknown tuples),
react to C's events, fire due timers, and send.  Python is called per batch
and per handshake segment, never per data segment.
"""
import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from .._core import ffi, lib
from ..phy import Burst
from ..tunables import DEFAULTS
from ..wire import MalformedFrame, TcpFlags, parse_tcp_frame
from ..wire.seq import seq_add
from .connection import Connection
from .listener import Listener
from .ports import EphemeralPorts
from .state import Event, TcpState, Timer
from .timers import TimerHeap

EVENT_CHUNK = 1024


def ip_be(ip):
    """Dotted quad -> the uint32 C keeps in network order."""
    return struct.unpack("=I", socket.inet_aton(ip))[0]


def port_be(port):
    return socket.htons(port)


def ip_str(v):
    return socket.inet_ntoa(struct.pack("=I", v))


@dataclass
class EngineStats:
    slow_segments: int = 0
    rst_sent: int = 0            # answers to segments for no connection
    malformed: int = 0
    syn_sent_bad_ack: int = 0
    conn_refused_cap: int = 0    # max_concurrency reached
    conn_refused_memory: int = 0 # buffer_memory_max reached
    timewait_reused: int = 0
    timers_fired: int = 0
    rcvbuf_grown: int = 0        # autotuning doubled a receive buffer
    rcvbuf_grow_refused: int = 0 # ... or would have, past buffer_memory_max


class Engine:
    def __init__(self, port, local_mac, local_addrs, *, tunables=DEFAULTS, resolve=None,
                 steering=None, mtu=1500, isn_key=None):
        t = tunables
        self.tunables = t
        self.port = port
        self.local_mac = bytes(local_mac)
        self.local_addrs = list(local_addrs)
        self.resolve = resolve
        self.steering = steering
        self.mss = mtu - 40
        cfg = ffi.new("struct xc_tcp_config *")
        cfg.max_tcbs = t.max_concurrency + 1          # one scratch block
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
        cfg.persist_min_us = 200000
        cfg.persist_max_us = 60000000
        cfg.ttl = t.ttl
        cfg.rcvbuf_max = max(t.rcvbuf_max, t.rcvbuf)
        self.cc_algo = lib.xc_cc_by_name(t.congestion.encode())
        if self.cc_algo < 0:
            raise ValueError("unknown congestion control %r" % t.congestion)
        self.raw = lib.xc_engine_new(port.raw, cfg)
        if self.raw == ffi.NULL:
            raise MemoryError("cannot allocate a TCP engine for %d connections" % t.max_concurrency)
        lib.xc_isn_set_key(isn_key or os.urandom(16))
        self.burst = Burst(t.rx_burst)
        self._slow = ffi.new("uint32_t[]", self.burst.cap)
        self._ev_ids = ffi.new("uint32_t[]", EVENT_CHUNK)
        self._ev_bits = ffi.new("uint32_t[]", EVENT_CHUNK)
        self.conns = {}               # id -> Connection
        self.by_tuple = {}            # (lip, lport, rip, rport) -> Connection
        self.listeners = {}           # (addr or None, port) -> Listener
        self.timers = TimerHeap()
        self.ephemeral = EphemeralPorts(*t.ephemeral_ports)
        self.stats = EngineStats()
        self.buffer_memory = 0
        self.want_flush = False
        # answers without a connection (cookie SYN-ACKs) are sent from this block
        self._scratch = lib.xc_tcb_alloc(self.raw, t.rcvbuf, 0)
        self._poller = None
        if port.fd >= 0:
            self._poller = select.poll()
            self._poller.register(port.fd, select.POLLIN)

    @classmethod
    def on_netif(cls, netif, tunables=None, **kwargs):
        """An engine on a NetIf: its port, addresses, MAC, MTU and steering;
        next hops from the kernel's tables."""
        from ..kernel import resolve_next_hop
        from ..netif import interface_link

        mac, mtu = interface_link(netif.ifname)
        tun = tunables or netif.tunables
        cache = {}                    # ip -> (mac, expiry): one netlink lookup per peer

        def resolve(ip):
            hit = cache.get(ip)
            now = time.monotonic()
            if hit and hit[1] > now:
                return hit[0]
            hop = resolve_next_hop(ip, tun.neighbour_timeout_s)
            mac_bytes = bytes.fromhex(hop.dst_mac.replace(":", ""))
            if len(cache) >= 4096:    # cap: forget everything, relearn on demand
                cache.clear()
            cache[ip] = (mac_bytes, now + tun.neighbour_cache_s)
            return mac_bytes

        return cls(netif.port, mac, netif.addresses, tunables=tunables or netif.tunables, resolve=resolve,
                   steering=netif, mtu=mtu, **kwargs)

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
    def c_stats(self):
        s = ffi.new("struct xc_tcp_stats *")
        lib.xc_engine_get_stats(self.raw, s)
        return {name: getattr(s, name) for name, _ in ffi.typeof("struct xc_tcp_stats").fields}

    def tcb_count(self):
        """Connection blocks in use (the scratch block not counted)."""
        return lib.xc_engine_tcb_count(self.raw) - 1

    # -- opening ----------------------------------------------------------------------
    def listen(self, port, addr=None, backlog=128):
        key = (addr, port)
        if key in self.listeners or (None, port) in self.listeners:
            raise OSError(errno.EADDRINUSE, "port %d already listening" % port)
        lst = Listener(self, addr, port, backlog)
        self.listeners[key] = lst
        if self.steering is not None:
            self.steering.listen(port, addr)
        return lst

    def unlisten(self, lst):
        self.listeners.pop((lst.addr, lst.port), None)
        if self.steering is not None:
            self.steering.unlisten(lst.port, lst.addr)

    def _new_conn(self, local, remote, remote_mac, listener):
        t = self.tunables
        if len(self.conns) >= t.max_concurrency:
            self.stats.conn_refused_cap += 1
            return None
        if self.buffer_memory + t.rcvbuf + t.sndbuf > t.buffer_memory_max:
            self.stats.conn_refused_memory += 1
            return None
        tcb = lib.xc_tcb_alloc(self.raw, t.rcvbuf, t.sndbuf)
        if tcb == ffi.NULL:
            self.stats.conn_refused_memory += 1
            return None
        self.buffer_memory += t.rcvbuf + t.sndbuf
        tcb.local_addr, tcb.local_port = ip_be(local[0]), port_be(local[1])
        tcb.remote_addr, tcb.remote_port = ip_be(remote[0]), port_be(remote[1])
        ffi.memmove(tcb.local_mac, self.local_mac, 6)
        ffi.memmove(tcb.remote_mac, remote_mac, 6)
        tcb.rcv_mss = self.mss
        tcb.cc_algo = self.cc_algo
        if lib.xc_tcb_bind(self.raw, tcb) < 0:
            lib.xc_tcb_free(self.raw, tcb)
            self.buffer_memory -= t.rcvbuf + t.sndbuf
            return None
        conn = Connection(self, tcb, local, remote, listener)
        conn.buffer_bytes = t.rcvbuf + t.sndbuf
        self.conns[conn.id] = conn
        self.by_tuple[local + remote] = conn
        return conn

    def resize_buffers(self, conn, rcvbuf=None, sndbuf=None):
        """Resize a connection's receive and/or send buffer (SO_RCVBUF,
        SO_SNDBUF), keeping buffer_memory exact.  A buffer never shrinks
        below the bytes it holds: it shrinks that far.  Raises ENOBUFS when
        growing would pass buffer_memory_max.  Returns (rcvbuf, sndbuf)."""
        tcb = conn.tcb
        # what each ring holds (out-of-order bytes included) bounds a shrink
        want_rcv = max(tcb.rcv.cap if rcvbuf is None else int(rcvbuf),
                       int(tcb.rcv.high_off - tcb.rcv.read_off))
        want_snd = max(tcb.snd.cap if sndbuf is None else int(sndbuf),
                       int(tcb.snd.high_off - tcb.snd.read_off))
        before = tcb.rcv.cap + tcb.snd.cap
        grow = want_rcv + want_snd - before
        if grow > 0 and self.buffer_memory + grow > self.tunables.buffer_memory_max:
            raise OSError(errno.ENOBUFS, "buffer_memory_max (%d bytes) reached"
                          % self.tunables.buffer_memory_max)
        if want_rcv != tcb.rcv.cap and lib.xc_tcp_set_rcvbuf(self.raw, tcb, want_rcv) < 0:
            raise OSError(errno.ENOMEM, "cannot resize the receive buffer")
        if want_snd != tcb.snd.cap and lib.xc_tcp_set_sndbuf(self.raw, tcb, want_snd) < 0:
            raise OSError(errno.ENOMEM, "cannot resize the send buffer")
        after = tcb.rcv.cap + tcb.snd.cap
        self.buffer_memory += after - before
        conn.buffer_bytes += after - before
        if tcb.state >= TcpState.ESTABLISHED and grow > 0:
            # a grown buffer is announced at once (a peer facing a zero
            # window would otherwise wait for its persist timer)
            tcb.flags |= lib.XC_TF_ACK_NOW
            lib.xc_tcp_mark_output(self.raw, tcb)
            self.want_flush = True
        return tcb.rcv.cap, tcb.snd.cap

    @staticmethod
    def _scale_for_fixed_buffer(conn):
        """xc_tcp_init_conn sizes the window scale for the autotuning
        ceiling; a buffer the application fixed (SO_RCVBUF, which turns
        autotuning off) gets the scale of its own size, as in Linux."""
        if not conn.rcvbuf_autotune:
            tcb = conn.tcb
            shift = 0
            while shift < 14 and (tcb.rcv.cap >> shift) > 65535:
                shift += 1
            tcb.rcv_wscale = shift

    def autotune_rcvbuf(self, conn):
        """Receive-buffer autotuning: when the sender has used 3/4 of the
        window we offered (it is window-limited), or what the ring holds
        (unread plus out of order) passes 3/4 of it, double the buffer up to
        rcvbuf_max, as long as buffer_memory_max allows (policy at the cap:
        stay as is)."""
        tcb = conn.tcb
        rcv = tcb.rcv
        limit = self.tunables.rcvbuf_max
        if rcv.cap >= limit:
            return
        window_left = (tcb.rcv_adv - tcb.rcv_nxt) & 0xffffffff
        if window_left > 0x7fffffff:
            window_left = 0
        held = rcv.high_off - rcv.read_off
        if window_left * 4 > rcv.cap and held * 4 < rcv.cap * 3:
            return
        try:
            self.resize_buffers(conn, rcvbuf=min(rcv.cap * 2, limit))
            self.stats.rcvbuf_grown += 1
        except OSError:
            self.stats.rcvbuf_grow_refused += 1

    def _offer_options(self, tcb):
        t = self.tunables
        tcb.flags = ((lib.XC_TF_TS_OK if t.timestamps else 0) |
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
            lport = self.ephemeral.take(lambda p: (lip, p, rip, rport) in self.by_tuple)
            if lport is None:
                raise OSError(errno.EADDRNOTAVAIL, "no free port in the reserved range")
        conn = self._new_conn((lip, lport), (rip, rport), mac, None)
        if conn is None:
            if not local_port:
                self.ephemeral.release(lport)
            raise OSError(errno.EAGAIN, "connection limit reached")
        conn.ephemeral_port = not local_port
        now = self.now_ns()
        tcb = conn.tcb
        tcb.iss = lib.xc_isn(tcb.local_addr, tcb.remote_addr, tcb.local_port, tcb.remote_port, now)
        self._offer_options(tcb)
        if setup is not None:
            try:
                setup(conn)
            except BaseException:
                self.release(conn)
                raise
        lib.xc_tcp_init_conn(self.raw, tcb, now)
        self._scale_for_fixed_buffer(conn)
        if self.steering is not None:
            self.steering.own_flow(conn.local, conn.remote)
        conn._set_state(TcpState.SYN_SENT)
        conn.syn_sent_ns = now
        lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_SYN, now)
        self._drain_events()
        return conn

    def _conn_answering(self, f, listener):
        """A new block for the tuple of segment f, seen from our side."""
        return self._new_conn((f.ip.dst, f.tcp.dst_port), (f.ip.src, f.tcp.src_port), f.eth.src,
                              listener)

    def passive_open(self, listener, f, now_ns):
        """A SYN-RCVD connection answering SYN f (SYN-ACK sent)."""
        conn = self._conn_answering(f, listener)
        if conn is None:
            return None
        tcb = conn.tcb
        tcb.iss = lib.xc_isn(tcb.local_addr, tcb.remote_addr, tcb.local_port, tcb.remote_port, now_ns)
        self._offer_options(tcb)
        if listener.child_setup is not None:
            listener.child_setup(conn)    # the listening socket's options
        self._negotiate(tcb, f)
        tcb.irs = f.tcp.seq
        tcb.rcv_nxt = seq_add(f.tcp.seq, 1)
        lib.xc_tcp_init_conn(self.raw, tcb, now_ns)
        self._scale_for_fixed_buffer(conn)
        conn._set_state(TcpState.SYN_RCVD)
        conn.syn_sent_ns = now_ns
        lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_SYNACK, now_ns)
        return conn

    def cookie_open(self, listener, f, mss, now_ns):
        """A connection rebuilt from a valid SYN-cookie ACK (no options
        beyond the MSS survive a cookie)."""
        conn = self._conn_answering(f, listener)
        if conn is None:
            return None
        tcb = conn.tcb
        tcb.iss = (f.tcp.ack - 1) & 0xffffffff
        tcb.irs = (f.tcp.seq - 1) & 0xffffffff
        tcb.rcv_nxt = f.tcp.seq
        tcb.flags = 0
        tcb.peer_mss = mss
        if listener.child_setup is not None:
            listener.child_setup(conn)
        lib.xc_tcp_init_conn(self.raw, tcb, now_ns)
        tcb.rcv_wscale = 0
        # the window the stateless SYN-ACK offered (unscaled, as in any SYN)
        tcb.rcv_adv = (tcb.rcv_nxt + min(self.tunables.rcvbuf, 65535)) & 0xffffffff
        self._establish(conn, f, now_ns, rtt_ns=0)
        return conn

    def _negotiate(self, tcb, f):
        """Keep the options both sides offered (f is the peer's SYN or SYN-ACK)."""
        o = f.tcp.options
        keep = 0
        if o.timestamp is not None and tcb.flags & lib.XC_TF_TS_OK:
            keep |= lib.XC_TF_TS_OK
            tcb.ts_recent = o.timestamp[0]
        if o.sack_permitted and tcb.flags & lib.XC_TF_SACK_OK:
            keep |= lib.XC_TF_SACK_OK
        if o.window_scale is not None and tcb.flags & lib.XC_TF_WS_OK:
            keep |= lib.XC_TF_WS_OK
            tcb.snd_wscale = min(o.window_scale, 14)
        tcb.flags = (tcb.flags & ~(lib.XC_TF_TS_OK | lib.XC_TF_SACK_OK | lib.XC_TF_WS_OK)) | keep
        tcb.peer_mss = o.mss or 536

    def _establish(self, conn, f, now_ns, rtt_ns):
        """Move a handshaking connection to ESTABLISHED on segment f, which
        acknowledged our SYN."""
        tcb = conn.tcb
        tcb.snd_una = f.tcp.ack
        if ((tcb.snd_nxt - tcb.snd_una) & 0xffffffff) > 0x7fffffff:
            tcb.snd_nxt = f.tcp.ack
        tcb.snd_max = tcb.snd_nxt
        syn = f.tcp.flags & TcpFlags.SYN
        # the window in a SYN-ACK is never scaled (RFC 7323 §2.2)
        tcb.snd_wnd = f.tcp.window if syn else f.tcp.window << tcb.snd_wscale
        tcb.max_snd_wnd = tcb.snd_wnd
        tcb.snd_wl1 = f.tcp.seq
        tcb.snd_wl2 = f.tcp.ack
        lib.xc_tcp_init_established(self.raw, tcb, now_ns)
        if rtt_ns > 0:
            lib.xc_tcp_rtt_sample(self.raw, tcb, max(1, rtt_ns // 1000))
        conn._set_state(TcpState.ESTABLISHED)
        if tcb.flags & lib.XC_TF_KEEPALIVE:
            conn.set_keepalive(True)      # SO_KEEPALIVE set before the handshake
        if self.tunables.tcp_timeout > 0:
            conn._arm_python_timer(self.tunables.tcp_timeout)   # idle timeout
        if conn.orphan:
            conn.shutdown_write()

    # -- the batch loop -----------------------------------------------------------------
    def poll(self, timeout=0.0):
        """One batch.  Waits up to timeout seconds for frames or a timer.
        Returns the number of frames received."""
        if timeout > 0 and self._poller is not None and not self.want_flush:
            wait = timeout
            for due in (self.timers.next_due(), self.port.next_due_ns()):
                if due:
                    wait = min(wait, max(0.0, (due - self.now_ns()) / 1e9))
            if wait > 0:
                self._poller.poll(wait * 1000.0)
        burst = self.burst
        n = self.port.rx(burst)
        now = self.now_ns()
        if n:
            nslow = lib.xc_engine_rx(self.raw, burst.raw, self._slow, burst.cap, now)
            for k in range(nslow):
                self._slow_path(burst.frame(self._slow[k]).data, now)
            burst.clear()
        self._drain_events()
        if self.timers.next_due() and self.timers.next_due() <= now:
            self._run_timers(now)
            self._drain_events()
        self.want_flush = False
        lib.xc_engine_flush(self.raw, now)
        return n

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
                conn = self.conns.get(self._ev_ids[k])
                if conn is not None:
                    conn.on_events(self._ev_bits[k])      # a plain int: cheaper than Event()
            if n < EVENT_CHUNK:
                return

    def _run_timers(self, now):
        for due, conn_id in self.timers.pop_due(now):
            conn = self.conns.get(conn_id)
            if conn is None or conn.released:
                continue
            tcb = conn.tcb
            if tcb.timer_queued_ns == due:
                tcb.timer_queued_ns = 0
            for kind in Timer:
                if conn.released:
                    break
                d = tcb.timer_due[kind]
                if d and d <= now:
                    self.stats.timers_fired += 1
                    conn.on_timer(kind, now)
            if not conn.released:
                self.timers.schedule(tcb, conn_id, lib.xc_tcb_next_deadline(tcb))

    # -- slow path ---------------------------------------------------------------------------
    def _slow_path(self, data, now):
        self.stats.slow_segments += 1
        try:
            f = parse_tcp_frame(data)
        except MalformedFrame:
            self.stats.malformed += 1
            return
        key = (f.ip.dst, f.tcp.dst_port, f.ip.src, f.tcp.src_port)
        conn = self.by_tuple.get(key)
        flags = f.tcp.flags
        if conn is not None:
            st = conn.state
            if st == TcpState.SYN_SENT:
                return self._in_syn_sent(conn, f, data, now)
            if st == TcpState.SYN_RCVD:
                return self._in_syn_rcvd(conn, f, data, now)
            if st == TcpState.TIME_WAIT and flags & TcpFlags.SYN and not flags & TcpFlags.ACK:
                # RFC 9293 §3.10.7.4 / RFC 6191: a new SYN beyond the old
                # sequence space may reopen the tuple
                if ((f.tcp.seq - conn.tcb.rcv_nxt) & 0xffffffff) < 0x80000000 and \
                        self._listener_for(f) is not None:
                    self.stats.timewait_reused += 1
                    self.release(conn)
                    conn = None
                else:
                    return
            elif st == TcpState.CLOSED:
                if not flags & TcpFlags.RST:
                    self._reset(data)
                return
            else:
                # synchronized since C saw the frame (its handshake ended
                # earlier in this batch): C's input takes it now
                lib.xc_tcp_input(self.raw, conn.tcb, data, len(data), now)
                return
        lst = self._listener_for(f)
        if lst is not None and not lst.closed:
            if flags & TcpFlags.SYN and not flags & (TcpFlags.ACK | TcpFlags.RST | TcpFlags.FIN):
                return lst.on_syn(f, now)
            if not flags & (TcpFlags.ACK | TcpFlags.RST):
                # RFC 9293 §3.10.7.2: neither SYN nor ACK nor RST (FIN, NULL
                # and Xmas scans) is dropped in LISTEN, as Linux does
                lst.stats.probes_dropped += 1
                return
            if flags & TcpFlags.ACK and not flags & TcpFlags.RST:
                conn = lst.on_bare_ack(f, now)
                if conn is not None:
                    if f.tcp.payload or flags & TcpFlags.FIN:
                        lib.xc_tcp_input(self.raw, conn.tcb, data, len(data), now)
                    return
        if not flags & TcpFlags.RST:
            self._reset(data)

    def _listener_for(self, f):
        return self.listeners.get((f.ip.dst, f.tcp.dst_port)) or \
            self.listeners.get((None, f.tcp.dst_port))

    def _reset(self, data):
        self.stats.rst_sent += 1
        lib.xc_tcp_send_reset_for(self.raw, data, len(data))

    def _in_syn_sent(self, conn, f, data, now):
        """RFC 9293 §3.10.7.3."""
        tcb = conn.tcb
        flags = f.tcp.flags
        if flags & TcpFlags.ACK:
            if f.tcp.ack != tcb.snd_nxt:
                self.stats.syn_sent_bad_ack += 1
                if not flags & TcpFlags.RST:
                    self._reset(data)
                return
            if flags & TcpFlags.RST:
                conn.fail(errno.ECONNREFUSED)
                return
        elif flags & TcpFlags.RST:
            return
        if not flags & TcpFlags.SYN:
            return
        self._negotiate(tcb, f)
        tcb.irs = f.tcp.seq
        tcb.rcv_nxt = seq_add(f.tcp.seq, 1)
        tcb.rcv_adv = tcb.rcv_nxt
        if flags & TcpFlags.ACK:
            rtt = 0 if tcb.c.retrans_segs else now - conn.syn_sent_ns
            self._establish(conn, f, now, rtt)
            lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_ACK, now)
            conn.notify(Event.WRITABLE)
        else:
            # simultaneous open: SYN-RCVD, our SYN again with an ACK
            conn._set_state(TcpState.SYN_RCVD)
            lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_SYNACK, now)

    def _in_syn_rcvd(self, conn, f, data, now):
        """RFC 9293 §3.10.7.4 for SYN-RECEIVED."""
        tcb = conn.tcb
        flags = f.tcp.flags
        in_window = ((f.tcp.seq - tcb.rcv_nxt) & 0xffffffff) < max(1, tcb.rcv.cap)
        if flags & TcpFlags.RST:
            if in_window:
                if conn.listener is not None:
                    conn.orphan = True
                conn.fail(errno.ECONNREFUSED)
            return
        if flags & TcpFlags.SYN:
            if f.tcp.seq == tcb.irs and not flags & TcpFlags.ACK:
                if conn.listener is not None:
                    conn.listener.stats.syn_retransmits_seen += 1
                lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_SYNACK, now)
            elif flags & TcpFlags.ACK and f.tcp.ack == tcb.snd_nxt:
                # the peer's SYN-ACK in a simultaneous open
                tcb.rcv_adv = tcb.rcv_nxt
                self._establish(conn, f, now, 0)
                lib.xc_tcp_send_ctl(self.raw, tcb, lib.XC_CTL_ACK, now)
                conn.notify(Event.WRITABLE)
            return
        if not flags & TcpFlags.ACK:
            return
        if f.tcp.ack != tcb.snd_nxt:
            self._reset(data)
            return
        if not in_window:
            return
        o = f.tcp.options
        if tcb.flags & lib.XC_TF_TS_OK and o.timestamp is not None:
            tcb.ts_recent = o.timestamp[0]
        rtt = 0 if tcb.c.retrans_segs else now - conn.syn_sent_ns
        self._establish(conn, f, now, rtt)
        if conn.listener is not None:
            conn.listener.on_child_change(conn)
        else:
            conn.notify(Event.WRITABLE)
        if f.tcp.payload or flags & TcpFlags.FIN:
            lib.xc_tcp_input(self.raw, tcb, data, len(data), now)

    # -- teardown -----------------------------------------------------------------------------
    def release(self, conn):
        """Forget a connection: tuple, port, steering entry, C block."""
        if conn.released:
            return
        conn.final_counters = conn.counters()
        conn.released = True
        self.conns.pop(conn.id, None)
        self.by_tuple.pop(conn.local + conn.remote, None)
        if conn.listener is not None:
            conn.listener.forget(conn)
        if conn.active:
            if self.steering is not None:
                self.steering.release_flow(conn.local, conn.remote)
            if conn.ephemeral_port:
                self.ephemeral.release(conn.local[1])
        self.buffer_memory -= conn.buffer_bytes   # what it holds, resized or not
        lib.xc_tcb_free(self.raw, conn.tcb)
        conn.tcb = None
        conn.notify(Event.STATE)

    def scratch_for(self, f):
        """The scratch block addressed as a reply to f (stateless answers)."""
        t = self._scratch
        t.local_addr, t.local_port = ip_be(f.ip.dst), port_be(f.tcp.dst_port)
        t.remote_addr, t.remote_port = ip_be(f.ip.src), port_be(f.tcp.src_port)
        ffi.memmove(t.local_mac, self.local_mac, 6)
        ffi.memmove(t.remote_mac, f.eth.src, 6)
        return t
