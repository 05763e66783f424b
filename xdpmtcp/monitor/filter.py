"""Flow filters for the monitor: the tcpdump-style expressions of
xdpmtcp.filter (one parser, checked against tcpdump), turned into the tuple
tree source.py offloads to XDP, the C program the monitor core runs once
per flow (``compiled()``), and a Python predicate over a flow's 4-tuple.

A flow filter (``flow=True``, mOS's SYN/orphan filters) may use only what
decides a TCP flow: tcp, host, net, port, portrange with their direction
qualifiers, and, or, not; "not tcp" is refused.  A packet filter (raw
sockets) may also name ip, udp and icmp.
"""
import ipaddress

from ..filter.grammar import (Addr, And, Everything, FilterError, Length, Not, Or, Port, Proto,
                              TcpFlagsAny, parse)

__all__ = ["Filter", "FilterError", "offload"]


def _convert(node, flow, text):
    if isinstance(node, Addr):
        net = ipaddress.IPv4Network((node.addr, node.prefix), strict=False)
        return ("host", node.dir, net)
    if isinstance(node, Port):
        return ("port", node.dir, node.lo, node.hi)
    if isinstance(node, Proto):
        if flow and node.number != 6:
            raise FilterError(text, 0, "%s is not a rule for a TCP flow monitor"
                              % ("ip" if node.number is None else "protocol %d" % node.number))
        return ("proto", node.number)
    if isinstance(node, (Length, TcpFlagsAny)):
        raise FilterError(text, 0, "lengths and TCP flags are per packet, not rules for a flow")
    if isinstance(node, Not):
        inner = _convert(node.arg, flow, text)
        if flow and inner == ("proto", 6):
            raise FilterError(text, 0, "'not tcp' is not a rule for a TCP flow monitor")
        return ("not", inner)
    if isinstance(node, (And, Or)):
        return ("and" if isinstance(node, And) else "or",
                _convert(node.left, flow, text), _convert(node.right, flow, text))
    raise TypeError(node)


def _match(node, saddr, sport, daddr, dport, proto):
    kind = node[0]
    if kind == "or":
        return _match(node[1], saddr, sport, daddr, dport, proto) or \
            _match(node[2], saddr, sport, daddr, dport, proto)
    if kind == "and":
        return _match(node[1], saddr, sport, daddr, dport, proto) and \
            _match(node[2], saddr, sport, daddr, dport, proto)
    if kind == "not":
        return not _match(node[1], saddr, sport, daddr, dport, proto)
    if kind == "proto":
        return node[1] is None or proto == node[1]
    if kind == "host":
        net = node[2]
        s, d = saddr in net, daddr in net
    else:
        lo, hi = node[2], node[3]
        if proto not in (6, 17):
            return False
        s, d = lo <= sport <= hi, lo <= dport <= hi
    return {"src": s, "dst": d, "either": s or d, "both": s and d}[node[1]]


class Filter:
    """compile(text) once, then ``f(saddr, sport, daddr, dport, proto=6)``
    with addresses as ipaddress.IPv4Address (or text).  ``tree`` is None
    for an empty expression (everything matches)."""

    def __init__(self, text, flow=False):
        self.text = text or ""
        node = parse(self.text)
        self.tree = None if isinstance(node, Everything) else _convert(node, flow, self.text)

    def compiled(self):
        """The same expression as the C core's program (xdpmtcp.filter)."""
        from ..filter import Filter as PacketFilter
        return PacketFilter(self.text)

    def __call__(self, saddr, sport, daddr, dport, proto=6):
        if self.tree is None:
            return True
        if not isinstance(saddr, ipaddress.IPv4Address):
            saddr = ipaddress.IPv4Address(saddr)
        if not isinstance(daddr, ipaddress.IPv4Address):
            daddr = ipaddress.IPv4Address(daddr)
        return _match(self.tree, saddr, sport, daddr, dport, proto)
def offload(tree, max_ports=1024):
    """A necessary condition of the filter that XDP can check cheaply:
    (ports, nets), each a set (either direction) or None (no condition).
    A frame of a matching flow always has a port in ports (if given) and
    an address in nets (if given); the core still checks the exact filter."""
    def cond(node):
        kind = node[0]
        if kind == "port":
            if node[3] - node[2] + 1 > max_ports:
                return None, None
            return set(range(node[2], node[3] + 1)), None
        if kind == "host":
            return None, {str(node[2])}
        if kind == "and":
            (p1, n1), (p2, n2) = cond(node[1]), cond(node[2])
            ports = p1 if p1 is not None else p2          # each side is a necessary condition
            nets = n1 if n1 is not None else n2
            return ports, nets
        if kind == "or":
            (p1, n1), (p2, n2) = cond(node[1]), cond(node[2])
            ports = p1 | p2 if p1 is not None and p2 is not None else None
            nets = n1 | n2 if n1 is not None and n2 is not None else None
            if ports is not None and len(ports) > max_ports:
                ports = None
            return ports, nets
        return None, None                                 # not, proto: no condition
    if tree is None:
        return None, None
    return cond(tree)
