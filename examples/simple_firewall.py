#!/usr/bin/env python3
"""simple_firewall: rules applied on a connection's first SYN (mOS's
simple_firewall sample, in Python).  The first rule whose tcpdump-style
expression matches the SYN decides: DROP drops the SYN (and every later
packet of that connection), ACCEPT lets it through and stops monitoring it
(MOS_STOP_MON: no more work for it).  No rule matching: accept.

    examples/simple_firewall.py --pcap in.pcap --out forwarded.pcap \\
        --rule 'DROP dst port 22' --rule 'ACCEPT src net 198.18.0.0/15'

A rules file (--rules FILE) has one "ACTION EXPR" per line, # comments.
The user-defined event "initial SYN" is built on MOS_ON_PKT_IN with a
filter, as in the C sample; its callbacks never see other packets.
"""
import argparse
import json
import sys

import _bootstrap  # noqa: E402,F401  (first: the clone on sys.path, its .venv)

from _mos_sample import input_conf, run  # noqa: E402
from xdpmtcp.commands.common import (OneLineErrorParser, input_file, output_file,  # noqa: E402
                                     positive_seconds)
from xdpmtcp.monitor.filter import Filter, FilterError  # noqa: E402
from xdpmtcp.mos_api import (AF_INET, MOS_DROP, MOS_HK_SND, MOS_ON_CONN_END,  # noqa: E402
                             MOS_ON_PKT_IN, MOS_SIDE_BOTH, MOS_SOCK_MONITOR_STREAM,
                             MOS_STOP_MON, SOL_MONSOCKET, mtcp_define_event, mtcp_getlastpkt,
                             mtcp_getpeername, mtcp_register_callback, mtcp_setlastpkt,
                             mtcp_setsockopt, mtcp_socket)

TH_SYN, TH_ACK = 0x02, 0x10


def parse_rules(lines, where=None):
    """[(action, Filter, text)] from "ACTION EXPR" lines; a bad rule is a
    ValueError naming it (where(n): "--rule 2", "rules.txt:5") and what is
    wrong, in one line.  Rules decide TCP connections by their SYN: the
    expression is a flow filter (no udp, lengths or flags)."""
    where = where or (lambda n: "rule %d" % n)
    rules = []
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        action, _, expr = line.partition(" ")
        action, expr = action.upper(), expr.strip()
        if action not in ("DROP", "ACCEPT"):
            raise ValueError("%s %r: the action must be DROP or ACCEPT, not %r"
                             % (where(n), line, action))
        if not expr:
            raise ValueError("%s %r: no expression after %s (for every connection: '%s tcp')"
                             % (where(n), line, action, action))
        try:
            rules.append((action, Filter(expr, flow=True), expr))
        except FilterError as e:
            raise ValueError("%s %r: %s" % (where(n), line, e.message if e.column == 0 else
                                            "at column %d of the expression: %s"
                                            % (e.column + 1, e.message))) from None
    return rules


def catch_initial_syn(mctx, sock, side, event, arg):
    flags = mtcp_getlastpkt(mctx, sock, side).tcph[13]
    return bool(flags & TH_SYN) and not flags & TH_ACK


class Firewall:
    def __init__(self, mctx, rules):
        self.rules = rules
        self.decisions = []
        self.dropped = set()
        sock = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)
        syn_event = mtcp_define_event(MOS_ON_PKT_IN, catch_initial_syn, None)
        mtcp_register_callback(mctx, sock, syn_event, MOS_HK_SND, self.on_syn)
        mtcp_register_callback(mctx, sock, MOS_ON_PKT_IN, MOS_HK_SND, self.on_packet)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_END, MOS_HK_SND, self.on_end)

    def on_syn(self, mctx, sock, side, event, arg):
        if sock in self.dropped:             # a retransmitted SYN of a denied flow
            mtcp_setlastpkt(mctx, sock, side, 0, None, MOS_DROP)
            return
        (cip, cport), (sip, sport) = mtcp_getpeername(mctx, sock, MOS_SIDE_BOTH)
        action, expr = "ACCEPT", None
        for act, flt, text in self.rules:
            if flt(cip, cport, sip, sport):
                action, expr = act, text
                break
        self.decisions.append(((cip, cport), (sip, sport), action, expr))
        if action == "DROP":
            self.dropped.add(sock)
            mtcp_setlastpkt(mctx, sock, side, 0, None, MOS_DROP)
        else:
            mtcp_setsockopt(mctx, sock, SOL_MONSOCKET, MOS_STOP_MON, MOS_SIDE_BOTH)

    def on_packet(self, mctx, sock, side, event, arg):
        if sock in self.dropped:             # the rest of a denied connection
            mtcp_setlastpkt(mctx, sock, side, 0, None, MOS_DROP)

    def on_end(self, mctx, sock, side, event, arg):
        self.dropped.discard(sock)


def print_decisions(fw):
    for (c, s, action, expr) in fw.decisions:
        print(json.dumps({"client": "%s:%d" % c, "server": "%s:%d" % s, "action": action,
                          "rule": expr}), flush=True)


def main(argv=None):
    p = OneLineErrorParser(description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", type=input_file, help="capture to replay through the firewall")
    src.add_argument("--iface", help="live: one side (with --inline OTHER: bump in the wire)")
    p.add_argument("--inline", help="the other side")
    p.add_argument("--out", type=output_file, help="--pcap: write what the firewall forwards to this pcap")
    p.add_argument("--rule", action="append", default=[], help="ACTION EXPR (repeatable)")
    p.add_argument("--rules", type=input_file, help="file of rules")
    p.add_argument("--duration", type=positive_seconds, help="live: stop after this many seconds")
    p.add_argument("--backend", choices=["xdp", "afpacket"], default="xdp",
                   help="live: the monitor's XDP program + AF_XDP (default) or AF_PACKET")
    args = p.parse_args(argv)
    try:
        rules = parse_rules(args.rule, lambda n: "--rule %d" % n)
        if args.rules:
            with open(args.rules) as f:
                rules += parse_rules(f.read().splitlines(), lambda n: "%s:%d" % (args.rules, n))
    except (OSError, ValueError) as e:       # ValueError: a bad rule, named
        p.error(str(e))
    return run(p, input_conf(args), lambda mctx: Firewall(mctx, rules),
               lambda fw: print(json.dumps({"ready": True}), flush=True), print_decisions)

if __name__ == "__main__":
    sys.exit(main())
