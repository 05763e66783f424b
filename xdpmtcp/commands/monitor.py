"""xdpmtcp monitor: follow every TCP connection of a capture or a live
interface, reassemble both directions, and report each connection.

Each flow gets two emulated endpoints (client = the SYN's sender) with
their TCP states, and one reassembly ring per direction; gaps the capture
has are skipped once the receiver acknowledged past them (as tshark does)
and listed, never padded.
"""
import argparse
import json
import sys

from ..monitor import LiveInput, Monitor, MonitorRun, PcapInput, StreamWriter
from ..monitor import report
from ..monitor.runner import BULK_EVENTS
from ..tunables import DEFAULTS
from .common import (add_netns_flag, byte_size, console, fail, netns_context,
                     output_dir, positive_seconds, seconds, whole_number)
from .interfaces import netns_with_interfaces

EPILOG = """\
examples:
  xdpmtcp monitor --pcap trace.pcap --streams out/      # out/000001.c2s, .s2c, index.json
  xdpmtcp monitor --pcap trace.pcapng --json            # one conn.log-like line per connection
  xdpmtcp monitor --pcap t.pcap --overlap linux --midstream --json
  xdpmtcp monitor --iface eth1 --json --duration 60           # standalone (mirror/tap port)
  xdpmtcp monitor --iface eth1 --inline eth2 --streams out/   # bump in the wire

Live input runs the monitor's XDP program on each interface and reads
AF_XDP sockets (--backend afpacket: packet sockets instead). Standalone,
the XDP program sends the monitor IPv4 TCP that may match --filter (the
port and address checks it can make) and passes the rest to the kernel;
inline, every frame goes to the monitor, which forwards it out of the
other interface (AF_XDP TX) once it has seen it.

--overlap decides which bytes win when segments overlap with different
content: first, last (mOS), or as the target OS would (linux, bsd,
windows).  Every such overlap is counted and listed in index.json.
"""

# The core's limits (xc_mon_new): a larger value would be refused or wrap.
BUF_MAX = 1021 << 20              # 4 of it + STREAMS_OUT_SLACK: the uint32 output buffer
FLOWS_MAX = 1 << 24
IDLE_TIMEOUT_MAX = 10 ** 9        # seconds; kept in uint64 nanoseconds
STREAMS_OUT_SLACK = 8 << 20
TABLE_WIDTH_PIPED = 160


