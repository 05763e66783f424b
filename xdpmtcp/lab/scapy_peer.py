"""A hand-driven TCP peer built with scapy, for cases no kernel client can
make: malformed options, overlapping segments, sequence wraparound, a
zero window held, a window that shrinks.  Run in the peer namespace:

    python -m xdpmtcp.lab.scapy_peer SCENARIO IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT

It prints one JSON line.  The peer uses an address its own kernel does not
own (the stack side gets a static neighbour entry for it), so the peer's
kernel never answers the stack's segments with RSTs of its own."""
import hashlib
import json
import os
import random
import select
import socket
import sys
import time

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
MSS = 1000

F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Malformed option areas (4-byte aligned); each is what a real parser trips on.
MALFORMED_OPTIONS = {
    "len_zero": b"\x02\x00\x00\x00",                          # MSS, length 0
    "len_one": b"\x05\x01\x01\x01",                           # SACK, length 1
    "len_beyond_header": b"\x08\x28\x00\x00",                 # TS claims 40 bytes, 4 there
    "mss_truncated": b"\x02\x03\x05\x00",                     # MSS, length 3 (not 4)
    "ws_truncated": b"\x03\x02\x01\x01",                      # WS, length 2 (not 3)
    "sack_truncated": b"\x05\x06\x00\x00\x00\x01\x00\x00",    # SACK, 6: not 2 + 8n
    "ts_truncated": b"\x08\x06\x00\x00\x00\x01\x00\x00",      # TS, length 6 (not 10)
    "unknown_len_zero_last": b"\x01\x01\x01\xfe\x00\x00\x00\x00",   # NOPs, then kind 254 length 0
}


def seq_add(a, n):
    return (a + n) & 0xffffffff


def seq_diff(a, b):
    """a - b in sequence space, signed."""
    d = (a - b) & 0xffffffff
    return d - (1 << 32) if d >= 1 << 31 else d


class Peer:
    def __init__(self, iface, src_mac, dst_mac, src_ip, dst_ip, dport, isn=None, sport=None):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((iface, 0))
        self.src_mac, self.dst_mac, self.src_ip, self.dst_ip = src_mac, dst_mac, src_ip, dst_ip
        self.dport = dport
        self.sport = sport or random.randint(20000, 59999)
        self.isn = random.getrandbits(32) if isn is None else isn
        self.snd_nxt = self.isn
        self.rcv_nxt = 0
        self.peer_wnd = 0
        self.got_fin = False
        self.got_rst = False

    def send(self, flags, seq=None, ack=None, data=b"", window=65535, options=None, raw_options=b""):
        tcp = TCP(sport=self.sport, dport=self.dport, flags=flags,
                  seq=self.snd_nxt if seq is None else seq,
                  ack=(self.rcv_nxt if ack is None else ack) if flags & F_ACK else 0,
                  window=window, options=options or [])
        if raw_options:
            assert not options and len(raw_options) % 4 == 0
            tcp.dataofs = 5 + len(raw_options) // 4
            frame = Ether(src=self.src_mac, dst=self.dst_mac) / IP(src=self.src_ip, dst=self.dst_ip) / tcp
            frame = frame / (raw_options + data)
        else:
            frame = Ether(src=self.src_mac, dst=self.dst_mac) / IP(src=self.src_ip, dst=self.dst_ip) / tcp
            if data:
                frame = frame / data
        self.sock.send(bytes(frame))

    def recv(self, timeout):
        """The next segment of this connection from the stack, or None."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            data, addr = self.sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            pkt = Ether(data)
            if IP not in pkt or TCP not in pkt:
                continue
            ip, tcp = pkt[IP], pkt[TCP]
            if ip.src != self.dst_ip or ip.dst != self.src_ip or tcp.sport != self.dport or tcp.dport != self.sport:
                continue
            if tcp.flags & F_RST:
                self.got_rst = True
            payload = bytes(tcp.payload)
            if len(payload) > ip.len - ip.ihl * 4 - tcp.dataofs * 4:     # Ethernet padding
                payload = payload[:ip.len - ip.ihl * 4 - tcp.dataofs * 4]
            tcp.data = payload
            return tcp

    def connect(self, options=(("MSS", MSS),), timeout=3.0):
        self.send(F_SYN, options=list(options))
        for _ in range(3):
            t = self.recv(timeout)
            if t is not None and t.flags & (F_SYN | F_ACK) == F_SYN | F_ACK and t.ack == seq_add(self.isn, 1):
                self.snd_nxt = seq_add(self.isn, 1)
                self.rcv_nxt = seq_add(t.seq, 1)
                self.peer_wnd = t.window
                self.send(F_ACK)
                return True
            if t is not None and t.flags & F_RST:
                return False
            self.send(F_SYN, seq=self.isn, options=list(options))
        return False

    # -- sending a byte stream ------------------------------------------------------------
    def send_reliably(self, data, base, start=0, timeout=10.0):
        """Send data[start:] (data[0] is at sequence ``base``), resending from
        the stack's cumulative ACK until all is acknowledged."""
        una = start
        end = time.monotonic() + timeout
        while una < len(data) and time.monotonic() < end:
            nxt = una
            limit = una + max(self.peer_wnd, 1)
            while nxt < min(len(data), limit):
                n = min(MSS, len(data) - nxt, limit - nxt)
                self.send(F_ACK | F_PSH, seq=seq_add(base, nxt), data=data[nxt:nxt + n])
                nxt += n
            t = self.recv(0.3)
            while t is not None:
                if t.flags & F_RST:
                    return una
                if t.flags & F_ACK:
                    acked = seq_diff(t.ack, base)
                    if acked > una:
                        una = min(acked, len(data))
                    self.peer_wnd = t.window
                t = self.recv(0.02)
        self.snd_nxt = seq_add(base, una)
        return una

    def acked_offset(self, base, wait=0.3):
        """The highest cumulative ACK (as an offset from base) seen within wait."""
        best, end = None, time.monotonic() + wait
        while True:
            t = self.recv(max(0.0, end - time.monotonic()))
            if t is None:
                return best
            if t.flags & F_ACK:
                off = seq_diff(t.ack, base)
                best = off if best is None else max(best, off)
                self.peer_wnd = t.window

    def close(self, timeout=5.0):
        """FIN, then wait for the stack's FIN and acknowledge it."""
        self.send(F_FIN | F_ACK)
        fin_seq = self.snd_nxt
        self.snd_nxt = seq_add(self.snd_nxt, 1)
        end = time.monotonic() + timeout
        next_resend = time.monotonic() + 0.5
        while not self.got_fin and time.monotonic() < end:
            t = self.recv(0.2)
            if t is None:
                if time.monotonic() >= next_resend:
                    self.send(F_FIN | F_ACK, seq=fin_seq)
                    next_resend = time.monotonic() + 0.5
                continue
            if t.flags & F_RST:
                return False
            if t.flags & F_FIN:
                self.rcv_nxt = seq_add(t.seq, len(t.data) + 1)
                self.got_fin = True
                self.send(F_ACK)
        return self.got_fin


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


