"""Reading every running context a command asked for: discovery plus one
snapshot each, as `trace` and `status` and the metrics bridge use it."""
from dataclasses import dataclass, field

from .client import ControlClient, ControlError
from .paths import discover


@dataclass
class ContextView:
    address: object            # paths.ControlAddress
    meta: dict
    rows: list = field(default_factory=list)

    @property
    def label(self):
        m = self.meta
        ifaces = ",".join(i["ifname"] for i in m.get("interfaces", []))
        return "%s pid %d on %s%s" % (m.get("role", "?"), self.address.pid, ifaces or "?",
                                      " (netns %s)" % m["netns_name"] if m.get("netns_name") else "")


def gather(pid=None, iface=None, netns=None, rows=True, errors=None):
    """[ContextView] of the live contexts matching pid, iface and netns
    (an `ip netns` name); a context that does not answer is left out, with
    its error appended to errors (a list) when given."""
    out = []
    for addr in discover(pid=pid, iface=iface):
        try:
            meta, got = ControlClient(addr).snapshot(rows=rows)
        except (ControlError, OSError, ValueError) as e:
            if errors is not None:
                errors.append("pid %d: %s" % (addr.pid, e))
            continue
        if netns is not None and meta.get("netns_name") != netns:
            continue
        ifaces = [i["ifname"] for i in meta.get("interfaces", [])]
        for row in got or []:
            row["pid"] = addr.pid
            row["iface"] = ifaces[row["engine"]] if "engine" in row and ifaces else ",".join(ifaces)
        out.append(ContextView(addr, meta, got or []))
    return out