def add_parser(sub):
    p = sub.add_parser("monitor", help="reassemble and report TCP flows (pcap file or live interface)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", metavar="FILE", help="read a pcap or pcapng file ('-': stdin)")
    src.add_argument("--iface", metavar="IF", help="watch a live interface")
    p.add_argument("--inline", metavar="IF2",
                   help="bump in the wire: forward between --iface and IF2")
    p.add_argument("--duration", type=positive_seconds, metavar="S",
                   help="live input: stop after S seconds (default: until SIGINT/SIGTERM)")
    p.add_argument("--backend", choices=["xdp", "afpacket"], default="xdp",
                   help="live input: the monitor's XDP program and AF_XDP sockets (default), "
                        "or AF_PACKET sockets (no BPF needed)")
    p.add_argument("--xdp-mode", choices=["auto", "native", "skb"], default="auto",
                   help="XDP attach mode (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="replace an XDP program xdpmtcp did not attach")
    p.add_argument("--filter", metavar="EXPR",
                   help="follow only flows matching this tcpdump-style expression over "
                        "client -> server (tcp, host, net, port, portrange, src, dst, "
                        "and, or, not), e.g. 'dst port 80 and net 198.18.0.0/15'")
    p.add_argument("--streams", metavar="DIR", type=output_dir,
                   help="write DIR/<flow>.c2s, DIR/<flow>.s2c and DIR/index.json")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per connection end (Zeek conn.log fields), then a summary")
    p.add_argument("--table", action=argparse.BooleanOptionalAction, default=None,
                   help="the per-connection table at the end, largest first (default: "
                        "on a terminal, not with --json)")
    p.add_argument("--overlap", choices=["first", "last", "linux", "bsd", "windows"],
                   default="first", help="which bytes win in overlaps (default: %(default)s)")
    p.add_argument("--midstream", action="store_true",
                   help="pick up connections whose SYN the capture lacks")
    p.add_argument("--buf", type=byte_size(0, BUF_MAX), default=DEFAULTS.monitor_buf, metavar="BYTES",
                   help="reassembly buffer per direction (default 8m): a sender may run "
                        "this far past a hole before the hole is given up as a gap; "
                        "keep it above the receivers' window")
    p.add_argument("--mem-max", type=byte_size(1), default=DEFAULTS.monitor_mem_max, metavar="BYTES",
                   help="all reassembly buffers together (default 1g)")
    p.add_argument("--max-flows", type=whole_number(1, FLOWS_MAX), default=DEFAULTS.monitor_max_flows,
                   metavar="N",
                   help="flows tracked at once; beyond it the least recently active goes")
    p.add_argument("--idle-timeout", type=seconds(IDLE_TIMEOUT_MAX),
                   default=DEFAULTS.monitor_idle_timeout, metavar="S",
                   help="a flow without packets this long ends (default %(default)g)")
    p.add_argument("--verify-csum", action="store_true",
                   help="drop frames with bad IPv4/TCP checksums (not for captures taken "
                        "on a host with checksum offload)")
    add_netns_flag(p)
    p.set_defaults(func=run)


def run(args):
    if args.inline and not args.iface:
        return fail("--inline needs --iface (the other side)", 2)
    flow_filter = None
    if args.filter:
        from ..monitor.filter import Filter, FilterError
        try:
            flow_filter = Filter(args.filter, flow=True)
        except FilterError as e:
            return fail("--filter: %s" % e, 2)
    out = console()
    stop = None
    try:
        if args.pcap:
            source = PcapInput(sys.stdin.fileno() if args.pcap == "-" else args.pcap)
        else:
            from .tcp_common import StopFlag
            stop = StopFlag()
            with netns_with_interfaces(args.netns, [args.iface, args.inline]):
                source = LiveInput([args.iface] + ([args.inline] if args.inline else []),
                                   stop=lambda: bool(stop), duration=args.duration,
                                   backend=args.backend, flow_filter=flow_filter,
                                   xdp_mode=args.xdp_mode, force=args.force)
    except (OSError, RuntimeError) as e:
        return fail(str(e))
    if args.json and not args.pcap:
        # frames reach the monitor from here on (XDP attached, sockets bound)
        print(json.dumps({"event": "ready", "ready": True, "input": source.ifaces,
                          "backend": args.backend}), flush=True)
    try:
        mon = Monitor(buf_cap=args.buf, mem_max=args.mem_max, max_flows=args.max_flows,
                      overlap=args.overlap, midstream=args.midstream,
                      idle_timeout=args.idle_timeout, verify_csum=args.verify_csum,
                      events=BULK_EVENTS,
                      out_cap=(4 * args.buf + STREAMS_OUT_SLACK) if args.streams else 0)
        streams = StreamWriter(args.streams) if args.streams else None
    except (OSError, ValueError) as e:       # ValueError: the core refused the sizes
        source.close()
        return fail("--streams %s: %s" % (args.streams, e.strerror) if isinstance(e, OSError)
                    else str(e))
    conn_log = None
    if args.json:
        def conn_log(rec):
            sys.stdout.write(json.dumps(dict(event="conn", **rec)) + "\n")
            if not args.pcap:
                sys.stdout.flush()
    if flow_filter is not None:
        mon.set_filter(flow_filter)
    show_table = args.table if args.table is not None else (sys.stdout.isatty() and not args.json)
    table = report.ConnTable() if show_table else None
    run = MonitorRun(mon, streams=streams, conn_log=conn_log, table=table)
    control = None
    if not args.pcap:              # a live monitor: `xdpmtcp trace` shows its flows
        from ..control import publish_monitor
        with netns_context(args.netns):
            control = publish_monitor(run, source)
    summary = None
    try:
        with source:
            seconds = run.run(source)
            summary = run.summary(seconds, source.stats())
            if args.pcap:
                summary["input_damage"] = source.damage()
    except BrokenPipeError:
        raise                      # the reader of stdout left: cli.py ends quietly
    except OSError as e:
        return fail(str(e))
    finally:
        if control is not None:
            control.close()
        if streams is not None:
            streams.close(summary or run.summary())
    size_b = summary["input"].get("file_bytes") if args.pcap else None
    if size_b is not None:
        summary["mb_per_s"] = round(size_b / 1e6 / seconds, 1) if seconds > 0 else None
    problems = capture_problems(summary["input"], summary["input_damage"]) if args.pcap else []
    if args.json:
        sys.stdout.write(json.dumps(dict(event="summary", **summary)) + "\n")
        sys.stdout.flush()
        return fail("%s: %s" % (args.pcap, problems[0]), 1) if problems else 0
    if table is not None:
        if not out.is_terminal:    # a file or pipe has no width of its own: no squeezing
            out.width = max(out.width, TABLE_WIDTH_PIPED)
        out.print(table.render())
    st, inp = summary["monitor"], summary["input"]
    out.print("%s: %d frames, %d connections (%d mid-stream), %d orphans"
              % (args.pcap or args.iface, st["frames"], st["flows_created"], st["flows_midstream"],
                 st["orphans"]), markup=False)
    out.print(report.skipped_line(st, inp, live=not args.pcap), markup=False)
    out.print(report.gaps_line(st), markup=False)
    offloads = report.offload_line(inp) if args.pcap else None
    if offloads:
        out.print(offloads, markup=False)
    for hint in report.hints(st, inp, live=not args.pcap):
        out.print("hint: " + hint, markup=False)
    out.print("ended: %d fin, %d rst, %d timeout, %d evicted, %d at end of input"
              % (st["end_fin"], st["end_rst"], st["end_timeout"], st["end_evicted"],
                 st["end_flush"]), markup=False)
    if streams is not None:
        out.print("streams: %d bytes in %s (index.json)" % (streams.bytes, streams.dir),
                  markup=False)
    if size_b is not None:
        out.print("%.1f MB of capture in %.3f s (%s MB/s)" % (size_b / 1e6, seconds,
                                                             summary["mb_per_s"]), markup=False)
        out.print("capture: %d records read, %d frames" % (inp["records"], inp["frames"]),
                  markup=False)
        for problem in problems:
            out.print("capture damaged: " + problem, markup=False)
    elif source.inline:
        out.print("forwarded %d + %d frames" % tuple(source.forwarded), markup=False)
    if problems:       # as tcpdump does for a truncated dump file: output, then failure
        return fail("%s: %s" % (args.pcap, problems[0]), 1)
    return 0


def capture_problems(st, damage):
    """One line per reason the capture could not be read whole: where and
    why reading stopped, damaged blocks skipped, nothing readable in it."""
    problems = []
    if damage and damage["stopped"]:
        problems.append("reading stopped after %d records: %s" % (st["records"],
                                                                   damage["stopped"]))
    if damage and damage["skipped"]:
        problems.append("%d damaged blocks skipped (the first: %s)" % (
            damage["skipped"], damage["first_skipped"]))
    if not st["frames"] and st["unsupported_linktype"]:
        problems.append("none of its %d packets has a link type the monitor reads "
                        "(Ethernet, Linux cooked SLL/SLL2, raw IPv4/IPv6)"
                        % st["unsupported_linktype"])
    return problems
