"""The common case in one call: Ethernet + IPv4 + TCP, parsed or built."""
from typing import NamedTuple

from .errors import (MalformedFrame, NOT_IPV4, NOT_TCP, IPV4_FRAGMENT,
                     BAD_IPV4_CHECKSUM, BAD_TCP_CHECKSUM)
from .checksum import verify_tcp_checksum
from .ethernet import ETH_P_IP, EthernetFrame, emit_ethernet
from .ipv4 import IPPROTO_TCP, IPv4Packet, emit_ipv4
from .seq import seq_add
from .tcp import (TcpFlags, TcpSegment, emit_tcp, TCPOPT_EOL, TCPOPT_NOP,
                  TCPOPT_MSS, TCPOPT_WINDOW_SCALE, TCPOPT_SACK_PERMITTED,
                  TCPOPT_SACK, TCPOPT_TIMESTAMP)

__all__ = ["TcpFrame", "parse_tcp_frame", "build_tcp_frame", "describe"]


class TcpFrame(NamedTuple):
    eth: EthernetFrame
    ip: IPv4Packet
    tcp: TcpSegment


def parse_tcp_frame(buf, *, verify_checksums=False, check_flags=True):
    """Parse an Ethernet/IPv4/TCP frame or raise MalformedFrame.

    Fragments are refused ("ipv4-fragment"): the stack does not reassemble
    IP.  With ``verify_checksums`` the IPv4 and TCP checksums are checked
    before the headers they cover are trusted, so a corrupted byte is
    reported as a bad checksum rather than as whatever it turned into.
    """
    eth = EthernetFrame(buf)
    if eth.ethertype != ETH_P_IP:
        raise MalformedFrame(NOT_IPV4, "ethertype 0x%04x" % eth.ethertype)
    ip = IPv4Packet(eth.payload)
    if verify_checksums and not ip.checksum_ok():
        raise MalformedFrame(BAD_IPV4_CHECKSUM, "0x%04x" % ip.checksum)
    if ip.is_fragment:
        raise MalformedFrame(IPV4_FRAGMENT, "id %d offset %d" % (ip.ident, ip.frag_offset * 8))
    if ip.protocol != IPPROTO_TCP:
        raise MalformedFrame(NOT_TCP, "protocol %d" % ip.protocol)
    if verify_checksums and not verify_tcp_checksum(ip.src_bytes, ip.dst_bytes, ip.payload):
        raise MalformedFrame(BAD_TCP_CHECKSUM, "%s > %s" % (ip.src, ip.dst))
    return TcpFrame(eth, ip, TcpSegment(ip.payload, check_flags=check_flags))


def build_tcp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, seq, ack, flags,
                    window, options=None, payload=b"", ttl=64, ident=0):
    """Build an Ethernet/IPv4/TCP frame with valid IPv4 and TCP checksums.

    ``options`` is a TcpOptions, raw option bytes, or None.  DF is set, as
    Linux does for TCP.
    """
    segment = emit_tcp(src_ip, dst_ip, sport, dport, seq, ack, flags, window,
                       options=options, payload=payload)
    packet = emit_ipv4(src_ip, dst_ip, IPPROTO_TCP, segment, ttl=ttl, ident=ident)
    return emit_ethernet(src_mac, dst_mac, ETH_P_IP, packet)


# tcpdump prints flags in this order, ACK as "." (print-tcp.c tcp_flag_values).
_TCPDUMP_FLAGS = ((TcpFlags.FIN, "F"), (TcpFlags.SYN, "S"), (TcpFlags.RST, "R"),
                  (TcpFlags.PSH, "P"), (TcpFlags.ACK, "."), (TcpFlags.URG, "U"),
                  (TcpFlags.ECE, "E"), (TcpFlags.CWR, "W"))


def _format_option(kind, body):
    if kind == TCPOPT_EOL:
        return "eol"
    if kind == TCPOPT_NOP:
        return "nop"
    if kind == TCPOPT_MSS:
        return "mss %d" % int.from_bytes(body, "big")
    if kind == TCPOPT_WINDOW_SCALE:
        return "wscale %d" % body[0]
    if kind == TCPOPT_SACK_PERMITTED:
        return "sackOK"
    if kind == TCPOPT_TIMESTAMP:
        return "TS val %d ecr %d" % (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big"))
    if kind == TCPOPT_SACK:
        blocks = "".join("{%d:%d}" % (int.from_bytes(body[k:k + 4], "big"),
                                      int.from_bytes(body[k + 4:k + 8], "big"))
                         for k in range(0, len(body), 8))
        return "sack %d %s" % (len(body) // 8, blocks)
    # Kinds tcpdump has no decoder for; the few it does decode specially
    # (md5, mptcp, tfo, uto, ...) are printed this generic way too.
    return "unknown-%d" % kind + (" 0x" + body.hex() if body else "")


def describe(frame):
    """One line in the style of ``tcpdump -nn -S`` (absolute sequence numbers),
    without tcpdump's timestamp and "IP " prefix, e.g.
    ``198.18.0.2.40000 > 198.18.0.1.80: Flags [S], seq 1, win 64240, options
    [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0``.

    Accepts a TcpFrame or the raw frame bytes.
    """
    if not isinstance(frame, TcpFrame):
        frame = parse_tcp_frame(frame, check_flags=False)
    ip, tcp = frame.ip, frame.tcp
    flags = tcp.flags
    length = len(tcp.payload)
    flag_text = "".join(c for f, c in _TCPDUMP_FLAGS if flags & f) or "none"
    out = ["%s.%d > %s.%d: Flags [%s]" % (ip.src, tcp.src_port, ip.dst, tcp.dst_port, flag_text)]
    if length or flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST):
        out.append(", seq %d" % tcp.seq)
        if length:
            out.append(":%d" % seq_add(tcp.seq, length))
    if flags & TcpFlags.ACK:
        out.append(", ack %d" % tcp.ack)
    out.append(", win %d" % tcp.window)
    if flags & TcpFlags.URG:
        out.append(", urg %d" % tcp.urgent)
    if tcp.header_length > 20:
        out.append(", options [%s]" % ",".join(_format_option(k, b) for k, b in tcp.options.items))
    out.append(", length %d" % length)
    return "".join(out)
