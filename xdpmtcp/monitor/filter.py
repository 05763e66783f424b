"""tcpdump-style filter expressions for the monitor (the subset mOS's
``mtcp_bind_monitor_filter`` accepts for flows, plus ip/tcp/udp for raw
sockets), compiled to a predicate over one packet's or flow's addresses.

Grammar (precedence: not > and > or; parentheses group):

    expr    := term ("or" | "||") term ...
    term    := factor ("and" | "&&") factor ...
    factor  := ("not" | "!") factor | "(" expr ")" | prim
    prim    := "tcp" | "ip" | "udp" | "icmp"
             | [dir] "host" ADDR | [dir] "net" ADDR["/"LEN] ["mask" MASK]
             | [dir] "port" N | [dir] "portrange" N"-"M
    dir     := "src" | "dst" | "src or dst" | "src and dst"

Flow rules (``FLOW_KEYWORDS``) may use only tcp, host, src, dst, net,
mask, port, portrange, and, or, not: like mOS, "not tcp" is refused for a
flow monitor.
"""
import ipaddress
import re

XC_FILTER_MAX = 64           # operations in the C program (XC_MON_FILTER_MAX)
FLOW_KEYWORDS = {"tcp", "host", "src", "dst", "net", "mask", "port", "portrange",
                 "and", "or", "not", "&&", "||", "!", "(", ")"}
PROTOS = {"ip": None, "tcp": 6, "udp": 17, "icmp": 1}
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!]+)")


class FilterError(ValueError):
    pass


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FilterError("cannot read %r" % text[pos:])
        out.append(m.group(1).lower() if m.group(1).isalpha() else m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, toks, flow):
        self.t = toks
        self.i = 0
        self.flow = flow

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise FilterError("expected %s, got %s" % (want or "more", tok or "the end"))
        self.i += 1
        return tok

    def expr(self):
        node = self.term()
        while self.peek() in ("or", "||"):
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.peek() is not None and self.peek() not in ("or", "||", ")"):
            if self.peek() in ("and", "&&"):      # tcpdump: "and" may be left out
                self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self):
        tok = self.peek()
        if tok in ("not", "!"):
            self.take()
            inner = self.factor()
            if self.flow and inner == ("proto", 6):
                raise FilterError("'not tcp' is not a rule for a TCP flow monitor")
            return ("not", inner)
        if tok == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        return self.prim()

    def prim(self):
        tok = self.take()
        if tok in PROTOS:
            if self.flow and tok != "tcp":
                raise FilterError("%r is not a flow keyword" % tok)
            return ("proto", PROTOS[tok])
        direction = "either"
        if tok in ("src", "dst"):
            direction = tok
            if self.peek() in ("or", "and") and self.i + 1 < len(self.t) and \
                    self.t[self.i + 1] == ("dst" if tok == "src" else "src"):
                direction = "either" if self.take() == "or" else "both"
                self.take()
            tok = self.take()
        if tok == "host":
            return ("host", direction, ipaddress.IPv4Network(self._addr(self.take())))
        if tok == "net":
            text = self.take()
            if self.peek() == "mask":
                self.take()
                net = ipaddress.IPv4Network("%s/%s" % (text, self.take()), strict=False)
            else:
                net = ipaddress.IPv4Network(text, strict=False)
            return ("host", direction, net)
        if tok == "port":
            p = self._port(self.take())
            return ("port", direction, p, p)
        if tok == "portrange":
            lo, _, hi = self.take().partition("-")
            return ("port", direction, self._port(lo), self._port(hi))
        raise FilterError("unknown keyword %r" % tok)

    @staticmethod
    def _addr(text):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise FilterError("not an IPv4 address: %r" % text) from None

    @staticmethod
    def _port(text):
        if not text.isdigit() or int(text) > 65535:
            raise FilterError("not a port: %r" % text)
        return int(text)


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
    with addresses as ipaddress.IPv4Address (or text)."""

    def __init__(self, text, flow=False):
        self.text = text or ""
        toks = _tokens(self.text)
        if flow:
            bad = [t for t in toks if t not in FLOW_KEYWORDS and not _is_value(t)]
            if bad:
                raise FilterError("invalid keyword in a flow filter: %r" % bad[0])
        if not toks:
            self.tree = None
            return
        p = _Parser(toks, flow)
        self.tree = p.expr()
        if p.peek() is not None:
            raise FilterError("unexpected %r" % p.peek())

    def __call__(self, saddr, sport, daddr, dport, proto=6):
        if self.tree is None:
            return True
        if not isinstance(saddr, ipaddress.IPv4Address):
            saddr = ipaddress.IPv4Address(saddr)
        if not isinstance(daddr, ipaddress.IPv4Address):
            daddr = ipaddress.IPv4Address(daddr)
        return _match(self.tree, saddr, sport, daddr, dport, proto)


DIRS = {"src": 1, "dst": 2, "either": 3, "both": 4}


def program(tree):
    """The tree as the C core's postfix program: a list of (op, dir, lo,
    hi, net, mask) with XC_MON_FOP_* codes (api_mon.h)."""
    out = []

    def emit(node):
        kind = node[0]
        if kind in ("and", "or"):
            emit(node[1])
            emit(node[2])
            out.append((4 if kind == "and" else 5, 0, 0, 0, 0, 0))
        elif kind == "not":
            emit(node[1])
            out.append((3, 0, 0, 0, 0, 0))
        elif kind == "proto":
            out.append((0, 0, 0, 0, 0, 0))
            if node[1] not in (None, 6):          # a TCP flow is never udp/icmp
                out.append((3, 0, 0, 0, 0, 0))
        elif kind == "host":
            net = node[2]
            out.append((1, DIRS[node[1]], 0, 0, int(net.network_address), int(net.netmask)))
        else:
            out.append((2, DIRS[node[1]], node[2], node[3], 0, 0))
    if tree is not None:
        emit(tree)
    return out


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


def _is_value(tok):
    return bool(re.match(r"^[0-9./\-]+$", tok))
