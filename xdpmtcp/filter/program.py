"""A parsed filter, compiled twice from one tree: to the C core's postfix
program (api_filter.h) and to a C boolean expression the XDP program can
evaluate on the fields it parses (ipv4, ipv6, saddr, daddr, s6, d6, sport,
dport, proto, tcp_flags, len), so what XDP can check is dropped before any
copy."""
import struct

from .._core import ffi, lib
from .grammar import (Addr, And, Everything, Family, Length, Not, Or, Port, Proto, TcpFlagsAny,
                      parse)

_DIR = {"src": lib.XC_FDIR_SRC, "dst": lib.XC_FDIR_DST, "either": lib.XC_FDIR_EITHER,
        "both": lib.XC_FDIR_BOTH}


def _net_order(value):
    """A host-order IPv4 integer as the uint32 C loads from the packet."""
    return struct.unpack("=I", struct.pack("!I", value))[0]


def _mask(prefix):
    return (0xffffffff << (32 - prefix)) & 0xffffffff if prefix else 0


def _words6(addr, prefix):
    """An IPv6 network as 4 (address word, mask word) pairs, each as the
    uint32 C loads from the packet."""
    out = []
    for w in range(4):
        bits = min(32, max(0, prefix - 32 * w))
        m = _mask(bits)
        out.append((_net_order((addr >> (96 - 32 * w)) & 0xffffffff & m), _net_order(m)))
    return out


class Filter:
    """``Filter(text)``; ``match(frame)``, ``match_burst(burst)`` in C;
    ``xdp_expression()`` for the XDP program."""

    def __init__(self, text=""):
        self.text = text or ""
        self.tree = parse(self.text)
        self._prog = ffi.new("struct xc_filter *")
        self._emit(self.tree)
        if lib.xc_filter_check(self._prog) != 0:
            raise ValueError("filter %r is too complex (over %d steps or %d nested terms)"
                             % (self.text, lib.XC_FILTER_MAX_INSNS, lib.XC_FILTER_STACK))
        self._hits = None

    def __repr__(self):
        return "Filter(%r)" % self.text

    @property
    def raw(self):
        return self._prog

    @property
    def matches_everything(self):
        return isinstance(self.tree, Everything)

    # -- the C core's program ----------------------------------------------
    def _insn(self, op, a6=None, **fields):
        p = self._prog
        if p.n >= lib.XC_FILTER_MAX_INSNS:
            raise ValueError("filter %r is too long (over %d steps)" % (self.text, lib.XC_FILTER_MAX_INSNS))
        i = p.insns[p.n]
        i.op = op
        for k, v in fields.items():
            setattr(i, k, v)
        if a6 is not None:
            ffi.memmove(i.a6, a6, 16)
        p.n += 1

    def _emit(self, node):
        if isinstance(node, Everything):
            self._insn(lib.XC_FOP_TRUE)
        elif isinstance(node, Addr) and node.family == 6:
            self._insn(lib.XC_FOP_ADDR6, dir=_DIR[node.dir], a=node.prefix,
                       a6=node.addr.to_bytes(16, "big"))
        elif isinstance(node, Addr):
            m = _mask(node.prefix)
            self._insn(lib.XC_FOP_ADDR, dir=_DIR[node.dir], a=_net_order(node.addr & m), mask=_net_order(m))
        elif isinstance(node, Family):
            self._insn(lib.XC_FOP_FAMILY, a=node.version)
        elif isinstance(node, Port):
            self._insn(lib.XC_FOP_PORT, dir=_DIR[node.dir], lo=node.lo, hi=node.hi)
        elif isinstance(node, Proto):
            self._insn(lib.XC_FOP_PROTO, a=node.number)
        elif isinstance(node, Length):
            self._insn(lib.XC_FOP_LEN, dir=1 if node.at_least else 0, a=node.n)
        elif isinstance(node, TcpFlagsAny):
            self._insn(lib.XC_FOP_TCPFLAGS, a=node.mask)
        elif isinstance(node, Not):
            self._emit(node.arg)
            self._insn(lib.XC_FOP_NOT)
        elif isinstance(node, (And, Or)):
            self._emit(node.left)
            self._emit(node.right)
            self._insn(lib.XC_FOP_AND if isinstance(node, And) else lib.XC_FOP_OR)
        else:
            raise TypeError(node)

    def match(self, frame):
        return bool(lib.xc_filter_match(self._prog, ffi.from_buffer(frame), len(frame)))

    def match_burst(self, burst):
        """A list of booleans, one per frame of the burst (one C call)."""
        out = ffi.new("uint8_t[]", max(1, len(burst)))
        lib.xc_filter_burst(self._prog, burst.raw, out)
        return [bool(out[i]) for i in range(len(burst))]

    # -- the XDP program's expression ----------------------------------------
    def xdp_expression(self, either_direction=False):
        """C over: int ipv4, ipv6; __u32 saddr, daddr (IPv4), s6[4], d6[4]
        (IPv6), as loaded from the packet; __u16 sport, dport (host order),
        __u8 proto (the upper layer), tcp_flags, int has_ports; __u32 len.  either_direction: true also for a frame whose
        reverse matches (a flow filter, whose src is the flow's client,
        judging frames of both directions)."""
        expr = _c(self.tree, False)
        if either_direction:
            swapped = _c(self.tree, True)
            if swapped != expr:
                expr = "(%s || %s)" % (expr, swapped)
        return expr


def _side(dir, fmt, swap):
    s, d = fmt.format(side="s"), fmt.format(side="d")
    if swap:
        s, d = d, s
    return {"src": s, "dst": d, "either": "(%s || %s)" % (s, d), "both": "(%s && %s)" % (s, d)}[dir]


def _c(node, swap):
    if isinstance(node, Everything):
        return "1"
    if isinstance(node, Addr) and node.family == 6:
        words = ["(({side}6[%d] & 0x%08xu) == 0x%08xu)" % (w, m, a)
                 for w, (a, m) in enumerate(_words6(node.addr, node.prefix)) if m]
        return "(ipv6 && %s)" % (_side(node.dir, "(%s)" % " && ".join(words), swap) if words else "1")
    if isinstance(node, Addr):
        m = _mask(node.prefix)
        return "(ipv4 && %s)" % _side(node.dir, "(({side}addr & 0x%08xu) == 0x%08xu)"
                                      % (_net_order(m), _net_order(node.addr & m)), swap)
    if isinstance(node, Port):
        return "(has_ports && %s)" % _side(node.dir, "({side}port >= %d && {side}port <= %d)"
                                           % (node.lo, node.hi), swap)
    if isinstance(node, Family):
        return "ipv%d" % node.version
    if isinstance(node, Proto):
        return "((ipv4 || ipv6) && proto == %d)" % node.number
    if isinstance(node, Length):
        return "(len %s %d)" % (">=" if node.at_least else "<=", node.n)
    if isinstance(node, TcpFlagsAny):
        return "(ipv4 && has_ports && proto == 6 && (tcp_flags & 0x%02x))" % node.mask
    if isinstance(node, Not):
        return "(!%s)" % _c(node.arg, swap)
    if isinstance(node, And):
        return "(%s && %s)" % (_c(node.left, swap), _c(node.right, swap))
    if isinstance(node, Or):
        return "(%s || %s)" % (_c(node.left, swap), _c(node.right, swap))
    raise TypeError(node)


__all__ = ["Filter"]
