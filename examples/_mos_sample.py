"""What the mOS samples (midstat, simple_firewall, nat) share: their input
(a capture, or live interfaces), stopping on SIGINT/SIGTERM with their
summary still printed and the XDP program detached, and one line for an
input that cannot be read."""
import signal

import _bootstrap  # noqa: F401  (first: the clone on sys.path, its .venv)

from xdpmtcp.cli import reader_went_away  # noqa: E402
from xdpmtcp.mos_api import mtcp_app_join, mtcp_create_context, mtcp_destroy_context  # noqa: E402


def input_conf(args, backend=None):
    """mtcp_create_context's keys for --pcap [--out] or --iface [--inline]."""
    if args.pcap:
        return {"pcap": args.pcap, "pcap_out": getattr(args, "out", None)}
    return {"port": args.iface + (" " + args.inline if args.inline else ""),
            "duration": args.duration, "backend": backend or args.backend}


def run(parser, conf, make, announce, finish):
    """A context on conf, the sample make(mctx) on it, announce(sample)
    once frames reach it, mtcp_app_join, finish(sample).  Returns the exit
    status."""
    try:
        mctx = mtcp_create_context(0, **conf)

        def stop(signum, frame):        # the input ends; finish() still runs
            if mctx.alive:
                mtcp_destroy_context(mctx)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        sample = make(mctx)
        announce(sample)
        mtcp_app_join(mctx)
        finish(sample)
    except BrokenPipeError:              # stdout's reader left: the input is closed already
        return reader_went_away()
    except OSError as e:
        parser.exit(1, "%s: %s\n" % (parser.prog, e))
    return 0
