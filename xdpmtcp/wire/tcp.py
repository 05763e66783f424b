"""TCP segments (RFC 9293) and their options: checked view, parse, emit."""
import enum
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .checksum import tcp_checksum, verify_tcp_checksum
from .errors import (MalformedFrame, TRUNCATED_TCP, BAD_TCP_DATA_OFFSET,
                     BAD_TCP_OPTION, BAD_FLAG_COMBINATION)
from .layout import Layout, byte_view

__all__ = [
    "TcpFlags", "TcpOptions", "TcpSegment", "TCP_HEADER",
    "TCPOPT_EOL", "TCPOPT_NOP", "TCPOPT_MSS", "TCPOPT_WINDOW_SCALE",
    "TCPOPT_SACK_PERMITTED", "TCPOPT_SACK", "TCPOPT_TIMESTAMP",
    "MAX_OPTIONS_LENGTH", "parse_tcp_options", "emit_tcp_options",
    "check_tcp_flags", "emit_tcp",
]

TCP_HEADER = Layout("TcpHeader", [
    ("src_port", "H"), ("dst_port", "H"), ("seq", "I"), ("ack", "I"),
    ("data_offset", "B"), ("flags", "B"), ("window", "H"), ("checksum", "H"),
    ("urgent", "H"),
])
_CHECKSUM_OFFSET = TCP_HEADER.offset_of("checksum")
MAX_OPTIONS_LENGTH = 40  # data offset is 4 bits: 15 words - 5 fixed

TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WINDOW_SCALE = 3
TCPOPT_SACK_PERMITTED = 4
TCPOPT_SACK = 5
TCPOPT_TIMESTAMP = 8

_FIXED_OPTION_LENGTH = {TCPOPT_MSS: 4, TCPOPT_WINDOW_SCALE: 3,
                        TCPOPT_SACK_PERMITTED: 2, TCPOPT_TIMESTAMP: 10}
_SACK_BLOCK = struct.Struct("!II")
_MAX_SACK_BLOCKS = 4  # 2 + 4*8 = 34 bytes, the most that fits in 40


