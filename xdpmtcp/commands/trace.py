"""xdpmtcp trace: the connections of every running xdpmtcp context, live.

On a terminal it is a live table (keys below); with --once, --json or
--csv, or when the output is not a terminal, it prints like ss and bcc
tools: one snapshot, or one every INTERVAL seconds, COUNT times."""
import argparse
import csv
import json
import sys
import time

from ..control import FIELD_NAMES, ControlClient, ControlError
from ..control.gather import gather
from ..control.rows import FIELDS
from .common import add_netns_flag, fail, output_file, positive_int, positive_seconds

EPILOG = """\
examples:
  xdpmtcp trace                        # live table of every context on this host
  xdpmtcp trace --once                 # one ss-like table, then exit
  xdpmtcp trace --once --json          # one JSON line per connection (schema: docs/trace.md)
  xdpmtcp trace --csv 1 10             # CSV, every second, ten times
  xdpmtcp trace -p 4242 --pcap out.pcapng --duration 10
                                       # pid 4242 writes what it sends and receives (pcapng: with directions)

keys in the live table:
  q quit    s next sort key    r reverse    / filter (Enter applies, Esc clears)
  up/down select    Enter details (sparklines, counters)    Esc back

Contexts publish on /run/xdpmtcp/ctl/ (root only): every `xdpmtcp serve`,
`connect`, live `monitor` and mtcp_create_context.
"""

SORT_KEYS = ("bytes", "rtt_us", "snd_cwnd", "retrans_total", "state", "remote", "recv_q", "send_q")
TEXT_COLUMNS = ("pid", "iface", "state", "local", "remote", "rtt_us", "snd_cwnd", "retrans_total",
                "bytes_acked", "bytes_received", "recv_q", "send_q")
CSV_FIELDS = ("time", "pid", "iface") + tuple(n for n in FIELD_NAMES if n != "counters")


def add_parser(sub):
    p = sub.add_parser("trace", help="watch the connections of running xdpmtcp contexts (live, JSON, CSV)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_flags(p)
    p.add_argument("--once", action="store_true", help="one snapshot, then exit")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per connection and line")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header line")
    p.add_argument("-s", "--sort", choices=SORT_KEYS, default="bytes",
                   help="sort key (default: bytes, acknowledged + received)")
    p.add_argument("--filter", metavar="TEXT", default="",
                   help="only connections whose state, local or remote address contains TEXT")
    p.add_argument("--pcap", metavar="FILE", type=output_file,
                   help="ask the context (-p PID, or the only one running) to write every frame "
                        "it sends and receives to FILE until Ctrl-C or --duration")
    p.add_argument("--duration", type=positive_seconds, metavar="SECONDS",
                   help="with --pcap: stop after SECONDS")
    p.add_argument("interval", nargs="?", type=positive_seconds, help="seconds between outputs")
    p.add_argument("count", nargs="?", type=positive_int, help="number of outputs")
    p.set_defaults(func=run)


def add_selection_flags(p):
    """-p, -i and --netns, as every reader of running contexts takes them."""
    p.add_argument("-p", "--pid", type=positive_int, help="only the context of this process")
    p.add_argument("-i", "--iface", metavar="IF", help="only contexts on this interface")
    add_netns_flag(p, "only contexts in network namespace NS (an `ip netns` name)")


def row_bytes(r):
    """Bytes a row moved: acknowledged + received (a monitor's: both ways)."""
    return r.get("bytes_acked", 0) + r.get("bytes_received", 0) + r.get("bytes_c2s", 0) + r.get("bytes_s2c", 0)


def sort_rows(rows, key, reverse=True):
    if key == "bytes":
        keyf = row_bytes
    else:
        keyf = lambda r: (r.get(key) is None, r.get(key) or 0) if key not in ("state", "remote") else r[key]
    return sorted(rows, key=keyf, reverse=reverse)


def filter_rows(rows, text):
    if not text:
        return rows
    return [r for r in rows if text in r["state"] or text in r["local"] or text in r["remote"]]


def snapshot(args, errors):
    views = gather(pid=args.pid, iface=args.iface, netns=args.netns, errors=errors)
    rows = [r for v in views for r in v.rows]
    return views, sort_rows(filter_rows(rows, args.filter), args.sort)


def _print_text(views, rows, out):
    """ss-like columns, each as wide as its widest cell."""
    out.write("%d context(s): %s\n" % (len(views), "; ".join(v.label for v in views) or "none"))
    cells = [[name.upper() for name in TEXT_COLUMNS]]
    cells += [[str(r.get(name, "-")) for name in TEXT_COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TEXT_COLUMNS))]
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() + "\n")


def _print_json(rows, now, out):
    for r in rows:
        out.write(json.dumps(dict(r, time=round(now, 3)), separators=(",", ":")) + "\n")


def run(args):
    if args.pcap:
        return capture(args)
    if args.duration:
        return fail("--duration goes with --pcap")
    live = not (args.once or args.json or args.csv or args.interval) and sys.stdout.isatty()
    if live:
        from ..tui.trace_view import run_live
        return run_live(args)
    errors = []
    writer = None
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
    count = 1 if args.once or not args.interval else args.count
    n = 0
    while True:
        views, rows = snapshot(args, errors)
        if not views:
            return fail("no running xdpmtcp context matches%s (contexts publish on /run/xdpmtcp/ctl/)"
                        % ("; " + "; ".join(errors) if errors else ""))
        now = time.time()
        if args.json:
            _print_json(rows, now, sys.stdout)
        elif writer is not None:
            for r in rows:
                if r.get("kind") == "monitor":
                    continue           # another schema: --json carries monitor flows
                writer.writerow([round(now, 3), r["pid"], r["iface"]] + [r[k] for k in CSV_FIELDS[3:]])
        else:
            _print_text(views, rows, sys.stdout)
        sys.stdout.flush()
        n += 1
        if count is not None and n >= count:
            return 0
        time.sleep(args.interval)


def capture(args):
    views = gather(pid=args.pid, iface=args.iface, netns=args.netns, rows=False)
    if len(views) != 1:
        return fail("--pcap needs one context: %s" % (
            "none runs" if not views else "%d run, choose one with -p PID: %s"
            % (len(views), ", ".join(str(v.address.pid) for v in views))))
    client = ControlClient(views[0].address)
    try:
        print(client.capture(args.pcap), file=sys.stderr)
    except ControlError as e:
        return fail(str(e))
    try:
        end = time.monotonic() + args.duration if args.duration else None
        while end is None or time.monotonic() < end:
            time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))
    except KeyboardInterrupt:
        pass
    try:
        print(client.capture(None), file=sys.stderr)
    except ControlError as e:
        return fail(str(e))
    return 0


def schema_markdown(fields=FIELDS, common=True):
    """A JSON schema as a markdown table (docs/trace.md holds them)."""
    lines = ["| key | type | meaning |", "|---|---|---|",
             "| time | float | when the snapshot was taken (Unix time) |",
             "| pid | int | the context's process |",
             "| iface | str | the interface the connection runs on (a monitor: its interfaces) |"]
    if fields is FIELDS:
        lines.append("| engine | int | index of that interface in the context |")
    lines += ["| %s | %s | %s |" % f for f in fields]
    return "\n".join(lines)