# -- scenarios ---------------------------------------------------------------------------------

def malformed_syns(peer_args):
    """What a SYN carrying each malformed option area draws: synack, rst or dropped."""
    out = {}
    for name, opts in MALFORMED_OPTIONS.items():
        p = Peer(*peer_args)
        p.send(F_SYN, raw_options=opts)
        t = p.recv(1.0)
        if t is None:
            out[name] = "dropped"
        elif t.flags & F_RST:
            out[name] = "rst"
        elif t.flags & (F_SYN | F_ACK) == F_SYN | F_ACK:
            out[name] = "synack"
            p.send(F_RST, seq=seq_add(p.isn, 1))      # leave no half-open connection behind
        else:
            out[name] = "other:%s" % t.flags
    return out


def scenario_malformed_syn(peer_args):
    return {"syn": malformed_syns(peer_args)}


def scenario_malformed_options(peer_args):
    """Per case: a SYN carrying the malformed options, and a data segment of
    an established connection carrying them; then the stream is completed
    with well-formed segments.  Reports what the stack did each time."""
    out = {"syn": malformed_syns(peer_args), "data": {}, "conns": []}
    data = pattern(12000, 7)
    for name, opts in MALFORMED_OPTIONS.items():
        p = Peer(*peer_args)
        if not p.connect():
            out["data"][name] = "no_connect"
            continue
        base = p.snd_nxt
        p.send_reliably(data[:4000], base)
        p.send(F_ACK | F_PSH, seq=seq_add(base, 4000), data=data[4000:5000], raw_options=opts)
        acked = p.acked_offset(base, 0.4)
        out["data"][name] = ("rst" if p.got_rst else "accepted" if acked is not None and acked >= 5000
                             else "dropped")
        if p.got_rst:
            continue
        sent = p.send_reliably(data, base, start=4000)
        closed = p.close()
        out["conns"].append({"sport": p.sport, "bytes": sent, "closed": closed,
                             "sha256": hashlib.sha256(data[:sent]).hexdigest()})
    return out


def scenario_overlap(peer_args, isn=None):
    """Out-of-order, overlapping, duplicate and contained segments (all with
    the same bytes where they overlap), then the rest in order."""
    p = Peer(*peer_args, isn=isn)
    if not p.connect():
        return {"connected": False}
    data = pattern(20000, 11)
    base = p.snd_nxt
    plan = [(3000, 2000), (0, 1500), (1000, 1500), (2400, 700), (4500, 1000), (200, 300),
            (6000, 1000), (5400, 800), (8000, 1000), (7000, 1200), (5000, 3000), (0, 9000 - 0)]
    for off, n in plan:
        for chunk in range(off, off + n, 1400):      # keep each segment under the stack's MSS
            k = min(1400, off + n - chunk)
            p.send(F_ACK | F_PSH, seq=seq_add(base, chunk), data=data[chunk:chunk + k])
        time.sleep(0.01)
    acked = p.acked_offset(base, 0.5) or 0
    sent = p.send_reliably(data, base, start=max(0, min(acked, len(data))))
    closed = p.close()
    return {"connected": True, "sport": p.sport, "isn": p.isn, "bytes": sent, "closed": closed,
            "acked_after_plan": acked, "sha256": hashlib.sha256(data[:sent]).hexdigest(),
            "rst": p.got_rst}