class TcpFlags(enum.IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


@dataclass
class TcpOptions:
    """Decoded TCP options.

    ``items`` is every option as parsed, in wire order, as ``(kind, data)``
    (NOP and EOL included), so a printer can show exactly what was sent; it
    is ignored by ``==`` and by ``emit_tcp_options``.  ``unknown`` keeps
    options of other kinds as ``(kind, data)`` so they are not lost.
    """
    mss: Optional[int] = None
    window_scale: Optional[int] = None
    sack_permitted: bool = False
    sack_blocks: List[Tuple[int, int]] = field(default_factory=list)
    timestamp: Optional[Tuple[int, int]] = None  # (tsval, tsecr)
    unknown: List[Tuple[int, bytes]] = field(default_factory=list)
    items: List[Tuple[int, bytes]] = field(default_factory=list, compare=False, repr=False)


def _bad_option(detail):
    return MalformedFrame(BAD_TCP_OPTION, detail)


def parse_tcp_options(data):
    """Decode the option bytes of a TCP header; raise "bad-tcp-option"."""
    data = bytes(data)
    opts = TcpOptions()
    i, end = 0, len(data)
    while i < end:
        kind = data[i]
        if kind == TCPOPT_EOL:
            opts.items.append((kind, b""))
            break  # the rest is padding (RFC 9293 3.2)
        if kind == TCPOPT_NOP:
            opts.items.append((kind, b""))
            i += 1
            continue
        if i + 1 >= end:
            raise _bad_option("kind %d at offset %d has no length byte" % (kind, i))
        length = data[i + 1]
        if length < 2:
            raise _bad_option("kind %d has length %d" % (kind, length))
        if i + length > end:
            raise _bad_option("kind %d length %d runs past the header" % (kind, length))
        body = data[i + 2:i + length]
        expected = _FIXED_OPTION_LENGTH.get(kind)
        if expected is not None and length != expected:
            raise _bad_option("kind %d needs length %d, has %d" % (kind, expected, length))
        if kind == TCPOPT_MSS:
            opts.mss = int.from_bytes(body, "big")
        elif kind == TCPOPT_WINDOW_SCALE:
            opts.window_scale = body[0]
        elif kind == TCPOPT_SACK_PERMITTED:
            opts.sack_permitted = True
        elif kind == TCPOPT_TIMESTAMP:
            opts.timestamp = (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big"))
        elif kind == TCPOPT_SACK:
            if len(body) % 8 or not body:
                raise _bad_option("SACK length %d is not 2 + 8n, n >= 1" % length)
            opts.sack_blocks = [_SACK_BLOCK.unpack_from(body, k) for k in range(0, len(body), 8)]
        else:
            opts.unknown.append((kind, body))
        opts.items.append((kind, body))
        i += length
    return opts


def _u32(value, what):
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError("%s out of range: %r" % (what, value))
    return value


def emit_tcp_options(opts):
    """Encode options the way Linux lays them out, NOP-padded to 4 bytes.

    Order: MSS, SACK-permitted+timestamp (or NOP NOP timestamp), NOP
    window-scale, NOP NOP SACK-permitted (without timestamp), NOP NOP SACK
    blocks, then unknown options.
    """
    out = bytearray()
    if opts.mss is not None:
        if not 0 <= opts.mss <= 0xFFFF:
            raise ValueError("MSS out of range: %r" % opts.mss)
        out += struct.pack("!BBH", TCPOPT_MSS, 4, opts.mss)
    if opts.timestamp is not None:
        tsval, tsecr = opts.timestamp
        if opts.sack_permitted:
            out += bytes((TCPOPT_SACK_PERMITTED, 2))
        else:
            out += bytes((TCPOPT_NOP, TCPOPT_NOP))
        out += struct.pack("!BBII", TCPOPT_TIMESTAMP, 10, _u32(tsval, "tsval"), _u32(tsecr, "tsecr"))
    if opts.window_scale is not None:
        if not 0 <= opts.window_scale <= 0xFF:
            raise ValueError("window scale out of range: %r" % opts.window_scale)
        out += bytes((TCPOPT_NOP, TCPOPT_WINDOW_SCALE, 3, opts.window_scale))
    if opts.sack_permitted and opts.timestamp is None:
        out += bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2))
    if opts.sack_blocks:
        if len(opts.sack_blocks) > _MAX_SACK_BLOCKS:
            raise ValueError("at most %d SACK blocks fit" % _MAX_SACK_BLOCKS)
        out += bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 2 + 8 * len(opts.sack_blocks)))
        for left, right in opts.sack_blocks:
            out += _SACK_BLOCK.pack(_u32(left, "SACK left edge"), _u32(right, "SACK right edge"))
    for kind, body in opts.unknown:
        body = bytes(body)
        if kind in (TCPOPT_EOL, TCPOPT_NOP) or not 0 <= kind <= 0xFF or len(body) > 253:
            raise ValueError("cannot emit option kind %r with %d data bytes" % (kind, len(body)))
        out += bytes((kind, 2 + len(body))) + body
    out += bytes((TCPOPT_NOP,)) * (-len(out) % 4)
    if len(out) > MAX_OPTIONS_LENGTH:
        raise ValueError("TCP options take %d bytes, at most %d fit" % (len(out), MAX_OPTIONS_LENGTH))
    return bytes(out)


def _flag_names(flags):
    return "|".join(f.name for f in TcpFlags if flags & f) or "none"


def check_tcp_flags(flags):
    """Raise "bad-flag-combination" for SYN+FIN or SYN+RST."""
    if flags & TcpFlags.SYN and flags & (TcpFlags.FIN | TcpFlags.RST):
        raise MalformedFrame(BAD_FLAG_COMBINATION, _flag_names(flags))


