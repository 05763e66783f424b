"""RFC 1071 internet checksum and the TCP/IPv4 pseudo-header checksum.

Pure Python for tests and the slow path; the C core owns the hot path.
Speed trick: read the whole buffer as one big integer.  Because
2**16 == 1 (mod 0xffff), the integer taken mod 0xffff equals the sum of
its 16-bit words mod 0xffff, which is the one's complement sum (with the
result 0 reported as 0xffff unless every word was zero).
"""
import struct

from .layout import byte_view

__all__ = [
    "ones_complement_sum", "internet_checksum", "verify_internet_checksum",
    "pseudo_header_sum", "tcp_checksum", "verify_tcp_checksum",
]

IPPROTO_TCP = 6
_PSEUDO_TAIL = struct.Struct("!BBH")  # zero, protocol, upper-layer length


def _add(a, b):
    """One's complement addition of two 16-bit partial sums."""
    total = a + b
    return (total & 0xFFFF) + (total >> 16)


def ones_complement_sum(data, initial=0):
    """Folded 16-bit one's complement sum of ``data`` (odd length zero-padded)."""
    view = byte_view(data)
    value = int.from_bytes(view, "big")
    if len(view) & 1:
        value <<= 8
    folded = value % 0xFFFF
    if folded == 0 and value:
        folded = 0xFFFF  # the sum of non-zero words is never +0
    return _add(folded, initial & 0xFFFF) if initial else folded


def internet_checksum(data, initial=0):
    """RFC 1071 checksum: complement of the one's complement sum."""
    return ~ones_complement_sum(data, initial) & 0xFFFF


def verify_internet_checksum(data):
    """True when ``data`` (checksum field included) sums to 0xffff."""
    return ones_complement_sum(data) == 0xFFFF


def _addr_bytes(addr):
    if type(addr) is bytes and len(addr) == 4:
        return addr  # the common case, from IPv4Packet.src_bytes
    # Imported late: ipv4 imports checksum, not the other way round.
    from .ipv4 import parse_ipv4_addr
    return parse_ipv4_addr(addr)


def pseudo_header_sum(src_ip, dst_ip, length, protocol=IPPROTO_TCP):
    """One's complement sum of the IPv4 pseudo-header."""
    pseudo = _addr_bytes(src_ip) + _addr_bytes(dst_ip) + _PSEUDO_TAIL.pack(0, protocol, length)
    return ones_complement_sum(pseudo)


def tcp_checksum(src_ip, dst_ip, segment):
    """Checksum of a TCP segment as given (zero its checksum field to compute it)."""
    view = byte_view(segment)
    return internet_checksum(view, pseudo_header_sum(src_ip, dst_ip, len(view)))


def verify_tcp_checksum(src_ip, dst_ip, segment):
    """True when the segment's checksum field is right for these addresses."""
    view = byte_view(segment)
    return ones_complement_sum(view, pseudo_header_sum(src_ip, dst_ip, len(view))) == 0xFFFF
