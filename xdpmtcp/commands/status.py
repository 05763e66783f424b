"""xdpmtcp status: the xdpmtcp contexts running on this host: process,
interface, RX queue, XDP mode (native or generic), owned ports, and their
counters (XDP program, AF_XDP port, engine)."""
import argparse
import json
import sys

from rich.table import Table

from ..control.gather import gather
from .common import console, fail
from .trace import add_selection_flags

EPILOG = """\
examples:
  xdpmtcp status                 # every context on this host
  xdpmtcp status -i eth1 --json  # one JSON object per context, all counters

XDP mode "native" runs in the driver; "skb" is generic XDP (slower, works
everywhere). `xdpmtcp xdp status -i IF` shows the program the kernel has.
"""

# the counters the table shows; --json has all of them
HEADLINE = (("xdp", "redirected"), ("xdp", "passed"), ("xdp", "no_socket"), ("xdp", "syn_cookies"),
            ("port", "rx_frames"), ("port", "tx_frames"), ("port", "rx_ring_full"),
            ("engine", "fast_path"), ("engine", "slow_path"), ("engine", "tcbs"), ("engine", "rst_sent"))


def add_parser(sub):
    p = sub.add_parser("status", help="show the xdpmtcp contexts running on this host",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_flags(p)
    p.add_argument("--json", action="store_true", help="one JSON object per context and line")
    p.set_defaults(func=run)


def run(args):
    errors = []
    views = gather(pid=args.pid, iface=args.iface, netns=args.netns, rows=False, errors=errors)
    note_served_queues(views)
    if args.json:
        for v in views:
            print(json.dumps(v.meta, separators=(",", ":"), default=str))
    else:
        out = console()
        print_views(views, out)
    for e in errors:
        print("xdpmtcp: no answer from %s" % e, file=sys.stderr)
    if not views:
        return fail("no running xdpmtcp context%s" % (" matches" if args.pid or args.iface or args.netns else ""))
    return 0


def note_served_queues(views):
    """Each endpoint interface gets "served_queues": the RX queues some
    context (this process or another, a supervisor's workers) serves on
    that interface of that namespace."""
    served = {}
    for v in views:
        for itf in v.meta.get("interfaces", []):
            if "queue" in itf:
                served.setdefault((v.meta.get("netns"), itf["ifname"]), set()).add(itf["queue"])
    for v in views:
        for itf in v.meta.get("interfaces", []):
            if "queue" in itf:
                itf["served_queues"] = sorted(served[(v.meta.get("netns"), itf["ifname"])])


def served_text(itf, ch):
    """What the channels row adds on a multi-queue interface."""
    queues = itf.get("served_queues") or [itf.get("queue")]
    if ch["rx_queues"] <= 1:
        return ""
    if len(queues) >= ch["rx_queues"]:
        return "; every queue is served"
    return "; served: queue%s %s only, the others' frames go to the kernel (docs/deploy.md)" % (
        "" if len(queues) == 1 else "s", ", ".join(map(str, queues)))


def rss_text(rss, tunable_key=None):
    """The RSS row: what spreads received frames over the RX queues."""
    if tunable_key:
        key = tunable_key.replace(":", "")
        return "key from the rss_key tunable, %s.. (%d bytes), default table (the driver reports none)" % (
            key[:16], len(key) // 2)
    if not rss:
        return None
    if not rss.get("readable"):
        return "not readable (veth / driver): rss_key tunable sets it"
    key = rss["key"]
    shown = key if len(key) <= 16 else key[:16] + ".."
    return "%s, key %s (%d bytes), indirection table %d entries over %d queue(s)" % (
        rss["hfunc"], shown, len(key) // 2, rss["indir_size"], rss["queues"])


def _ports(itf):
    owned = ", ".join(map(str, itf.get("owned_ports", []))) or "none"
    eph = itf.get("ephemeral_ports")
    return owned + ("; ephemeral %d-%d" % tuple(eph) if eph else "")


def _line(itf, part):
    values = itf.get(part, {})
    return "  ".join("%s %s" % (name, values.get(name, 0)) for p, name in HEADLINE if p == part)


def describe(v):
    """One context as a key/value grid (fits 80 columns, as xdp-loader status)."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    m = v.meta
    t.add_row("%s pid %d" % (m.get("role", "?"), v.address.pid),
              "netns %s" % (m.get("netns_name") or m.get("netns", "?")))
    if m.get("role") == "monitor":
        st = m.get("monitor", {})
        t.add_row("interfaces", " ".join(i["ifname"] for i in m.get("interfaces", [])))
        t.add_row("flows", "%d live, %d created, %d ended (%d mid-stream)" % (
            st.get("flows_live", 0), st.get("flows_created", 0), m.get("connections_ended", 0),
            st.get("flows_midstream", 0)))
        t.add_row("frames", "%d seen, %d malformed" % (m.get("frames", 0), st.get("malformed", 0)))
        return t
    for itf in m.get("interfaces", []):
        t.add_row("interface", "%s  queue %s  XDP %s (prog id %s)" % (
            itf["ifname"], itf.get("queue"), itf.get("xdp_mode"), itf.get("xdp_prog_id")))
        ch = itf.get("channels")
        if ch:
            t.add_row("channels", "%d RX queue(s): rx %d, tx %d, combined %d (max %d/%d/%d)%s" % (
                ch["rx_queues"], ch["rx_count"], ch["tx_count"], ch["combined_count"], ch["max_rx"],
                ch["max_tx"], ch["max_combined"], served_text(itf, ch)))
        rss = rss_text(itf.get("rss"), itf.get("rss_key"))
        if rss:
            t.add_row("RSS", rss)
        t.add_row("addresses", " ".join(itf.get("addresses", [])) or "none")
        t.add_row("owned ports", _ports(itf))
        t.add_row("connections", "%d blocks; listeners: %s" % (
            itf.get("engine", {}).get("tcbs", 0),
            ", ".join("%s:%d (%d waiting)" % (l["addr"], l["port"], l["pending"]) for l in itf.get("listeners", []))
            or "none"))
        for part in ("xdp", "port", "engine"):
            t.add_row(part, _line(itf, part))
    return t


def print_views(views, out):
    for k, v in enumerate(views):
        if k:
            out.print()
        out.print(describe(v))
