"""Flow filters for the monitor: the tcpdump-style expressions of
xdpmtcp.filter (one parser, checked against tcpdump) with one evaluator,
the C core's filter VM: per flow on its 4-tuple (``__call__``,
``match_flow``), per frame for raw sockets (``match_burst``), and the same
expression as C for the monitor's XDP program (``xdp_expression``).

A flow filter (``flow=True``, mOS's SYN/orphan filters, the CLI's
--filter) may use only what decides a TCP flow: tcp, ip, ip6, host, net
(IPv4 or IPv6), port, portrange with their direction qualifiers, and, or,
not; "not tcp" is refused.  Its src is the flow's client (the sender, for an orphan).  A
packet filter (raw sockets) may also name ip, udp, icmp, lengths and TCP
flags.
"""
import ipaddress

from .._core import ffi, lib
from ..filter import Filter as PacketFilter
from ..filter.grammar import (PROTOCOLS, And, FilterError, Length, Not, Or, Proto,
                              TcpFlagsAny)

__all__ = ["Filter", "FilterError"]


def _check_flow(node, text):
    """Refuse what is no rule for a TCP flow (FilterError)."""
    if isinstance(node, Proto) and node.number != 6:
        names = {n: name for name, n in PROTOCOLS.items()}
        raise FilterError(text, 0, "%s is not a rule for a TCP flow monitor"
                          % names.get(node.number, "protocol %d" % node.number))
    if isinstance(node, (Length, TcpFlagsAny)):
        raise FilterError(text, 0, "lengths and TCP flags are per packet, not rules for a flow")
    if isinstance(node, Not):
        if isinstance(node.arg, Proto) and node.arg.number == 6:
            raise FilterError(text, 0, "'not tcp' is not a rule for a TCP flow monitor")
        _check_flow(node.arg, text)
    if isinstance(node, (And, Or)):
        _check_flow(node.left, text)
        _check_flow(node.right, text)


def _be32(addr):
    """An IPv4 address (text or IPv4Address) as the uint32 C loads."""
    return int.from_bytes(ipaddress.IPv4Address(addr).packed, "little")


def _be16(port):
    return int.from_bytes(int(port).to_bytes(2, "big"), "little")


class Filter:
    """compile(text) once; ``tree`` is None for an empty expression
    (everything matches)."""

    def __init__(self, text, flow=False):
        self.text = text or ""
        self.flow = flow
        try:
            self.program = PacketFilter(self.text)
        except FilterError:
            raise
        except ValueError as e:                     # too complex for the VM
            raise FilterError(self.text, 0, str(e)) from None
        if flow:
            _check_flow(self.program.tree, self.text)
        self.tree = None if self.program.matches_everything else self.program.tree

    def compiled(self):
        """The C core's program (xdpmtcp.filter.Filter)."""
        return self.program

    def __call__(self, saddr, sport, daddr, dport, proto=6):
        """Does the flow saddr:sport -> daddr:dport match (in C)?  Addresses
        IPv4 or IPv6 (text or ipaddress objects), both of one family."""
        if self.tree is None:
            return True
        s, d = ipaddress.ip_address(saddr), ipaddress.ip_address(daddr)
        if s.version != d.version:
            raise ValueError("flow %s -> %s mixes IPv4 and IPv6" % (s, d))
        if s.version == 6:
            return bool(lib.xc_filter_match_tuple6(self.program.raw, proto, s.packed, _be16(sport),
                                                   d.packed, _be16(dport)))
        return bool(lib.xc_filter_match_tuple_proto(self.program.raw, proto, _be32(s),
                                                    _be16(sport), _be32(d), _be16(dport)))

    def match_flow(self, f):
        """A flow of the C core (struct xc_mon_flow *), client as src."""
        if self.tree is None:
            return True
        if f.v6:
            return bool(lib.xc_filter_match_tuple6(self.program.raw, 6, f.cli_ip6, f.cli_port,
                                                   f.svr_ip6, f.svr_port))
        return bool(lib.xc_filter_match_tuple(
            self.program.raw, f.cli_addr, f.cli_port, f.svr_addr, f.svr_port))

    def match_burst(self, burst):
        """One byte per frame of the burst, 1 where it matches (one C call)."""
        out = bytearray(max(1, len(burst)))
        if self.tree is None:
            return bytearray(b"\1" * len(burst))
        lib.xc_filter_burst(self.program.raw, burst.raw, ffi.from_buffer(out))
        return out[:len(burst)]

    def xdp_expression(self):
        """C for the monitor's XDP program over one frame's fields; a flow
        filter takes a frame of either direction of a flow it matches."""
        return self.program.xdp_expression(either_direction=self.flow)
