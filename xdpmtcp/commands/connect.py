"""xdpmtcp connect: a TCP client on the stack (like nc): send, half-close
(unless --no-shutdown), read until the server closes, report bytes and
sha256 each way.  An HTTP response shorter than its Content-Length is
warned about on stderr."""
import argparse
import os
import sys
import time

from ..apps import ClientApp, ConnectionRunner
from ..xdp import XdpError
from .common import (add_iface_flags, console, fail, ipv4_host, non_negative_int, output_file, port,
                     positive_seconds, warn)
from .interfaces import netns_with_interfaces
from .response_length import missing_body_bytes
from .tcp_common import StopFlag, add_tcp_flags, conn_report, emit, engine_on

EPILOG = """\
examples:
  xdpmtcp connect -i eth1 198.18.0.2 80 --send 'GET / HTTP/1.0\\r\\n\\r\\n' -o page.html
  xdpmtcp connect -i eth1 198.18.0.2 5001 --send-bytes 200000000 --json
  xdpmtcp connect -i eth1 198.18.0.2 5002 --json          # read until the server closes
  xdpmtcp connect -i eth1 198.18.0.2 80 --no-shutdown --send 'GET / HTTP/1.0\r\n\r\n'

The local port comes from the range reserved with the kernel (61000-61999
by default); the next hop's MAC from the kernel's neighbour table.
"""


def escaped_text(text):
    """--send TEXT as the bytes to send: backslash escapes (\\r, \\n, \\xHH)
    resolved, other characters as their UTF-8 bytes."""
    try:
        return text.encode().decode("unicode_escape").encode("latin-1")
    except UnicodeError as e:       # a truncated escape, or one above \xff
        raise argparse.ArgumentTypeError("must be text with \\r \\n \\xHH escapes, got %r (%s)"
                                         % (text, e.reason)) from None


def add_parser(sub):
    p = sub.add_parser("connect", help="open a TCP connection from the stack (nc-like)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_iface_flags(p)
    p.add_argument("host", type=ipv4_host, help="IPv4 address of the server")
    p.add_argument("port", type=port)
    p.add_argument("--send", type=escaped_text, default="",
                   help="send this text first (\\r\\n escapes allowed)")
    p.add_argument("--send-bytes", type=non_negative_int, default=0, help="send this many pattern bytes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--output", type=output_file,
                   help="write what the server sends to this file ('-': stdout)")
    p.add_argument("--no-shutdown", action="store_true",
                   help="do not half-close after sending (for servers that take the "
                        "client's FIN as a reset); read until the server closes or --timeout")
    p.add_argument("--timeout", type=positive_seconds, default=60.0, help="give up after this many seconds")
    add_tcp_flags(p)
    p.set_defaults(func=run)


def run(args):
    out = console()
    stop = StopFlag()
    keep = bytearray() if args.output else None
    try:
        with netns_with_interfaces(args.netns, [args.iface]), engine_on(args, 'connect') as (nif, eng):
            start = time.monotonic()
            conn = eng.connect((args.host, args.port))
            app = ClientApp(args.send, args.send_bytes, args.seed, keep,
                            half_close=not args.no_shutdown)
            runner = ConnectionRunner(eng)
            runner.add(conn, app)
            ok = runner.run(lambda: app.done or stop, timeout=args.timeout)
            elapsed = time.monotonic() - start
            rec = conn_report(conn, app)
            rec.update(event="conn", seconds=round(elapsed, 6), counters=conn.counters(),
                       timed_out=not ok)
            emit(out, args, rec, "%(local)s > %(remote)s: out %(bytes_out)d B, in %(bytes_in)d B "
                 "sha256 %(sha256_in)s in %(seconds).3fs" % rec)
            if not ok:
                conn.abort()
        if keep is not None:
            if args.output == "-":
                sys.stdout.buffer.write(keep)
            else:
                with open(args.output, "wb") as f:
                    f.write(keep)
    except (XdpError, OSError, ValueError) as e:   # ValueError: a bad tunable value
        return fail(str(e))
    if not ok:
        return fail("timed out after %.1fs" % args.timeout)
    if app.error:
        return fail("connect to %s:%d: %s" % (args.host, args.port, os.strerror(app.error).lower()))
    short = missing_body_bytes(args.send, app.head, app.bytes_in)
    if short:
        warn("the HTTP response announced Content-Length %d but %d body bytes arrived"
             % (short[1], short[0]))
    return 0