def scenario_wraparound(peer_args):
    """ISN 6000 below 2^32: the stream (and the overlap plan) crosses zero."""
    return scenario_overlap(peer_args, isn=(1 << 32) - 6000)


def receive_stream(p, hold_zero=0.0, hold_after=20000, shrink=False, timeout=30.0):
    """Read the stack's stream to its FIN, acknowledging each segment.
    hold_zero: after hold_after bytes, advertise window 0 for this long.
    shrink: after hold_after bytes, cut the window's right edge back
    (65535 -> 2000 beyond rcv_nxt) for a second, then open it again.
    Counts what the stack sent past the highest right edge ever offered
    (a sender may fill what was offered before a shrink, nothing more,
    except a one-byte zero-window probe)."""
    got = bytearray()
    wnd = 65535
    right_edge = seq_add(p.rcv_nxt, wnd)
    max_edge = right_edge
    phase, phase_end = "open", None
    stats = {"probes": 0, "segs_in_hold": 0, "beyond_offered_bytes": 0, "dropped_outside_window": 0}
    end = time.monotonic() + timeout
    while time.monotonic() < end and not p.got_fin and not p.got_rst:
        if phase in ("zero", "shrunk") and time.monotonic() >= phase_end:
            phase, wnd = "reopened", 65535
            right_edge = seq_add(p.rcv_nxt, wnd)
            p.send(F_ACK, window=wnd)
        t = p.recv(0.5)
        if t is None:
            if phase in ("open", "reopened"):
                p.send(F_ACK, window=wnd)          # a window update may have been lost
            continue
        n = len(t.data)
        if phase in ("zero", "shrunk") and n:
            stats["segs_in_hold"] += 1
            if phase == "zero" and n == 1:
                stats["probes"] += 1
        over = seq_diff(seq_add(t.seq, n), max_edge)
        if n and over > 0 and not (n == 1 and phase == "zero"):
            stats["beyond_offered_bytes"] += over
        if n and t.seq == p.rcv_nxt and seq_diff(seq_add(t.seq, n), right_edge) <= 0:
            got += t.data
            p.rcv_nxt = seq_add(p.rcv_nxt, n)
        elif n:
            stats["dropped_outside_window"] += 1
        if t.flags & F_FIN and seq_add(t.seq, n) == p.rcv_nxt:
            p.rcv_nxt = seq_add(p.rcv_nxt, 1)
            p.got_fin = True
        if phase == "open" and len(got) >= hold_after and (hold_zero or shrink):
            if hold_zero:
                phase, wnd, phase_end = "zero", 0, time.monotonic() + hold_zero
                right_edge = p.rcv_nxt
            else:
                phase, wnd, phase_end = "shrunk", 2000, time.monotonic() + 1.0
                right_edge = seq_add(p.rcv_nxt, wnd)      # left of the edge offered before
        elif phase in ("open", "reopened"):
            right_edge = seq_add(p.rcv_nxt, wnd)
        if seq_diff(right_edge, max_edge) > 0:
            max_edge = right_edge
        p.send(F_ACK, window=wnd)
    closed = False
    if p.got_fin:
        p.send(F_FIN | F_ACK, window=wnd)
        p.snd_nxt = seq_add(p.snd_nxt, 1)
        t = p.recv(2.0)
        closed = t is not None and t.flags & F_ACK and t.ack == p.snd_nxt
    stats.update(bytes=len(got), sha256=hashlib.sha256(got).hexdigest(), fin=p.got_fin,
                 rst=p.got_rst, closed=bool(closed), sport=p.sport)
    return stats


def scenario_zero_window(peer_args):
    p = Peer(*peer_args)
    if not p.connect():
        return {"connected": False}
    return dict(connected=True, **receive_stream(p, hold_zero=5.0))


def scenario_window_shrink(peer_args):
    p = Peer(*peer_args)
    if not p.connect():
        return {"connected": False}
    return dict(connected=True, **receive_stream(p, shrink=True))


SCENARIOS = {
    "malformed_syn": scenario_malformed_syn,
    "malformed_options": scenario_malformed_options,
    "overlap": scenario_overlap,
    "wraparound": scenario_wraparound,
    "zero_window": scenario_zero_window,
    "window_shrink": scenario_window_shrink,
}


def main(argv):
    name, iface, src_mac, dst_mac, src_ip, dst_ip, dport = argv
    peer_args = (iface, src_mac, dst_mac, src_ip, dst_ip, int(dport))
    random.seed(os.getpid() ^ int(time.time()))
    print(json.dumps(SCENARIOS[name](peer_args)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
