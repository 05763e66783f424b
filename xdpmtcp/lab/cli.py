"""`xdpmtcp lab up|down|status`.  ``add_parser(subparsers)`` registers the
command; each handler takes the parsed args and returns an exit code."""

import argparse
import json
import subprocess
import sys
import time
from typing import List, Optional, Sequence, TextIO

from ..commands.common import positive_seconds
from ..progress import progress_bar
from .topology import DEFAULT_SUBNET, INLINE_SUBNET, Lab, LabError
from .try_it import try_it


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "lab", help="network-namespace lab (veth between namespaces)",
        description="Build, list and remove network-namespace labs.")
    sub = parser.add_subparsers(dest="lab_command", metavar="COMMAND")
    sub.required = True

    up = sub.add_parser("up", help="create a lab and leave it running")
    up.add_argument("--prefix", default="xm",
                    help="name prefix, 1-7 of [a-z0-9] (default: xm)")
    up.add_argument("--subnet", default=None,
                    help=f"CIDR inside 198.18.0.0/15 (default: {DEFAULT_SUBNET}"
                    f", or {INLINE_SUBNET} with --inline)")
    up.add_argument("--inline", action="store_true",
                    help="client - monitor - server instead of stack - peer")
    up.add_argument("--queues", type=int, default=1, metavar="N",
                    help="RX/TX queues of the stack's veth (default 1); with N > 1 the peer "
                    "spreads flows over them as a NIC's RSS does, with the key the lab "
                    "prints (rss_key in mtcp.conf; docs/rss.md)")
    up.add_argument("--json", action="store_true", help="print the record")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="destroy a lab (or all)")
    down.add_argument("name", nargs="?", help="lab name from `lab status`")
    down.add_argument("--all", action="store_true", help="destroy every lab")
    down.add_argument("--stale", action="store_true",
                      help="destroy only labs marked stale by `lab status`")
    down.set_defaults(func=cmd_down)

    impair = sub.add_parser(
        "impair", help="forward across an inline lab's middle host, with faults",
        description="Run the impairing bridge in the middle namespace of an "
        "inline lab (`lab up --inline`) until Ctrl-C or --duration, then "
        "print what it did per direction.")
    impair.add_argument("name", help="inline lab name from `lab status`")
    impair.add_argument("--faults", default="",
                        help="e.g. drop=0.02,reorder=0.02,dup=0.01,seed=1 (default: none)")
    impair.add_argument("--duration", type=positive_seconds, help="seconds (default: until Ctrl-C)")
    impair.add_argument("--json", action="store_true", help="print the counters as JSON")
    impair.set_defaults(func=cmd_impair)

    status = sub.add_parser("status", help="list labs; stale ones are marked")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    return parser


