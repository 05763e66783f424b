"""Crafted TCP conversations for the monitor's unit tests: frames built
with the wire module, fed to the C core as bursts (no files), or written
to pcap files for the CLI."""
from xdpmtcp._core import ffi, lib
from xdpmtcp.monitor.core import Ev, EVENT, Monitor
from xdpmtcp.phy.burst import Burst
from xdpmtcp.wire.frame import build_tcp_frame

from pcapgen import pcap_file

MAC_C = b"\x02\0\0\0\0\x01"
MAC_S = b"\x02\0\0\0\0\x02"
C_IP, S_IP = "198.18.0.1", "198.18.0.2"
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


class Conv:
    """One client/server conversation with sequence numbers kept for you.

    c(...) / s(...) build a frame from the client / server; seq and ack
    default to what each side has sent so far, and advance with what is
    built (pass seq= to build retransmissions or out-of-order segments
    without moving the counters)."""

    def __init__(self, cport=40000, sport=80, ciss=1000, siss=5000, c_ip=C_IP, s_ip=S_IP,
                 wnd=65535):
        self.cport, self.sport = cport, sport
        self.c_ip, self.s_ip = c_ip, s_ip
        self.ciss, self.siss = ciss, siss
        self.cnxt, self.snxt = ciss, siss      # next seq each side sends
        self.wnd = wnd

    def _frame(self, client, flags, data=b"", seq=None, ack=None, wnd=None, advance=True):
        nxt = self.cnxt if client else self.snxt
        other = self.snxt if client else self.cnxt
        s = nxt if seq is None else seq
        a = other if ack is None else ack
        w = self.wnd if wnd is None else wnd
        if client:
            fr = build_tcp_frame(MAC_C, MAC_S, self.c_ip, self.s_ip, self.cport, self.sport,
                                 s & 0xffffffff, a & 0xffffffff, flags, w, payload=data)
        else:
            fr = build_tcp_frame(MAC_S, MAC_C, self.s_ip, self.c_ip, self.sport, self.cport,
                                 s & 0xffffffff, a & 0xffffffff, flags, w, payload=data)
        if advance and seq is None:
            n = len(data) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            if client:
                self.cnxt += n
            else:
                self.snxt += n
        return fr

    def c(self, flags=ACK, data=b"", **kw):
        return self._frame(True, flags, data, **kw)

    def s(self, flags=ACK, data=b"", **kw):
        return self._frame(False, flags, data, **kw)

    def handshake(self):
        return [self.c(SYN, ack=0), self.s(SYN | ACK), self.c(ACK)]

    def close(self):
        """Client FIN, server ACK, server FIN, client ACK."""
        return [self.c(FIN | ACK), self.s(ACK), self.s(FIN | ACK), self.c(ACK)]


def burst_of(frames, t0_ns=1_000_000_000, step_ns=1000, ts=None):
    """A Burst holding frames (classified as the live path would)."""
    b = Burst(max(1, len(frames)))
    raw = b.raw
    off = 0
    for i, fr in enumerate(frames):
        p = raw.pkts + i
        ffi.memmove(raw.data + off, fr, len(fr))
        p.off = off
        p.len = len(fr)
        lib.xc_frame_classify(raw.data + off, len(fr), p)
        p.owner = 0
        p.ts_ns = ts[i] if ts is not None else t0_ns + i * step_ns
        off += lib.XC_FRAME_MAX
    raw.n = len(frames)
    return b


def write_pcap(path, frames, t0_ns=1_000_000_000, step_ns=1000):
    with open(path, "wb") as f:
        f.write(pcap_file([(t0_ns + i * step_ns, fr) for i, fr in enumerate(frames)]))
    return path


class Run:
    """A monitor and everything it reported: events (tuples) and, with
    drain, the bytes of each (flow, side) with gaps marked."""

    def __init__(self, **kw):
        kw.setdefault("drain", True)
        self.mon = Monitor(**kw)
        self.events = []
        self.data = {}      # (flow, side) -> bytearray
        self.gaps = {}      # (flow, side) -> [(off, len)]
        self.ended = {}     # flow id -> flow summary at CONN_END
        self.calls = 0

    def _take(self, evs):
        from xdpmtcp.monitor.core import flow_summary
        self.calls += 1
        for e in evs:
            kind, flow, pkt, side, hook, code, arg, val, pos, _ = e
            self.events.append(e)
            if kind == Ev.DATA:
                self.data.setdefault((flow, side), bytearray()).extend(self.mon.out(pos, val))
            elif kind == Ev.GAP:
                self.gaps.setdefault((flow, side), []).append((arg, val))
            elif kind == Ev.CONN_END:
                from xdpmtcp.monitor.connlog import conn_record
                f = self.mon.flow(flow)
                self.ended[flow] = flow_summary(f)
                self.ended[flow]["conn"] = conn_record(f)

    def feed(self, frames, **kw):
        b = burst_of(frames, **kw)
        for evs in self.mon.feed(b):
            self._take(evs)
        return self

    def flush(self):
        for evs in self.mon.flush():
            self._take(evs)
        return self

    def expire(self, now_ns):
        for evs in self.mon.expire(now_ns):
            self._take(evs)
        return self

    def kinds(self, flow=None, skip=(Ev.PKT_IN,)):
        """[(pkt, EvName, side, hook, code)] without the kinds in skip."""
        out = []
        for kind, fl, pkt, side, hook, code, arg, val, pos, _ in self.events:
            if kind in skip or (flow is not None and fl != flow):
                continue
            out.append((pkt, Ev(kind).name, side, hook, code))
        return out

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]

    def stream(self, flow, side):
        """Bytes with every gap filled by NULs (how the ring tests write holes)."""
        pieces = []
        data = bytes(self.data.get((flow, side), b""))
        gaps = sorted(self.gaps.get((flow, side), []))
        pos = 0      # in data
        off = 0      # in the stream
        for goff, glen in gaps:
            n = goff - off
            pieces.append(data[pos:pos + n])
            pos += n
            pieces.append(b"\0" * glen)
            off = goff + glen
        pieces.append(data[pos:])
        return b"".join(pieces)


assert EVENT.size == 40
