"""Wire formats: parse and emit Ethernet, IPv4 and TCP; nothing else.

Views (EthernetFrame, IPv4Packet, TcpSegment) validate once in their
constructor and raise MalformedFrame with a named ``reason``; after that
their accessors never raise.  Emit functions return bytes with checksums
filled in.  This layer imports nothing outside the standard library.
"""
from .errors import MalformedFrame, REASONS
from .layout import Layout, byte_view
from .checksum import (ones_complement_sum, internet_checksum, verify_internet_checksum,
                       pseudo_header_sum, tcp_checksum, verify_tcp_checksum)
from .seq import SEQ_MOD, seq_add, seq_diff, seq_lt, seq_leq, seq_gt, seq_geq
from .ethernet import (ETH_P_IP, ETH_P_ARP, ETH_P_8021Q, ETH_P_IPV6, EthernetFrame,
                       emit_ethernet, parse_mac, format_mac)
from .ipv4 import (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPv4Packet, emit_ipv4,
                   parse_ipv4_addr, format_ipv4_addr)
from .tcp import (TcpFlags, TcpOptions, TcpSegment, parse_tcp_options, emit_tcp_options,
                  check_tcp_flags, emit_tcp, MAX_OPTIONS_LENGTH)
from .frame import TcpFrame, parse_tcp_frame, build_tcp_frame, describe

__all__ = [
    "MalformedFrame", "REASONS", "Layout", "byte_view",
    "ones_complement_sum", "internet_checksum", "verify_internet_checksum",
    "pseudo_header_sum", "tcp_checksum", "verify_tcp_checksum",
    "SEQ_MOD", "seq_add", "seq_diff", "seq_lt", "seq_leq", "seq_gt", "seq_geq",
    "ETH_P_IP", "ETH_P_ARP", "ETH_P_8021Q", "ETH_P_IPV6", "EthernetFrame",
    "emit_ethernet", "parse_mac", "format_mac",
    "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPv4Packet", "emit_ipv4",
    "parse_ipv4_addr", "format_ipv4_addr",
    "TcpFlags", "TcpOptions", "TcpSegment", "parse_tcp_options", "emit_tcp_options",
    "check_tcp_flags", "emit_tcp", "MAX_OPTIONS_LENGTH",
    "TcpFrame", "parse_tcp_frame", "build_tcp_frame", "describe",
]
