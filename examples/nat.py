#!/usr/bin/env python3
"""nat: source NAT in the monitor's inline path with mtcp_setlastpkt
(mOS's nat sample, in Python).  Client packets leave with the public
address and a port from the pool, checksums updated.  Replaying a capture
taken on the inside (--pcap), the output is what the outside link would
carry: server packets are addressed to the public address and port too.
(Live inline, where replies arrive for the public address and go back to
the client, needs the inline input: not yet.)

    examples/nat.py --pcap in.pcap --out natted.pcap --public 198.19.0.1

Connections are mapped at MOS_ON_PKT_IN (hook SND) of their first packet
and released at MOS_ON_CONN_END.  The pool is --ports (default
20000-29999); when it is exhausted the connection's packets are dropped.
"""
import argparse
import ipaddress
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from xdpmtcp.mos_api import (AF_INET, MOS_DROP, MOS_HK_SND, MOS_IP_HDR,  # noqa: E402
                             MOS_ON_CONN_END, MOS_ON_PKT_IN, MOS_OVERWRITE, MOS_SIDE_BOTH,
                             MOS_SIDE_CLI, MOS_SOCK_MONITOR_STREAM, MOS_TCP_HDR,
                             MOS_UPDATE_IP_CHKSUM, MOS_UPDATE_TCP_CHKSUM, mtcp_app_join,
                             mtcp_create_context, mtcp_getpeername, mtcp_register_callback,
                             mtcp_setlastpkt, mtcp_socket)

OFF_SADDR, OFF_DADDR = 12, 16       # in the IPv4 header
OFF_SPORT, OFF_DPORT = 0, 2         # in the TCP header
CSUMS = MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM


class Nat:
    def __init__(self, mctx, public, ports=(20000, 29999)):
        self.public = ipaddress.IPv4Address(public).packed
        self.free = list(range(ports[1], ports[0] - 1, -1))
        self.map = {}                                   # sock -> public port
        self.exhausted = 0
        sock = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)
        mtcp_register_callback(mctx, sock, MOS_ON_PKT_IN, MOS_HK_SND, self.on_packet)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_END, MOS_HK_SND, self.on_end)

    def on_packet(self, mctx, sock, side, event, arg):
        port = self.map.get(sock)
        if port is None:
            if not self.free:
                self.exhausted += 1
                mtcp_setlastpkt(mctx, sock, side, 0, None, MOS_DROP)
                return
            port = self.map[sock] = self.free.pop()
        p = struct.pack("!H", port)
        if side == MOS_SIDE_CLI:            # client -> server: rewrite the source
            mtcp_setlastpkt(mctx, sock, side, OFF_SADDR, self.public, MOS_IP_HDR | MOS_OVERWRITE)
            mtcp_setlastpkt(mctx, sock, side, OFF_SPORT, p, MOS_TCP_HDR | MOS_OVERWRITE | CSUMS)
        else:                               # server -> client: was for the public address
            (cip, cport), _ = mtcp_getpeername(mctx, sock, MOS_SIDE_BOTH)
            mtcp_setlastpkt(mctx, sock, side, OFF_DADDR, self.public, MOS_IP_HDR | MOS_OVERWRITE)
            mtcp_setlastpkt(mctx, sock, side, OFF_DPORT, p, MOS_TCP_HDR | MOS_OVERWRITE | CSUMS)

    def on_end(self, mctx, sock, side, event, arg):
        port = self.map.pop(sock, None)
        if port is not None:
            self.free.append(port)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pcap", required=True, help="capture to replay (live inline: not yet)")
    p.add_argument("--out", required=True, help="write the rewritten packets here")
    p.add_argument("--public", required=True, help="the address clients are hidden behind")
    p.add_argument("--ports", default="20000-29999")
    args = p.parse_args(argv)
    lo, hi = (int(x) for x in args.ports.split("-"))
    mctx = mtcp_create_context(0, pcap=args.pcap, pcap_out=args.out)
    nat = Nat(mctx, args.public, (lo, hi))
    mtcp_app_join(mctx)
    print("connections mapped: %d left open, pool exhausted %d times"
          % (len(nat.map), nat.exhausted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
