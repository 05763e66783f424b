"""IPv4 packets (RFC 791): checked view, address helpers, emit."""
import socket

from .checksum import internet_checksum, verify_internet_checksum
from .errors import (MalformedFrame, TRUNCATED_IPV4, BAD_IPV4_VERSION,
                     BAD_IPV4_IHL, BAD_IPV4_TOTAL_LENGTH)
from .layout import Layout, byte_view

__all__ = [
    "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPV4_HEADER",
    "IPv4Packet", "emit_ipv4", "parse_ipv4_addr", "format_ipv4_addr",
]

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

IPV4_HEADER = Layout("IPv4Header", [
    ("version_ihl", "B"), ("tos", "B"), ("total_length", "H"), ("ident", "H"),
    ("flags_fragment", "H"), ("ttl", "B"), ("protocol", "B"), ("checksum", "H"),
    ("src", "4s"), ("dst", "4s"),
])
_CHECKSUM_OFFSET = IPV4_HEADER.offset_of("checksum")
_DF = 0x4000
_MF = 0x2000
_FRAG_OFFSET_MASK = 0x1FFF


def parse_ipv4_addr(addr):
    """Dotted string, int, or 4 raw bytes -> 4 bytes in network order."""
    if isinstance(addr, str):
        try:
            return socket.inet_pton(socket.AF_INET, addr)  # strict dotted quad
        except OSError:
            raise ValueError("invalid IPv4 address %r" % (addr,)) from None
    if isinstance(addr, int):
        if not 0 <= addr <= 0xFFFFFFFF:
            raise ValueError("IPv4 address out of range: %d" % addr)
        return addr.to_bytes(4, "big")
    raw = bytes(addr)
    if len(raw) != 4:
        raise ValueError("IPv4 address must be 4 bytes, got %d" % len(raw))
    return raw


def format_ipv4_addr(addr):
    """4 bytes, int or string -> dotted string."""
    return socket.inet_ntoa(parse_ipv4_addr(addr))


class IPv4Packet:
    """Checked view of an IPv4 packet; accessors never raise.

    ``payload`` is bounded by ``total_length``, so Ethernet padding after the
    datagram is not part of it.  The header checksum is verified only on
    request (``checksum_ok``), since some paths trust the NIC or the C core.
    """

    __slots__ = ("buffer", "_hdr")

    def __init__(self, buf):
        self.buffer = byte_view(buf)
        self.check()

    def check(self):
        """Validate version and lengths; raise MalformedFrame on failure."""
        buf = self.buffer
        if len(buf) < IPV4_HEADER.size:
            raise MalformedFrame(TRUNCATED_IPV4, "%d bytes" % len(buf))
        hdr = IPV4_HEADER.unpack_from(buf)
        version, ihl = hdr.version_ihl >> 4, hdr.version_ihl & 0x0F
        if version != 4:
            raise MalformedFrame(BAD_IPV4_VERSION, "version %d" % version)
        if ihl < 5:
            raise MalformedFrame(BAD_IPV4_IHL, "ihl %d" % ihl)
        if len(buf) < ihl * 4:
            raise MalformedFrame(TRUNCATED_IPV4, "header %d bytes, have %d" % (ihl * 4, len(buf)))
        if not ihl * 4 <= hdr.total_length <= len(buf):
            raise MalformedFrame(BAD_IPV4_TOTAL_LENGTH, "total length %d, header %d, have %d"
                                 % (hdr.total_length, ihl * 4, len(buf)))
        self._hdr = hdr

    def checksum_ok(self):
        return verify_internet_checksum(self.header)

    @property
    def version(self):
        return self._hdr.version_ihl >> 4

    @property
    def ihl(self):
        return self._hdr.version_ihl & 0x0F

    @property
    def header_length(self):
        return (self._hdr.version_ihl & 0x0F) * 4

    @property
    def tos(self):
        return self._hdr.tos

    @property
    def dscp(self):
        return self._hdr.tos >> 2

    @property
    def ecn(self):
        return self._hdr.tos & 0x03

    @property
    def total_length(self):
        return self._hdr.total_length

    @property
    def ident(self):
        return self._hdr.ident

    @property
    def flags(self):
        """The 3 flag bits (reserved, DF, MF) as an int 0..7."""
        return self._hdr.flags_fragment >> 13

    @property
    def dont_fragment(self):
        return bool(self._hdr.flags_fragment & _DF)

    @property
    def more_fragments(self):
        return bool(self._hdr.flags_fragment & _MF)

    @property
    def frag_offset(self):
        """Fragment offset in 8-byte units, as on the wire."""
        return self._hdr.flags_fragment & _FRAG_OFFSET_MASK

    @property
    def is_fragment(self):
        return bool(self._hdr.flags_fragment & (_MF | _FRAG_OFFSET_MASK))

    @property
    def ttl(self):
        return self._hdr.ttl

    @property
    def protocol(self):
        return self._hdr.protocol

    @property
    def checksum(self):
        return self._hdr.checksum

    @property
    def src_bytes(self):
        return self._hdr.src

    @property
    def dst_bytes(self):
        return self._hdr.dst

    @property
    def src(self):
        return socket.inet_ntoa(self._hdr.src)

    @property
    def dst(self):
        return socket.inet_ntoa(self._hdr.dst)

    @property
    def src_int(self):
        return int.from_bytes(self._hdr.src, "big")

    @property
    def dst_int(self):
        return int.from_bytes(self._hdr.dst, "big")

    @property
    def header(self):
        return self.buffer[:self.header_length]

    @property
    def options(self):
        return self.buffer[IPV4_HEADER.size:self.header_length]

    @property
    def payload(self):
        return self.buffer[self.header_length:self._hdr.total_length]

    def __repr__(self):
        return "<IPv4Packet %s > %s proto %d ttl %d len %d>" % (
            self.src, self.dst, self.protocol, self.ttl, self.total_length)


def emit_ipv4(src_ip, dst_ip, protocol, payload=b"", *, ttl=64, ident=0, tos=0,
              dont_fragment=True, options=b""):
    """Build an unfragmented IPv4 packet with its header checksum filled in."""
    options = bytes(options)
    if len(options) % 4 or len(options) > 40:
        raise ValueError("IPv4 options must be a multiple of 4 bytes, at most 40")
    payload = bytes(payload)
    header_length = IPV4_HEADER.size + len(options)
    total_length = header_length + len(payload)
    if total_length > 0xFFFF:
        raise ValueError("IPv4 packet too long: %d bytes" % total_length)
    header = bytearray(IPV4_HEADER.pack(
        version_ihl=0x40 | (header_length // 4), tos=tos, total_length=total_length,
        ident=ident, flags_fragment=_DF if dont_fragment else 0, ttl=ttl,
        protocol=protocol, checksum=0,
        src=parse_ipv4_addr(src_ip), dst=parse_ipv4_addr(dst_ip)))
    header += options
    header[_CHECKSUM_OFFSET:_CHECKSUM_OFFSET + 2] = internet_checksum(header).to_bytes(2, "big")
    return bytes(header) + payload