def cmd_up(args, out: TextIO = None) -> int:
    out = out or sys.stdout
    subnet = args.subnet or (INLINE_SUBNET if args.inline else DEFAULT_SUBNET)
    if args.inline and args.queues != 1:
        print("lab up: --queues is for a pair lab (stack - peer), not --inline", file=sys.stderr)
        return 2
    extra = {} if args.inline else {"queues": args.queues}
    create = Lab.create_inline if args.inline else Lab.create
    try:
        # the lab must outlive this command: no teardown at exit
        lab = create(prefix=args.prefix, subnet=subnet, auto_destroy=False, **extra)
    except (LabError, OSError) as exc:
        print(f"lab up: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(lab.to_json(), out, indent=1)
        out.write("\n")
        return 0
    out.write("\n".join(describe(lab)) + "\n")
    return 0


def describe(lab: Lab) -> List[str]:
    lines = [f"lab {lab.name} ({lab.kind}, subnet {lab.subnet})"]
    if getattr(lab, "queues", 1) > 1:
        lines.append(f"  {lab.queues} queues per veth end; the peer spreads flows as RSS does "
                     f"with rss_key = {lab.rss_key}")
    for host in lab.hosts.values():
        lines.append(f"  {host.name:<8} netns {host.ns}")
        for iface in host.interfaces:
            addr = f"{iface.ip}/{iface.prefixlen}" if iface.ip else "no address"
            lines.append(f"           {iface.ifname:<15} {addr:<18} "
                         f"{iface.mac}  <-> {iface.peer}")
    lines.append("try it (as root, one line at a time):")
    lines += ["  " + line for line in try_it(lab)]
    return lines


def cmd_down(args, out: TextIO = None) -> int:
    out = out or sys.stdout
    if [bool(args.name), args.all, args.stale].count(True) != 1:
        print("lab down: give one of NAME, --all, --stale", file=sys.stderr)
        return 2
    try:
        if args.name:
            labs = [Lab.load(args.name)]
        else:
            labs = [lab for lab in Lab.list() if args.all or lab.stale]
    except LabError as exc:
        print(f"lab down: {exc}", file=sys.stderr)
        return 1
    status = 0
    for lab in labs:
        try:
            lab.destroy()
            print(f"destroyed {lab.name}", file=out)
        except LabError as exc:
            print(f"lab down: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_impair(args, out: TextIO = None) -> int:
    from .impair import Bridge, BridgeError
    out = out or sys.stdout
    try:
        bridge = Bridge(Lab.load(args.name), args.faults or None).start()
    except (LabError, BridgeError, ValueError) as exc:
        print(f"lab impair: {exc}", file=sys.stderr)
        return 1
    print(f"bridging {args.name} ({args.faults or 'no faults'}); "
          + ("Ctrl-C stops" if args.duration is None else f"{args.duration:g} s"),
          file=sys.stderr)
    try:
        with progress_bar("bridging " + args.name, args.duration, json_output=args.json) as bar:
            wait_for_bridge(bridge.proc, args.duration, bar)
    except KeyboardInterrupt:
        pass
    try:
        counters = bridge.stop()
    except BridgeError as exc:
        print(f"lab impair: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(counters, out, indent=1)
        out.write("\n")
    else:
        for direction, c in counters.items():
            out.write(f"{direction}: " + " ".join(f"{k}={v}" for k, v in c.items()) + "\n")
    return 0


def wait_for_bridge(proc, duration, bar) -> None:
    """Until the bridge process ends or duration (None: no end) passes,
    moving the bar (seconds) along."""
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        bar.update(min(elapsed, duration) if duration is not None else elapsed)
        if duration is not None and elapsed >= duration:
            return
        step = 0.25 if duration is None else min(0.25, duration - elapsed)
        try:
            proc.wait(step)
            return
        except subprocess.TimeoutExpired:
            continue


def _state(lab: Lab) -> str:
    if not lab.stale:
        return lab.state
    missing = lab.missing_namespaces()
    if missing:
        why = "missing " + ", ".join(missing)
    elif lab.orphaned:
        why = f"owner {lab.owner_pid} gone"
    else:
        why = lab.state
    return f"stale ({why})"


def _row(lab: Lab) -> dict:
    state = _state(lab)
    return {
        "name": lab.name, "kind": lab.kind, "state": state, "stale": lab.stale,
        "namespaces": lab.namespaces,
        "addresses": [f"{h.name}={h.ip}" for h in lab.hosts.values() if h.ip],
        "owner_pid": lab.owner_pid,
        "created": time.strftime("%Y-%m-%d %H:%M:%S",
                                 time.localtime(lab.created)),
    }


_COLUMNS = ("name", "kind", "state", "namespaces", "addresses", "created")


def cmd_status(args, out: TextIO = None) -> int:
    out = out or sys.stdout
    rows = [_row(lab) for lab in Lab.list()]
    if args.json:
        json.dump(rows, out, indent=1)
        out.write("\n")
    elif not rows:
        out.write("no labs\n")
    elif out.isatty():
        _rich_table(rows, out)
    else:
        out.write(_plain_table(rows))
    return 0


def _cells(row: dict, sep: str = " ") -> List[str]:
    return [sep.join(v) if isinstance(v, list) else str(v)
            for v in (row[c] for c in _COLUMNS)]


def _plain_table(rows: Sequence[dict]) -> str:
    table = [[c.upper() for c in _COLUMNS]] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths))
                   .rstrip() + "\n" for line in table)


def _rich_table(rows: Sequence[dict], out: TextIO) -> None:
    from rich.console import Console  # only needed on a terminal
    from rich.table import Table

    table = Table(title="xdpmtcp labs")
    for column in _COLUMNS:
        table.add_column(column, no_wrap=column in ("name", "namespaces"))
    for row in rows:
        table.add_row(*_cells(row, "\n"), style="red" if row["stale"] else None)
    Console(file=out).print(table)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry (`python -m xdpmtcp.lab.cli`) until the main CLI
    wires add_parser in."""
    parser = argparse.ArgumentParser(prog="xdpmtcp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
