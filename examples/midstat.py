#!/usr/bin/env python3
"""midstat: a live table of the connections the monitor follows, with the
emulated TCP state of each side (mOS's midstat sample, in Python).

    examples/midstat.py --pcap trace.pcap [--interval 1]
    examples/midstat.py --iface IF [--duration S]            (live, passive)
    examples/midstat.py --iface IN --inline OUT [--duration S]  (bump in the wire)

Every --interval seconds of the input's clock (the packets' own time for a
capture, the wall clock live) the table is printed; flows enter at
MOS_ON_CONN_START, states follow MOS_ON_TCP_STATE_CHANGE on both hooks,
and a flow that ended (MOS_ON_CONN_END) is shown once more in the next
table, with how it ended (fin, rst, timeout...: mos_end_reason).  When
the input ends (the end of a capture, --duration, SIGINT) a final table
shows the connections since the last one with their last states; those
still open then end "at end of input".

Live, one interface is watched passively (AF_PACKET: the host keeps its
traffic, and sees only what the interface receives); with --inline the
monitor forwards between the two (XDP and AF_XDP by default).
"""
import argparse
import sys

import _bootstrap  # noqa: E402,F401  (first: the clone on sys.path, its .venv)

from _mos_sample import input_conf, run  # noqa: E402
from xdpmtcp.commands.common import OneLineErrorParser, input_file, positive_seconds  # noqa: E402
from xdpmtcp.mos_api import *  # noqa: E402,F401,F403
from xdpmtcp.mos_api import (AF_INET, MOS_HK_RCV, MOS_HK_SND, MOS_ON_CONN_END,  # noqa: E402
                             MOS_ON_CONN_START, MOS_ON_TCP_STATE_CHANGE, MOS_SIDE_BOTH,
                             MOS_SIDE_CLI, MOS_SIDE_SVR, MOS_SOCK_MONITOR_STREAM,
                             MOS_TCP_STATE_CLI,
                             MOS_TCP_STATE_SVR, SOL_MONSOCKET, mtcp_getpeername,
                             mtcp_getsockopt, mtcp_register_callback, mtcp_settimer,
                             mtcp_socket, mos_end_reason, tcpstate)


class Midstat:
    def __init__(self, mctx, interval, out=None):
        self.conns = {}                  # open: sock -> addresses and both states
        self.ended = []                  # ended since the last table
        self.interval = interval
        self.out = out or sys.stdout
        self.prints = 0
        sock = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_START, MOS_HK_SND, self.on_start)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_END, MOS_HK_SND, self.on_end)
        mtcp_register_callback(mctx, sock, MOS_ON_TCP_STATE_CHANGE, MOS_HK_SND, self.on_state)
        mtcp_register_callback(mctx, sock, MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV, self.on_state)
        mtcp_settimer(mctx, sock, interval, self.on_timer)

    def on_start(self, mctx, sock, side, event, arg):
        self.conns[sock] = {"addrs": mtcp_getpeername(mctx, sock, MOS_SIDE_BOTH),
                            "cli": self.state(mctx, sock, MOS_SIDE_CLI),
                            "svr": self.state(mctx, sock, MOS_SIDE_SVR)}

    @staticmethod
    def state(mctx, sock, side):
        opt = MOS_TCP_STATE_CLI if side == MOS_SIDE_CLI else MOS_TCP_STATE_SVR
        return tcpstate(mtcp_getsockopt(mctx, sock, SOL_MONSOCKET, opt)).name[4:]

    def on_end(self, mctx, sock, side, event, arg):
        c = self.conns.pop(sock, None)
        if c is not None:
            c["end"] = (mos_end_reason(mctx, sock) or "ended").replace("_", " ")
            self.ended.append(c)

    def on_state(self, mctx, sock, side, event, arg):
        c = self.conns.get(sock)
        if c is not None:
            c["cli" if side == MOS_SIDE_CLI else "svr"] = self.state(mctx, sock, side)

    def on_timer(self, mctx, sock, side, event, arg):
        self.print_table()
        mtcp_settimer(mctx, sock, self.interval, self.on_timer)

    def print_table(self, final=False):
        """The open connections, then those ended since the last table."""
        self.prints += 1
        w = self.out.write
        if final:
            w("At the end of the input:\n")
        w("%-5s %-21s %-12s %-21s %-12s %s\n" % ("Proto", "Client Address", "Client State",
                                                 "Server Address", "Server State", "Conn"))
        rows = [(c, "open") for c in self.conns.values()] + [(c, c["end"]) for c in self.ended]
        for c, conn in rows:
            (cip, cport), (sip, sport) = c["addrs"]
            w("%-5s %-21s %-12s %-21s %-12s %s\n" % ("tcp", "%s:%d" % (cip, cport), c["cli"],
                                                     "%s:%d" % (sip, sport), c["svr"], conn))
        w("\n")
        self.out.flush()
        self.ended = []


def main(argv=None):
    p = OneLineErrorParser(description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", type=input_file, help="capture to replay")
    src.add_argument("--iface", help="live: the interface to watch (with --inline OTHER: "
                                     "bump in the wire between the two)")
    p.add_argument("--inline", help="live: the other side")
    p.add_argument("--interval", type=positive_seconds, default=1.0)
    p.add_argument("--duration", type=positive_seconds, help="live: stop after this many seconds")
    p.add_argument("--backend", choices=["xdp", "afpacket"],
                   help="live: AF_PACKET (default for one interface: passive) or the monitor's "
                        "XDP program + AF_XDP (default inline)")
    args = p.parse_args(argv)
    if args.inline and not args.iface:
        p.error("--inline needs --iface")
    conf = input_conf(args, args.backend or ("xdp" if args.inline else "afpacket"))

    def announce(m):                     # frames reach the context from here on
        if not args.pcap:
            print("%s: watching %s%s (Ctrl-C ends)" % (p.prog, conf["port"].replace(" ", " <-> "),
                                                       ", forwarding" if args.inline else ""),
                  file=sys.stderr, flush=True)
    return run(p, conf, lambda mctx: Midstat(mctx, args.interval), announce,
               lambda m: m.print_table(final=True))

if __name__ == "__main__":
    sys.exit(main())
