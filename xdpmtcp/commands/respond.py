"""xdpmtcp respond: the stateless echo responder on an interface."""
import dataclasses
import time

from rich.markup import escape

from ..netif import NetIf
from ..phy import PcapTap
from ..responder import EchoResponder
from ..tunables import DEFAULTS
from ..xdp import XdpError
from .common import add_iface_flags, console, fail, port, positive_seconds
from .interfaces import netns_with_interfaces

EPILOG = """\
examples:
  xdpmtcp respond -i eth1 -p 8080 --duration 30
  xdpmtcp respond --netns xm1a2b3c-stack -i xm1a2b3cs0 -p 8080 --pcap /tmp/r.pcap
  xdpmtcp respond -i eth1 -p 8080 --faults drop=0.05,seed=3

The kernel keeps serving every other port, ARP and ICMP on the interface.
"""


def add_parser(sub):
    p = sub.add_parser("respond", help="answer TCP on one port from the stack (echo, stateless)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_iface_flags(p)
    p.add_argument("-p", "--port", type=port, required=True, help="TCP port to own")
    p.add_argument("--duration", type=positive_seconds,
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print each segment")
    p.set_defaults(func=run)


def run(args):
    out = console()
    tun = dataclasses.replace(DEFAULTS, xdp_mode=args.xdp_mode)
    try:
        with netns_with_interfaces(args.netns, [args.iface]), NetIf(args.iface, tunables=tun, force=args.force) as nif:
            for note in nif.notes:
                out.print("[dim]note: %s[/]" % escape(note))
            if args.pcap:
                nif.port.add(PcapTap(args.pcap))
            if args.faults:
                nif.port.add(args.faults)
            nif.listen(args.port)
            start = time.monotonic()

            def show(seen):
                if not args.quiet:
                    out.print("%9.3f %s" % (time.monotonic() - start, seen.summary), markup=False)

            r = EchoResponder(nif, args.port, on_segment=show)
            try:
                # Printed only once the responder exists: the line means "ready".
                out.print("owning tcp/%d on %s (%s, XDP %s mode, AF_XDP %s); Ctrl-C stops"
                          % (args.port, args.iface, ", ".join(nif.addresses), nif.guard.mode,
                             "zero-copy" if nif.port.zerocopy else "copy"))
                r.run(duration=args.duration)
            except KeyboardInterrupt:
                pass
            out.print("responder: %s" % dataclasses.asdict(r.stats))
            out.print("xdp: %s" % nif.program.counters())
            st = nif.port.stats()
            out.print("port: %s" % {k: v for k, v in st.items() if v})
    except (XdpError, OSError) as e:
        return fail(str(e))
    return 0