class TcpSegment:
    """Checked view of a TCP segment; accessors never raise.

    The constructor validates the header length, the options and (unless
    ``check_flags=False``, e.g. for a monitor that wants to see scans) the
    flag combination.  The checksum needs the IP addresses, so it is
    verified on request with ``checksum_ok(src_ip, dst_ip)``.
    """

    __slots__ = ("buffer", "_hdr", "_options")

    def __init__(self, buf, *, check_flags=True):
        self.buffer = byte_view(buf)
        self.check(check_flags=check_flags)

    def check(self, *, check_flags=True):
        """Validate header, options and flags; raise MalformedFrame."""
        buf = self.buffer
        if len(buf) < TCP_HEADER.size:
            raise MalformedFrame(TRUNCATED_TCP, "%d bytes" % len(buf))
        hdr = TCP_HEADER.unpack_from(buf)
        header_length = (hdr.data_offset >> 4) * 4
        if not TCP_HEADER.size <= header_length <= len(buf):
            raise MalformedFrame(BAD_TCP_DATA_OFFSET, "header %d bytes, segment %d"
                                 % (header_length, len(buf)))
        self._options = parse_tcp_options(buf[TCP_HEADER.size:header_length])
        if check_flags:
            check_tcp_flags(hdr.flags)
        self._hdr = hdr

    def checksum_ok(self, src_ip, dst_ip):
        return verify_tcp_checksum(src_ip, dst_ip, self.buffer)

    @property
    def src_port(self):
        return self._hdr.src_port

    @property
    def dst_port(self):
        return self._hdr.dst_port

    @property
    def seq(self):
        return self._hdr.seq

    @property
    def ack(self):
        return self._hdr.ack

    @property
    def data_offset(self):
        """Header length in 32-bit words, as on the wire."""
        return self._hdr.data_offset >> 4

    @property
    def header_length(self):
        return (self._hdr.data_offset >> 4) * 4

    @property
    def flags(self):
        return TcpFlags(self._hdr.flags)

    @property
    def window(self):
        return self._hdr.window

    @property
    def checksum(self):
        return self._hdr.checksum

    @property
    def urgent(self):
        return self._hdr.urgent

    @property
    def options(self):
        return self._options

    @property
    def options_bytes(self):
        return self.buffer[TCP_HEADER.size:self.header_length]

    @property
    def payload(self):
        return self.buffer[self.header_length:]

    @property
    def seq_length(self):
        """Sequence space used: payload plus one each for SYN and FIN."""
        flags = self._hdr.flags
        return len(self.buffer) - self.header_length + ((flags >> 1) & 1) + (flags & 1)

    def __repr__(self):
        return "<TcpSegment %d > %d %s seq %d ack %d win %d len %d>" % (
            self.src_port, self.dst_port, _flag_names(self._hdr.flags), self.seq, self.ack, self.window,
            len(self.payload))


def emit_tcp(src_ip, dst_ip, src_port, dst_port, seq, ack, flags, window,
             options=None, payload=b"", *, urgent=0):
    """Build a TCP segment with its checksum filled in.

    ``options`` is a TcpOptions, raw bytes (NOP-padded to 4 here) or None.
    The IP addresses are needed only for the pseudo-header checksum.
    """
    if options is None:
        option_bytes = b""
    elif isinstance(options, TcpOptions):
        option_bytes = emit_tcp_options(options)
    else:
        option_bytes = bytes(options)
        option_bytes += bytes((TCPOPT_NOP,)) * (-len(option_bytes) % 4)
        if len(option_bytes) > MAX_OPTIONS_LENGTH:
            raise ValueError("TCP options take %d bytes, at most %d fit"
                             % (len(option_bytes), MAX_OPTIONS_LENGTH))
    if not 0 <= int(flags) <= 0xFF:
        raise ValueError("TCP flags out of range: %r" % (flags,))
    header_length = TCP_HEADER.size + len(option_bytes)
    segment = bytearray(TCP_HEADER.pack(
        src_port=src_port, dst_port=dst_port, seq=_u32(seq, "seq"), ack=_u32(ack, "ack"),
        data_offset=(header_length // 4) << 4, flags=int(flags), window=window,
        checksum=0, urgent=urgent))
    segment += option_bytes
    segment += payload
    checksum = tcp_checksum(src_ip, dst_ip, segment)
    segment[_CHECKSUM_OFFSET:_CHECKSUM_OFFSET + 2] = checksum.to_bytes(2, "big")
    return bytes(segment)
