"""xdpmtcp serve: a TCP server on the stack (echo, sink, source or static HTTP)."""
import argparse
import gc
import time

from rich.markup import escape

from ..apps import ConnectionRunner, EchoApp, HttpApp, SinkApp, SourceApp
from ..xdp import XdpError
from .common import (add_iface_flags, console, existing_dir, fail, non_negative_int,
                     port, positive_int, positive_seconds)
from .interfaces import netns_with_interfaces
from .tcp_common import StopFlag, add_tcp_flags, conn_report, counter_line, emit, engine_on

EPILOG = """\
modes:
  echo            every byte back until the peer closes (default)
  sink            read and hash everything, send nothing
  source          send --bytes of a seeded pattern, then close
  http            GET files under --root (HTTP/1.1, keep-alive)

examples:
  xdpmtcp serve -i eth1 -p 8080 --mode http --root /var/www
  xdpmtcp serve -i eth1 -p 5001 --mode sink --count 1 --json
  xdpmtcp serve -i eth1 -p 5001 --mode source --bytes 200000000 --faults drop=0.02

With --json each finished connection prints one line: addresses, bytes and
sha256 each way, and the engine's counters for it.
"""


def add_parser(sub):
    p = sub.add_parser("serve", help="run a TCP server on the stack (echo, sink, source, http)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_iface_flags(p)
    p.add_argument("-p", "--port", type=port, required=True, help="TCP port to listen on")
    p.add_argument("--mode", choices=["echo", "sink", "source", "http"], default="echo")
    p.add_argument("--bytes", type=non_negative_int, default=0, help="bytes per connection in source mode")
    p.add_argument("--seed", type=int, default=1, help="pattern seed in source mode")
    p.add_argument("--root", type=existing_dir, default=".", help="directory served in http mode")
    p.add_argument("--no-hash", action="store_true",
                   help="echo/sink/source: skip the sha256 (source: repeat one pattern block); for benchmarks")
    p.add_argument("--backlog", type=positive_int, default=1024)
    p.add_argument("--count", type=non_negative_int, default=0,
                   help="exit after this many connections finished (0: until Ctrl-C)")
    p.add_argument("--duration", type=positive_seconds, help="exit after this many seconds")
    p.add_argument("--stats-interval", type=positive_seconds, metavar="SECONDS",
                   help="with --json: print the engine's counters every SECONDS (a \"stats\" event)")
    p.add_argument("--no-conn-events", action="store_true",
                   help="with --json: no line per finished connection (churn benchmarks; the "
                        "stats and engine events count them)")
    add_tcp_flags(p)
    p.set_defaults(func=run)


def _app_factory(args):
    hashed = not args.no_hash
    return {"echo": lambda: EchoApp(hashed), "sink": lambda: SinkApp(hashed), "http": lambda: HttpApp(args.root),
            "source": lambda: SourceApp(args.bytes, args.seed, hashed)}[args.mode]


def run(args):
    out = console()
    stop = StopFlag()
    make_app = _app_factory(args)
    if args.metrics and args.metrics[1] == args.port:
        return fail("--metrics port %d is the port served: XDP gives its frames to the stack, "
                    "the metrics endpoint is the kernel's" % args.port)
    try:
        with netns_with_interfaces(args.netns, [args.iface]), engine_on(args, 'serve') as (nif, eng):
            for note in nif.notes:
                out.print("[dim]note: %s[/]" % escape(note))
            lst = eng.listen(args.port, backlog=args.backlog)
            runner = ConnectionRunner(eng)
            reported = 0
            start = time.monotonic()
            emit(out, args, {"event": "ready", "port": args.port, "addresses": nif.addresses,
                             "mode": args.mode},
                 "serving %s on tcp/%d of %s (%s); Ctrl-C stops"
                 % (args.mode, args.port, args.iface, ", ".join(nif.addresses)))

            def finished():
                nonlocal reported
                for conn, app in runner.take_finished():
                    reported += 1
                    if args.no_conn_events and args.json:
                        continue
                    rec = conn_report(conn, app)
                    rec["counters"] = conn.counters()
                    emit(out, args, dict(event="conn", **rec),
                         "%(remote)s: in %(bytes_in)d B sha256 %(sha256_in)s, out %(bytes_out)d B" % rec
                         + (" (%s)" % rec["error"] if rec["error"] else "")
                         + (" app failed: %s" % rec["failure"] if "failure" in rec else ""))
                if stop or (args.count and reported >= args.count):
                    return True
                return args.duration is not None and time.monotonic() - start >= args.duration

            def accept_all():
                while lst.pending():          # checked first: no exception per loop
                    runner.add(lst.accept(), make_app())

            def counters(event):
                return {"event": event, "c": eng.c_stats(), "py": eng.stats.__dict__,
                        "tcbs_in_use": eng.tcb_count(), "buffer_memory": eng.buffer_memory,
                        "listener": lst.stats.__dict__, "app_failures": runner.app_failures,
                        "port": nif.port.stats(), "xdp": nif.program.counters(),
                        # what Python keeps per connection: each must follow tcbs_in_use
                        "tracked": {"conns": len(eng.conns), "tuples": len(eng.by_tuple),
                                    "apps": len(runner.apps), "finished": reported,
                                    "gc_objects": len(gc.get_objects())}}

            # live counters for soaks and floods; only JSON readers want them
            interval = args.stats_interval if args.json else None
            next_stats = start + interval if interval else None
            while not finished():
                eng.poll(0 if runner.ready or eng.want_flush else 0.01)
                accept_all()
                runner.step()
                if next_stats is not None and time.monotonic() >= next_stats:
                    next_stats += interval
                    emit(out, args, counters("stats"), "")
            emit(out, args, counters("engine"), "%s\n%s" % (counter_line("engine", eng.c_stats()),
                                                           counter_line("listener", lst.stats)))
    except (XdpError, OSError, ValueError) as e:   # ValueError: a bad tunable value
        return fail(str(e))
    return 0

