"""tcpdump-style filter expressions (a subset of pcap-filter(7)) parsed into
a small tree.  Errors name the column and what was expected.

    expr      := factor (("and" | "&&" | "or" | "||") factor)*   (equal precedence,
                                                             left to right, as tcpdump)
    factor    := ("not" | "!") factor | "(" expr ")" | [proto] primitive | ID
    primitive := [dir] "host" ADDR | [dir] "net" ADDR/LEN | [dir] "net" ADDR "mask" ADDR
               | [dir] "port" PORT | [dir] "portrange" PORT-PORT
               | "ip" | "ip6" | "tcp" | "udp" | "icmp" | "icmp6" | "less" N | "greater" N
               | "tcp[tcpflags]" "&" FLAGS "!=" "0"
    dir       := "src" | "dst" | "src or dst" | "src and dst"

A bare ID after "and"/"or" repeats the previous primitive's qualifiers, as
tcpdump does: "port 80 or 443", "host 198.18.0.1 or 198.18.0.2".

ADDR is IPv4 or IPv6 (a host or net of one family matches packets of that
family only); "mask" takes IPv4 networks only, as in libpcap.  As in
tcpdump, "ip" and "icmp" are IPv4, "ip6" and "icmp6" IPv6, and "tcp",
"udp" and ports either.
"""
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Optional, Union

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
FAMILY_OF = {"icmp": 4, "icmp6": 6}          # protocols of one IP version only
FAMILIES = {"ip": 4, "ip6": 6}
TCP_FLAGS = {"tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
             "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80}
DIRS = {"src": "src", "dst": "dst", "src or dst": "either", "src and dst": "both"}


class FilterError(ValueError):
    def __init__(self, text, column, message):
        self.text, self.column, self.message = text, column, message
        super().__init__("filter %r: at column %d: %s" % (text, column + 1, message))


# --- tree ------------------------------------------------------------------

@dataclass(frozen=True)
class Addr:
    dir: str
    addr: int                   # integer of the network (IPv4: 32 bits, IPv6: 128)
    prefix: int
    family: int = 4             # 4 or 6: packets of the other family never match


@dataclass(frozen=True)
class Port:
    dir: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Proto:
    number: int                 # the upper-layer protocol, in IPv4 or IPv6


@dataclass(frozen=True)
class Family:
    version: int                # 4 ("ip") or 6 ("ip6")


@dataclass(frozen=True)
class Length:
    at_least: bool
    n: int


@dataclass(frozen=True)
class TcpFlagsAny:
    mask: int


@dataclass(frozen=True)
class Not:
    arg: "Node"


@dataclass(frozen=True)
class And:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Or:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Everything:
    pass


Node = Union[Addr, Port, Proto, Family, Length, TcpFlagsAny, Not, And, Or, Everything]

# --- tokens ------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!=|[()!&|=-])|(?P<word>tcp\[tcpflags\]|[A-Za-z0-9_.:/-]+))")


def tokenize(text):
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise FilterError(text, pos, "unexpected character %r" % text[pos])
        tok = m.group("op") or m.group("word")
        toks.append((tok, m.start(m.lastgroup)))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.last = None           # (kind, dir) of the previous primitive

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j][0] if j < len(self.toks) else None

    def col(self):
        return self.toks[self.i][1] if self.i < len(self.toks) else len(self.text)

    def take(self, exact=None, what=None):
        """The next token; exact: it must be this one; what: names it in errors."""
        tok = self.peek()
        if tok is None:
            raise FilterError(self.text, self.col(), "expected %s, found the end"
                              % (what or (repr(exact) if exact else "more")))
        if exact is not None and tok != exact:
            raise FilterError(self.text, self.col(), "expected %r, found %r" % (exact, tok))
        self.i += 1
        return tok

    def fail(self, message):
        raise FilterError(self.text, self.col(), message)

    # grammar
    def expr(self):
        # pcap-filter(7): "and" and "or" have equal precedence, left to right
        node = self.factor()
        while self.peek() in ("or", "||", "and", "&&"):
            op = self.take()
            right = self.factor()
            node = Or(node, right) if op in ("or", "||") else And(node, right)
        return node

    def factor(self):
        tok = self.peek()
        if tok in ("not", "!"):
            self.take()
            return Not(self.factor())
        if tok == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        if tok is None:
            self.fail("expected a primitive, found the end")
        return self.primitive()

    def direction(self):
        if self.peek() in ("src", "dst"):
            first = self.take()
            if self.peek() in ("or", "and") and self.peek(1) in ("src", "dst") and self.peek(1) != first:
                joiner = self.take()
                self.take()
                return DIRS["src %s dst" % joiner]
            return DIRS[first]
        return None

    def primitive(self):
        start = self.i
        d = self.direction()
        tok = self.peek()
        if tok in ("host", "net", "port", "portrange"):
            self.take()
            kind = tok
        elif d is None and self.last is not None and tok is not None and re.match(r"[0-9A-Za-z:]", tok) \
                and tok not in PROTOCOLS and tok not in FAMILIES \
                and tok not in ("less", "greater", "tcp[tcpflags]"):
            kind, d = self.last          # "port 80 or 443"
        elif d is not None:
            self.fail("expected host, net, port or portrange after %r" % self.toks[start][0])
        else:
            return self.keyword()
        d = d or "either"
        self.last = (kind, d)
        if kind == "host":
            return Addr(d, *self.address())
        if kind == "net":
            return Addr(d, *self.network())
        if kind == "port":
            p, protos = self.port()
            node = Port(d, p, p)
            if protos is not None and len(protos) == 1:
                node = And(Proto(protos[0]), node)
            return node
        if self.peek() is None:
            self.take(what="a port range")
        m = re.fullmatch(r"(\w+)-(\w+)", self.peek())
        if not m:
            self.fail("expected a port range like 8000-8100, found %r" % self.peek())
        lo, hi = self.port_value(m.group(1)), self.port_value(m.group(2))
        if lo > hi:
            self.fail("port range %d-%d is empty" % (lo, hi))
        self.take()
        return Port(d, lo, hi)

    def keyword(self):
        tok = self.take()
        self.last = None
        if tok in FAMILIES:
            return Family(FAMILIES[tok])
        if tok in PROTOCOLS:
            proto = Proto(PROTOCOLS[tok])
            if tok in FAMILY_OF:
                proto = And(Family(FAMILY_OF[tok]), proto)
            if self.peek() in ("src", "dst", "host", "net", "port", "portrange"):
                return And(proto, self.primitive())      # "tcp port 80"
            return proto
        if tok in ("less", "greater"):
            return Length(tok == "greater", self.number("a length"))
        if tok == "tcp[tcpflags]":
            self.take("&")
            mask = self.flags()
            self.take("!=")
            if self.peek() != "0":
                self.fail("only 'tcp[tcpflags] & FLAGS != 0' is supported")
            self.take()
            return TcpFlagsAny(mask)
        self.i -= 1
        self.fail("unknown primitive %r (try host, net, port, portrange, tcp, udp, ip, ip6, less, greater)" % tok)

    def flags(self):
        if self.peek() == "(":
            self.take()
            mask = self.flags()
            while self.peek() == "|":
                self.take()
                mask |= self.flags()
            self.take(")")
            return mask
        tok = self.take(what="a TCP flag")
        if tok in TCP_FLAGS:
            return TCP_FLAGS[tok]
        if tok.isdigit() and int(tok) < 256:
            return int(tok)
        self.i -= 1
        self.fail("unknown TCP flag %r (known: %s)" % (tok, ", ".join(TCP_FLAGS)))

    def number(self, what):
        tok = self.take(what=what)
        if not tok.isdigit():
            self.i -= 1
            self.fail("expected %s, found %r" % (what, tok))
        return int(tok)

    def port_value(self, tok):
        if tok.isdigit():
            if int(tok) > 65535:
                self.fail("port %s is out of range" % tok)
            return int(tok)
        for proto in ("tcp", "udp"):
            try:
                return socket.getservbyname(tok, proto)
            except OSError:
                pass
        self.fail("unknown port name %r" % tok)

    def port(self):
        """(number, protocols the name is defined for, or None for a number)."""
        if self.peek() is None:
            self.take(what="a port")
        tok = self.peek()
        value = self.port_value(tok)            # errors point at the token
        self.take()
        if tok.isdigit():
            return value, None
        # as libpcap: a service name applies only where /etc/services defines it
        protos = []
        for name in ("tcp", "udp"):
            try:
                if socket.getservbyname(tok, name) == value:
                    protos.append(PROTOCOLS[name])
            except OSError:
                pass
        return value, protos

    def address(self):
        """(integer, prefix length, family) of a host address."""
        tok = self.take(what="an IPv4 or IPv6 address")
        try:
            a = ipaddress.ip_address(tok)
        except ValueError:
            self.i -= 1
            self.fail("expected an IPv4 or IPv6 address, found %r" % tok)
        return int(a), a.max_prefixlen, a.version

    def network(self):
        tok = self.take(what="an IPv4 or IPv6 network")
        if ":" in tok and self.peek() == "mask":
            self.fail("'mask' takes IPv4 networks only: write %s/LEN" % tok)
        try:
            if "/" in tok:
                net = ipaddress.ip_network(tok, strict=False)
            elif self.peek() == "mask":
                self.take()
                mask = self.take(what="a netmask")
                net = ipaddress.IPv4Network("%s/%s" % (tok, mask), strict=False)
            else:
                net = ipaddress.ip_network(tok)
        except ValueError as e:
            self.i -= 1
            self.fail("bad network %r: %s" % (tok, e))
        return int(net.network_address), net.prefixlen, net.version


def parse(text):
    """Tree for a filter expression; empty text matches everything."""
    if not text or not text.strip():
        return Everything()
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        p.fail("unexpected %r" % p.peek())
    return node
