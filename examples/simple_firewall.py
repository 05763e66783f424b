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

from xdpmtcp.commands.common import (OneLineErrorParser, input_file, output_file,  # noqa: E402
                                     positive_seconds)
from xdpmtcp.monitor.filter import Filter  # noqa: E402
from xdpmtcp.mos_api import (AF_INET, MOS_DROP, MOS_HK_SND, MOS_ON_CONN_END,  # noqa: E402
                             MOS_ON_PKT_IN, MOS_SIDE_BOTH, MOS_SOCK_MONITOR_STREAM,
                             MOS_STOP_MON, SOL_MONSOCKET, mtcp_app_join, mtcp_create_context,
                             mtcp_define_event, mtcp_getlastpkt, mtcp_getpeername,
                             mtcp_register_callback, mtcp_setlastpkt, mtcp_setsockopt,
                             mtcp_socket)

TH_SYN, TH_ACK = 0x02, 0x10


def parse_rules(lines):
    rules = []
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        action, _, expr = line.partition(" ")
        action = action.upper()
        if action not in ("DROP", "ACCEPT"):
            raise ValueError("rule %d: action must be DROP or ACCEPT, not %r" % (n, action))
        rules.append((action, Filter(expr), expr.strip()))
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
    lines = list(args.rule)
    try:
        if args.rules:
            with open(args.rules) as f:
                lines += f.read().splitlines()
        rules = parse_rules(lines)
    except (OSError, ValueError) as e:       # ValueError: a bad rule (FilterError too)
        p.error(str(e))
    if args.pcap:
        mctx = mtcp_create_context(0, pcap=args.pcap, pcap_out=args.out)
    else:
        ports = args.iface + (" " + args.inline if args.inline else "")
        mctx = mtcp_create_context(0, port=ports, duration=args.duration,
                                   backend=args.backend)
    fw = Firewall(mctx, rules)
    print(json.dumps({"ready": True}), flush=True)
    mtcp_app_join(mctx)
    for (c, s, action, expr) in fw.decisions:
        print(json.dumps({"client": "%s:%d" % c, "server": "%s:%d" % s, "action": action,
                          "rule": expr}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
