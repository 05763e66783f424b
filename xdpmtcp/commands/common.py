"""Flags and helpers every subcommand shares, so they read the same."""
import argparse
import contextlib
import sys

from rich.console import Console
from rich.markup import escape

from ..phy import FaultInjector
from ..tunables import DEFAULTS


def add_netns_flag(p):
    p.add_argument("--netns", metavar="NS",
                   help="run inside network namespace NS (e.g. a lab's stack namespace)")


def add_iface_flags(p):
    p.add_argument("-i", "--iface", required=True, metavar="IF", help="interface to run on")
    p.add_argument("--xdp-mode", choices=["auto", "native", "skb"], default=DEFAULTS.xdp_mode,
                   help="XDP attach mode (default: %(default)s: native, else skb)")
    p.add_argument("--force", action="store_true",
                   help="replace an XDP program xdpmtcp did not attach, or take over a live one")
    p.add_argument("--pcap", metavar="FILE",
                   help="write every frame the stack receives and sends to FILE")
    p.add_argument("--faults", metavar="SPEC", type=_fault_spec,
                   help="inject faults, e.g. drop=0.02,reorder=0.02,dup=0.01,seed=7,direction=rx")
    add_netns_flag(p)


def _fault_spec(text):
    try:
        return FaultInjector.parse(text)
    except ValueError as e:  # argparse would hide the reason otherwise
        raise argparse.ArgumentTypeError(str(e)) from None


def netns_context(name):
    if not name:
        return contextlib.nullcontext()
    from ..lab.netns import in_netns
    return in_netns(name)


def console():
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def fail(msg, code=1):
    # soft_wrap: an error stays one line whatever the terminal width
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        "[bold red]xdpmtcp:[/] %s" % escape(msg))
    return code
