"""A stateless TCP echo responder on the stack's data path (demo and
foundation tests; the real TCP engine replaces it).

SYN -> SYN-ACK; data -> ACK plus the same bytes echoed back; FIN -> FIN-ACK;
everything it sees is reported one line per segment, tcpdump style.  It keeps
no per-connection state: its sequence space mirrors the peer's (our ISN is
the peer's plus a keyed hash of the 4-tuple, and every byte echoed mirrors
one received), so the reply to any segment, a FIN that overtakes the echo's
ACK included, carries the right sequence number.  Nothing it sends is
retransmitted.
"""
import hashlib
import os
import select
import struct
import time
from dataclasses import dataclass, field

from . import wire
from ._core import lib
from .phy import Burst
from .wire import TcpFlags

MSS = 1460
WINDOW = 65535


@dataclass
class ResponderStats:
    syn: int = 0
    synack_sent: int = 0
    data_segments: int = 0
    data_bytes: int = 0
    echoed_bytes: int = 0
    fin: int = 0
    rst: int = 0
    other: int = 0
    malformed: int = 0


@dataclass
class Seen:
    """One segment as the responder saw it (for tests and the printout)."""
    summary: str
    seg_class: int
    frame: wire.TcpFrame
    replies: list = field(default_factory=list)


class EchoResponder:
    def __init__(self, netif, port, on_segment=None, secret=None):
        self.netif = netif
        self.port_number = port
        self.on_segment = on_segment or (lambda seen: None)
        self.secret = secret or os.urandom(16)
        self.stats = ResponderStats()
        self.burst = Burst(netif.tunables.rx_burst)
        self._poller = select.poll()
        self._poller.register(netif.port.fd, select.POLLIN)

    def _mirror(self, f):
        """Our sequence number minus the peer's, the same for every segment
        of a connection: a keyed hash of the 4-tuple (RFC 6528's secret part;
        no clock, or the mirror would drift)."""
        key = struct.pack("!4s4sHH", f.ip.src_bytes, f.ip.dst_bytes, f.tcp.src_port, f.tcp.dst_port)
        return int.from_bytes(hashlib.blake2s(key, key=self.secret, digest_size=4).digest(), "big")

    def _reply(self, f, seq, ack, flags, payload=b"", options=None):
        return wire.build_tcp_frame(
            src_mac=f.eth.dst, dst_mac=f.eth.src,
            src_ip=f.ip.dst, dst_ip=f.ip.src,
            sport=f.tcp.dst_port, dport=f.tcp.src_port,
            seq=seq, ack=ack, flags=flags, window=WINDOW,
            options=options, payload=payload)

    def handle(self, data, seg_class):
        """Replies (frames) for one received frame."""
        try:
            f = wire.parse_tcp_frame(data)
        except wire.MalformedFrame:
            self.stats.malformed += 1
            return Seen("malformed frame", seg_class, None), []
        t = f.tcp
        flags = TcpFlags(t.flags)
        replies = []
        if flags & TcpFlags.RST:
            self.stats.rst += 1
        elif flags & TcpFlags.SYN and not flags & TcpFlags.ACK:
            self.stats.syn += 1
            mss = min(MSS, t.options.mss or 536)
            replies.append(self._reply(f, (t.seq + self._mirror(f)) & 0xFFFFFFFF, (t.seq + 1) & 0xFFFFFFFF,
                                       TcpFlags.SYN | TcpFlags.ACK,
                                       options=wire.TcpOptions(mss=mss)))
            self.stats.synack_sent += 1
        elif flags & TcpFlags.ACK and (t.payload or flags & TcpFlags.FIN):
            n = len(t.payload)
            fin = bool(flags & TcpFlags.FIN)
            ack = (t.seq + n + fin) & 0xFFFFFFFF
            if n:
                self.stats.data_segments += 1
                self.stats.data_bytes += n
            echo = bytes(t.payload[:MSS])
            out = TcpFlags.ACK | (TcpFlags.PSH if echo else 0) | (TcpFlags.FIN if fin else 0)
            replies.append(self._reply(f, (t.seq + self._mirror(f)) & 0xFFFFFFFF, ack, out, payload=echo))
            self.stats.echoed_bytes += len(echo)
            self.stats.fin += fin
        else:
            self.stats.other += 1
        return Seen(wire.describe(f), seg_class, f, replies), replies

    def poll_once(self, timeout_s=0.1):
        """Wait up to timeout_s for frames, answer them; returns frames seen."""
        port = self.netif.port
        due = port.next_due_ns()
        if due:
            timeout_s = max(0.0, min(timeout_s, (due - lib.xc_monotonic_ns()) / 1e9))
        self._poller.poll(timeout_s * 1000)
        self.burst.clear()
        n = port.rx(self.burst)
        replies = []
        for frame in self.burst:
            seen, out = self.handle(frame.data, frame.seg_class)
            replies.extend(out)
            self.on_segment(seen)
        if replies:
            port.tx(replies)
        port.flush()
        return n

    def run(self, duration=None, stop=None):
        end = None if duration is None else time.monotonic() + duration
        while (end is None or time.monotonic() < end) and not (stop and stop.is_set()):
            self.poll_once()
