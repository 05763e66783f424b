#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from real captures.

    tools/fuzz/make_seeds.py CAPTURE... [--out tools/fuzz/seeds]

Each capture (pcap or pcapng, any link type the reader takes) is read with
the project's reader; its TCP flows become seeds in each target's input
format (tools/fuzz/*.c say what the formats are): heads of the files
themselves and the same frames rewritten in every byte order, resolution
and link type the reader takes (pcap_reader), distinct frames (frame),
flows as frame records under several configurations (monitor), flows as
(direction, offset, length) writes (mon_stream, ring).  Seeds are named by
their content's hash, so running it again adds only what is new.
"""
import argparse
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "unit")]

from pcapgen import BE, LE, epb, idb, pcap_file, shb, sll, sll2  # noqa: E402
from xdpmtcp.phy import PcapSource  # noqa: E402

HEAD_BYTES = 16 * 1024          # pcap_reader seeds: heads of the real files
FLOW_BYTES = 16 * 1024          # monitor seeds: frames of one flow
MAX_FLOWS = 12


def tcp_fields(frame):
    """(src, sport, dst, dport, seq, ack, flags, payload_len) of an
    Ethernet/IPv4/TCP frame, or None."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6 or len(ip) < ihl + 20:
        return None
    tot = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:]
    doff = (tcp[12] >> 4) * 4
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    return ip[12:16], sport, ip[16:20], dport, seq, ack, tcp[13], max(0, tot - ihl - doff)


def flows_of(frames):
    """TCP flows that start with a SYN, in order of appearance:
    [(isn_client, isn_server, [(dir, fields, frame, ts)])]."""
    flows, order = {}, []
    for data, ts in frames:
        f = tcp_fields(data)
        if not f:
            continue
        a, b = (f[0], f[1]), (f[2], f[3])
        key = (min(a, b), max(a, b))
        if key not in flows:
            if f[6] & 0x12 != 0x02:
                continue                       # starts without a SYN: skipped
            flows[key] = {"client": a, "isn": [f[4], None], "segs": []}
            order.append(key)
        fl = flows[key]
        d = 0 if a == fl["client"] else 1
        if d == 1 and f[6] & 0x02 and fl["isn"][1] is None:
            fl["isn"][1] = f[4]
        fl["segs"].append((d, f, data, ts))
    return [(flows[k]["isn"][0], flows[k]["isn"][1] or 0, flows[k]["segs"])
            for k in order][:MAX_FLOWS]


def heads(path):
    """The first HEAD_BYTES of the file, cut at a record or block boundary."""
    blob = open(path, "rb").read()
    if blob[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if blob[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 8 <= len(blob):
            n = struct.unpack(e + "I", blob[off + 4:off + 8])[0]
            if n < 12 or off + n > HEAD_BYTES:
                break
            off += n
        return [blob[:off]]
    e = "<" if blob[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(blob):
        n = 16 + struct.unpack(e + "I", blob[off + 8:off + 12])[0]
        if off + n > HEAD_BYTES:
            break
        off += n
    return [blob[:off]]


def reader_seeds(frames):
    """The same frames in every layout the reader takes."""
    recs = [(ts, data) for data, ts in frames[:24]]
    out = [pcap_file(recs, e=e, nsec=ns) for e in (LE, BE) for ns in (False, True)]
    out.append(pcap_file([(ts, d[14:]) for ts, d in recs], linktype=101))
    out.append(pcap_file([(ts, sll(d[14:])) for ts, d in recs], linktype=113))
    out.append(pcap_file([(ts, sll2(d[14:])) for ts, d in recs], linktype=276))
    out.append(pcap_file([(ts, d + b"\0\0\0\0") for ts, d in recs], fcs_bytes=4))
    out.append(pcap_file([(ts, d[:80], len(d)) for ts, d in recs], snaplen=80))
    for e in (LE, BE):
        out.append(shb(e) + idb(1, e) + idb(228, e, tsresol=9, tsoffset=5)
                   + b"".join(epb(i % 2, ts // 1000 if i % 2 == 0 else ts,
                                  d if i % 2 == 0 else d[14:], e=e)
                              for i, (ts, d) in enumerate(recs)))
    return out


def frame_seeds(frames):
    seen, out = set(), []
    for data, _ in frames:
        f = tcp_fields(data)
        key = (f[6], min(f[7], 1), len(data) - f[7]) if f else data[12:14]
        if key not in seen:
            seen.add(key)
            out.append(data)
    return out


def monitor_seeds(flows):
    configs = [bytes([0x02, 0x18, 0x3e, 0x11]),     # drain, 1 MiB rings, 64 flows
               bytes([0x00, 0x09, 0x0b, 0x11]),     # no drain, 64 KiB, frag cap 3
               bytes([0x03, 0x0c, 0x02, 0x11]),     # mid-stream, bsd overlap
               bytes([0x82, 0x29, 0x40, 0x00])]     # no output, refuse, 64 KiB memory
    out = []
    for i, (_, _, segs) in enumerate(flows):
        recs, prev = [], segs[0][3]
        for _, _, data, ts in segs:
            step_ms = max(0, min(255, (ts - prev) // 1000000))   # pcapng interfaces interleave
            rec = struct.pack("!BHB", 0, len(data), step_ms) + data
            prev = ts
            if sum(map(len, recs)) + len(rec) > FLOW_BYTES:
                break
            recs.append(rec)
        for cfg in (configs if i < 2 else configs[:1]):
            out.append(cfg + b"".join(recs))
    # the flows' first frames interleaved, with application calls between
    mixed = [struct.pack("!BHB", 0, len(s[2]), 0) + s[2]
             for _, _, segs in flows for s in segs[:6]]
    calls = [bytes([0xf3, 1, 1, 0, 100, 0]), bytes([0xf4, 0, 0, 0x10, 0, 0])]
    out.append(configs[1] + b"".join(mixed[:40]) + b"".join(calls) + b"".join(mixed[40:80]))
    return out


def stream_ops(isn, segs):
    """mon_stream operations for a flow's segments after the handshake."""
    ops = []
    for d, f, _, _ in segs:
        flags, plen = f[6], f[7]
        if flags & 0x02:
            continue
        off = (f[4] - isn[d] - 1) & 0xffffffff
        ack_off = (f[5] - isn[1 - d] - 1) & 0xffffffff
        if flags & 0x04:
            ops.append(struct.pack("!BIHB", 0x0e | 0x10 | d, off, 0, 0))
        elif flags & 0x01:
            ops.append(struct.pack("!BIHB", 0x0a | 0x10 | d, off, plen, 0))
        elif plen:
            ops.append(struct.pack("!BIHB", d, off, plen, 0))
        else:
            ops.append(struct.pack("!BIHB", 0x08 | d, ack_off, 0, 0))
    return ops


def mon_stream_seeds(flows):
    out = []
    for i, (isn_c, isn_s, segs) in enumerate(flows):
        ops = stream_ops((isn_c, isn_s), segs)[:400]
        head = struct.pack("!II", isn_c, isn_s) + b"\x03"
        for cf in ((0x00, 0x19, 0x6b) if i < 2 else (0x00,)):
            out.append(bytes([cf]) + head + b"".join(ops))
    return out


def ring_seeds(flows):
    """Each direction's data as ring inserts (offsets relative to the read
    position, as ring.c decodes them), each followed by a read."""
    out = []
    for isn_c, isn_s, segs in flows:
        isn = (isn_c, isn_s)
        for d in (0, 1):
            ops, read_off, stored = [], 0, {}
            for sd, f, _, _ in segs:
                if sd != d or not f[7] or f[6] & 0x02:
                    continue
                off = (f[4] - isn[d] - 1) & 0xffffffff
                rel = off - read_off + 512
                if not 0 <= rel < 65536:
                    continue
                ops.append(struct.pack("!BBHH", 0, 0, rel, min(f[7], 8191)))
                stored[off] = max(stored.get(off, 0), f[7])
                while read_off in stored:      # what a read then consumes
                    read_off += stored.pop(read_off)
                ops.append(struct.pack("!BBHH", 5, 0, 0, 8191))
                if len(ops) >= 300:
                    break
            if ops:
                out.append(bytes([0x07]) + b"".join(ops))    # 64 KiB, first
                out.append(bytes([0x15]) + b"".join(ops))    # 1000 bytes, linux
    return out


def save(outdir, target, blobs):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    new = 0
    for blob in blobs:
        path = os.path.join(d, hashlib.sha1(blob).hexdigest()[:16])
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(blob)
            new += 1
    return new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", nargs="+", metavar="CAPTURE")
    ap.add_argument("--out", default=os.path.join(HERE, "seeds"))
    args = ap.parse_args()
    for path in args.captures:
        with PcapSource(path) as src:
            frames = [(f.data, f.ts_ns) for f in src.frames()]
        flows = flows_of(frames)
        counts = {
            "pcap_reader": save(args.out, "pcap_reader", heads(path) + reader_seeds(frames)),
            "frame": save(args.out, "frame", frame_seeds(frames)),
            "monitor": save(args.out, "monitor", monitor_seeds(flows)),
            "mon_stream": save(args.out, "mon_stream", mon_stream_seeds(flows)),
            "ring": save(args.out, "ring", ring_seeds(flows)),
        }
        print("%s: %d frames, %d flows; new seeds: %s" % (
            path, len(frames), len(flows), ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
