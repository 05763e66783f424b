"""Flags and helpers every subcommand shares, so they read the same, and
the typed argparse converters every command and example declares its
numbers and paths with (bad values are refused before anything opens)."""
import argparse
import contextlib
import ipaddress
import math
import os
import sys

from rich.console import Console
from rich.markup import escape

from ..phy import FaultInjector
from ..tunables import DEFAULTS


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit 2), naming
    the argument and the bad value; --help still shows the usage."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see %s --help)\n" % (self.prog, message, self.prog))


def _refuse(what, text):
    return argparse.ArgumentTypeError("must be %s, got %r" % (what, text))


def whole_number(low=0, high=None, what=None):
    """Converter: an int in low..high (high None: no upper bound)."""
    if what is None:
        what = ("a whole number in %d..%d" % (low, high) if high is not None else
                {0: "zero or more (a whole number)", 1: "positive (a whole number)"}.get(
                    low, "a whole number >= %d" % low))

    def convert(text):
        try:
            value = int(text)
        except ValueError:
            raise _refuse(what, text) from None
        if value < low or (high is not None and value > high):
            raise _refuse(what, text)
        return value
    return convert


def seconds(high=None):
    """Converter: a finite number of seconds above 0 (and at most high)."""
    what = "positive (seconds%s)" % (", at most %s" % high if high is not None else "")

    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise _refuse(what, text) from None
        if not (math.isfinite(value) and value > 0) or (high is not None and value > high):
            raise _refuse(what, text)
        return value
    return convert


SIZE_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size_text(n):
    for suffix, mult in sorted(SIZE_SUFFIX.items(), key=lambda kv: -kv[1]):
        if n and n % mult == 0:
            return "%d%s" % (n // mult, suffix)
    return str(n)


def byte_size(low=0, high=None):
    """Converter: bytes, with an optional k/m/g suffix (256k, 1.5m, 1g)."""
    what = "a size of %s bytes (e.g. 1048576, 256k, 1m)" % (
        "%s..%s" % (_size_text(low), _size_text(high)) if high is not None
        else "at least %s" % _size_text(low))

    def convert(text):
        t = text.strip().lower().rstrip("b").rstrip("i")
        mult = SIZE_SUFFIX.get(t[-1:], 1)
        try:
            value = int(float(t[:-1] if t[-1:] in SIZE_SUFFIX else t) * mult)
        except (ValueError, OverflowError):          # OverflowError: inf
            raise _refuse(what, text) from None
        if value < low or (high is not None and value > high):
            raise _refuse(what, text)
        return value
    return convert


port = whole_number(1, 65535, "a TCP port (1-65535)")
positive_int = whole_number(1)
non_negative_int = whole_number(0)
positive_seconds = seconds()


def metrics_endpoint(text):
    """[ADDR:]PORT of a metrics endpoint, as (ADDR, PORT); ADDR defaults to
    every address (0.0.0.0), as node_exporter's --web.listen-address."""
    what = "[ADDR:]PORT, e.g. 9464 or 127.0.0.1:9464"
    addr, _, port_text = text.rpartition(":")
    try:
        port_no = int(port_text)
        if addr:
            ipaddress.IPv4Address(addr)
    except ValueError:
        raise _refuse(what, text) from None
    if not 1 <= port_no <= 65535:
        raise _refuse(what, text)
    return addr or "0.0.0.0", port_no


def port_range(text):
    """FIRST-LAST ports, as (FIRST, LAST)."""
    from ..api.config import port_range as parse
    try:
        return parse(text)
    except ValueError:
        raise _refuse("FIRST-LAST, two ports (1-65535) with FIRST <= LAST", text) from None


def existing_dir(text):
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError("%r is not a directory" % text)
    return text


def input_file(text):
    """A file to read ('-': standard input)."""
    if text != "-" and (not os.path.exists(text) or os.path.isdir(text)):
        raise _refuse("an existing file", text)
    return text


def _parent_is_dir(text):
    return os.path.isdir(os.path.dirname(os.path.abspath(text)))


def output_file(text):
    """A file to write: not a directory, in a directory that exists (so the
    command does not run to the end and then lose what it made)."""
    if os.path.isdir(text) or not _parent_is_dir(text):
        raise _refuse("a file in an existing directory", text)
    return text


def output_dir(text):
    """A directory to write into: an existing one, or a new one whose parent exists."""
    if (os.path.exists(text) and not os.path.isdir(text)) or not _parent_is_dir(text):
        raise _refuse("a directory, or a new one in an existing directory", text)
    return text


def netns_name(text):
    """The name of an existing network namespace (ip netns list)."""
    from ..lab import netns
    if not text or "/" in text or text in (".", "..") or not netns.exists(text):
        raise _refuse("an existing network namespace (ip netns list)", text)
    return text


def ipv4_host(text):
    """A unicast IPv4 address."""
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise _refuse("an IPv4 address", text) from None
    if addr.is_unspecified or addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise _refuse("a unicast IPv4 address", text)
    return text


def add_netns_flag(p, help="run inside network namespace NS (e.g. a lab's stack namespace)"):
    p.add_argument("--netns", metavar="NS", type=netns_name, help=help)


def add_iface_flags(p):
    p.add_argument("-i", "--iface", required=True, metavar="IF", help="interface to run on")
    p.add_argument("--xdp-mode", choices=["auto", "native", "skb"], default=DEFAULTS.xdp_mode,
                   help="XDP attach mode (default: %(default)s: native, else skb)")
    p.add_argument("--force", action="store_true",
                   help="replace an XDP program xdpmtcp did not attach, or take over a live one")
    p.add_argument("--pcap", metavar="FILE", type=output_file,
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


def _to_stderr(label, msg):
    # soft_wrap: one line whatever the terminal's width
    Console(stderr=True, highlight=False, soft_wrap=True).print("%s %s" % (label, escape(msg)))


def fail(msg, code=1):
    _to_stderr("[bold red]xdpmtcp:[/]", msg)
    return code


def warn(msg):
    """Something the user should know that did not fail the command."""
    _to_stderr("[bold yellow]xdpmtcp: warning:[/]", msg)
