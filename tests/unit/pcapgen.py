"""Tiny pcap/pcapng writers for tests: any byte order, any link type, any
block the reader must cope with (including ones no tool here writes)."""
import struct

LE, BE = "<", ">"


# ---------------------------------------------------------------- classic

def pcap_file(records, *, e=LE, nsec=False, linktype=1, snaplen=65535,
              fcs_bytes=0):
    """records: (ts_ns, data) or (ts_ns, data, origlen)."""
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    network = linktype
    if fcs_bytes:
        network |= (1 << 26) | ((fcs_bytes // 2) << 28)
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, network)]
    for rec in records:
        ts, data = rec[0], rec[1]
        orig = rec[2] if len(rec) > 2 else len(data)
        frac = ts % 10**9 if nsec else (ts % 10**9) // 1000
        out.append(struct.pack(e + "IIII", ts // 10**9, frac, len(data), orig) + data)
    return b"".join(out)


def pcap_record_offsets(blob):
    """Start of every record of a little-endian classic file, and its end."""
    offs, off = [], 24
    while off < len(blob):
        offs.append(off)
        off += 16 + struct.unpack("<I", blob[off + 8:off + 12])[0]
    return offs + [off]


# ---------------------------------------------------------------- pcapng

def _pad(b):
    return b + b"\0" * (-len(b) % 4)


def block(btype, body, e=LE):
    body = _pad(body)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def option(code, value, e=LE):
    return struct.pack(e + "HH", code, len(value)) + _pad(value)


def end_of_options(e=LE):
    return struct.pack(e + "HH", 0, 0)


def shb(e=LE):
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(linktype, e=LE, snaplen=0, tsresol=None, tsoffset=None, fcslen=None):
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), e)
    if fcslen is not None:
        opts += option(13, bytes([fcslen]), e)
    if tsoffset is not None:
        opts += option(14, struct.pack(e + "q", tsoffset), e)
    if opts:
        opts += end_of_options(e)
    return block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts, e)


def epb(ifid, ts, data, e=LE, orig=None, options=b""):
    body = struct.pack(e + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       len(data) if orig is None else orig) + _pad(data) + options
    return block(6, body, e)


def spb(data, e=LE, orig=None):
    return block(3, struct.pack(e + "I", len(data) if orig is None else orig) + data, e)


def opb(ifid, ts, data, e=LE):
    return block(2, struct.pack(e + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF,
                                len(data), len(data)) + data, e)


def ng_block_offsets(blob):
    """Start of every block of a little-endian pcapng file, and its end."""
    offs, off = [], 0
    while off < len(blob):
        offs.append(off)
        off += struct.unpack("<I", blob[off + 4:off + 8])[0]
    return offs + [off]


# ---------------------------------------------------------------- link headers

def sll(payload, ethertype=0x0800, addr=bytes.fromhex("020000000001"), pkttype=0):
    return (struct.pack("!HHH", pkttype, 1, len(addr)) + addr.ljust(8, b"\0")
            + struct.pack("!H", ethertype) + payload)


def sll2(payload, ethertype=0x0800, addr=bytes.fromhex("020000000001"), ifindex=3):
    return (struct.pack("!HHIHBB", ethertype, 0, ifindex, 1, 0, len(addr))
            + addr.ljust(8, b"\0") + payload)
