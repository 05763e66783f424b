"""Next hop for a destination from the kernel's route and neighbour tables.

No arp.conf/route.conf: the kernel already knows.  When the neighbour entry
is missing, a zero-length UDP datagram makes the kernel resolve it (ARP),
and the table is polled until the entry is usable.
"""
import contextlib
import socket
import time
from dataclasses import dataclass

from pyroute2 import IPRoute

NUD_USABLE = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80  # REACHABLE STALE DELAY PROBE NOARP PERMANENT
DISCARD_PORT = 9


class RouteError(OSError):
    pass


@dataclass(frozen=True)
class NextHop:
    dst: str
    ifindex: int
    ifname: str
    src_ip: str        # the kernel's preferred source address for dst
    src_mac: str
    dst_mac: str
    gateway: str       # None when dst is on-link


def _attr(msg, name):
    return msg.get_attr(name) if hasattr(msg, "get_attr") else msg.get(name)


def _poke_neighbour(addr):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"", (addr, DISCARD_PORT))
        except OSError:
            pass


def resolve_next_hop(dst, timeout=1.0):
    """Route dst as the kernel would; returns a NextHop or raises RouteError."""
    with IPRoute() as ipr:
        try:
            route = ipr.route("get", dst=dst)[0]
        except Exception as e:
            raise RouteError("no route to %s: %s" % (dst, e)) from None
        ifindex = _attr(route, "RTA_OIF")
        src = _attr(route, "RTA_PREFSRC")
        gateway = _attr(route, "RTA_GATEWAY")
        link = ipr.link("get", index=ifindex)[0]
        ifname = _attr(link, "IFLA_IFNAME")
        src_mac = _attr(link, "IFLA_ADDRESS")
        hop = gateway or dst
        deadline = time.monotonic() + timeout
        poked = False
        while True:
            for n in ipr.get_neighbours(dst=hop, ifindex=ifindex):
                mac = _attr(n, "NDA_LLADDR")
                if mac and n["state"] & NUD_USABLE:
                    return NextHop(dst, ifindex, ifname, src, src_mac, mac, gateway)
            if time.monotonic() >= deadline:
                raise RouteError("no link-layer address for %s on %s (neighbour "
                                 "did not answer within %.1fs)" % (hop, ifname, timeout))
            if not poked:
                _poke_neighbour(hop)
                poked = True
            time.sleep(0.01)


class NextHopCache:
    """ip -> the next hop's MAC from the kernel's tables, each kept
    neighbour_cache_s (at most 4096: past it, forget all and relearn).  A
    miss asks netlink inside ``around()``: the namespace whose tables count
    (a Context sets its home; the calling thread may be elsewhere)."""

    CAP = 4096

    def __init__(self, tunables):
        self.ttl = tunables.neighbour_cache_s
        self.timeout = tunables.neighbour_timeout_s
        self.around = contextlib.nullcontext
        self._hits = {}

    def __call__(self, ip):
        hit = self._hits.get(ip)
        now = time.monotonic()
        if hit and hit[1] > now:
            return hit[0]
        with self.around():
            hop = resolve_next_hop(ip, self.timeout)
        mac = bytes.fromhex(hop.dst_mac.replace(":", ""))
        if len(self._hits) >= self.CAP:
            self._hits.clear()
        self._hits[ip] = (mac, now + self.ttl)
        return mac
