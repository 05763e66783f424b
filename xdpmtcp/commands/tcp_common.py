"""What the TCP commands (serve, connect) share: tunable overrides, the
engine on an interface, stop signals and the final report."""
import argparse
import contextlib
import dataclasses
import json

from ..api.config import tunable_value
from ..control import publish_endpoint
from ..netif import NetIf
from ..osutil import StopFlag  # noqa: F401 (the commands take it from here)
from ..phy import PcapTap
from ..tcp import Engine
from .common import metrics_endpoint
from ..tunables import DEFAULTS, Tunables


def parse_tunable(text):
    """KEY=VALUE for a field of Tunables, converted to its type and checked
    as mtcp.conf's tunable lines are."""
    key, sep, value = text.partition("=")
    types = {f.name: f.type for f in dataclasses.fields(Tunables)}
    if not sep or key not in types:
        raise argparse.ArgumentTypeError("%r: expected KEY=VALUE with KEY one of: %s"
                                         % (text, ", ".join(sorted(types))))
    try:
        return key, tunable_value(key, value)
    except ValueError as e:
        raise argparse.ArgumentTypeError("%s: bad value %r for a %s (%s)"
                                         % (key, value, types[key].__name__, e)) from None


def add_tcp_flags(p):
    p.add_argument("--tcp", metavar="KEY=VALUE", type=parse_tunable, action="append", default=[],
                   help="override a tunable (repeatable), e.g. --tcp congestion=newreno "
                        "--tcp rcvbuf=1048576; see docs/tcp.md for the list")
    p.add_argument("--metrics", metavar="[ADDR:]PORT", type=metrics_endpoint,
                   help="serve Prometheus metrics (xdpmtcp_*) on the kernel's TCP PORT (all "
                        "addresses unless ADDR); the tunables metrics_addr and metrics_port")
    p.add_argument("--json", action="store_true", help="print results as JSON lines")


def tunables_from(args):
    # --tcp xdp_mode=... may repeat --xdp-mode; the --tcp value wins
    given = [("xdp_mode", args.xdp_mode)]
    if getattr(args, "metrics", None):
        given += [("metrics_addr", args.metrics[0]), ("metrics_port", args.metrics[1])]
    return dataclasses.replace(DEFAULTS, **dict(given + args.tcp))


@contextlib.contextmanager
def engine_on(args, role):
    """NetIf + Engine for the command's flags, published on the control
    channel as role (`xdpmtcp trace` sees it); everything undone on exit."""
    with NetIf(args.iface, tunables=tunables_from(args), force=args.force) as nif:
        if args.pcap:
            nif.port.add(PcapTap(args.pcap))
        if args.faults:
            nif.port.add(args.faults)
        if nif.queues > 1:
            # the engine's connects still come back to queue 0 (nif.rss), not others' connections
            nif.remarks.insert(0, "%s has %d RX queues and this command serves queue 0: connections "
                               "the NIC's RSS puts on the others reach the kernel, which resets them; a "
                               "worker per queue: examples/epserver.py -N %d (docs/api.md, 'Several cores')"
                               % (nif.ifname, nif.queues, nif.queues))
        eng = Engine.on_netif(nif)
        control = publish_endpoint(role, lambda: [(eng, nif)])
        try:
            yield nif, eng
            eng.drain()           # closes in progress finish before the resets
        finally:
            control.close()
            eng.close()


def conn_report(conn, app):
    out = {"local": "%s:%d" % conn.local, "remote": "%s:%d" % conn.remote}
    out.update(app.report())
    return out


def counter_line(name, counters):
    """`name: key value  key value ...`, the counters that are not zero
    (what a person reads; --json has them all)."""
    items = counters.items() if isinstance(counters, dict) else dataclasses.asdict(counters).items()
    return "%s: %s" % (name, "  ".join("%s %s" % kv for kv in items if kv[1]) or "all zero")


def emit(out, args, record, text):
    if args.json:
        print(json.dumps(record), flush=True)
    else:
        out.print(text, markup=False)
