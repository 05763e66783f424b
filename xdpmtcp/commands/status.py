"""xdpmtcp status: the xdpmtcp contexts running on this host: process,
interface, RX queue, XDP mode (native or generic), owned ports, and their
counters (XDP program, AF_XDP port, engine)."""
import argparse
import json
import os
import sys

from rich.table import Table

from ..control.gather import gather
from ..kernel import runstate
from ..kernel.rss import rss_summary
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
    for v in views:
        for itf in v.meta.get("interfaces", []):
            if "rss" not in itf and "channels" in itf:     # endpoints, not monitors
                itf["rss"] = read_rss_of(v.address.pid, itf["ifname"])
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


def read_rss_of(pid, ifname):
    """rss_summary() of an interface in the netns of process pid, or None
    when that namespace cannot be entered (the process is gone)."""
    try:
        fd = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with runstate.entered_netns(fd):
            return rss_summary(ifname)
    except OSError:
        return None
    finally:
        os.close(fd)


def rss_text(rss):
    """The RSS row: what spreads received frames over the RX queues."""
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
                ch["max_tx"], ch["max_combined"],
                "; only queue %s is served: docs/deploy.md" % itf.get("queue") if ch["rx_queues"] > 1 else ""))
        rss = rss_text(itf.get("rss"))
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
