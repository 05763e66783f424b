"""xdpmtcp command line: ``xdpmtcp <command> --help`` teaches each one."""
import argparse
import os
import signal
import sys

from . import __version__
from .commands import connect, demo, monitor, respond, serve, status, trace, xdp
from .commands.common import OneLineErrorParser

DESCRIPTION = """\
xdpmtcp: a user-space TCP stack and flow monitor on XDP/AF_XDP.

It shares the interface with the Linux kernel: the kernel keeps ARP, ICMP,
SSH and every port xdpmtcp does not own.
"""


def build_parser():
    p = OneLineErrorParser(prog="xdpmtcp", description=DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="xdpmtcp " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from .lab import cli as lab_cli
    for mod in (demo, serve, connect, monitor, respond, trace, status, xdp, lab_cli):
        mod.add_parser(sub)
    return p


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return reader_went_away()


def reader_went_away():
    """stdout's reader left (`xdpmtcp ... | head`): end quietly, as a
    filter killed by SIGPIPE would, but only after the verb's own cleanup
    ran (SIGPIPE's default action would skip the XDP detach).  stdout
    points at /dev/null so the interpreter's final flush cannot fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE     # the shell's status for a SIGPIPE death


if __name__ == "__main__":
    sys.exit(main())
