#!/usr/bin/env python3
"""nat: source NAT in the monitor's inline path with mtcp_setlastpkt
(mOS's nat sample, in Python).  The inside interface is the client side.

  outbound  a client's packet leaves with the public address and a port
            from the pool (stream socket, MOS_ON_PKT_IN at MOS_HK_SND: the
            flow is known by its inside addresses);
  inbound   a packet for the public address and a mapped port gets the
            client's address and port back before the flow code sees it
            (raw socket, MOS_ON_PKT_IN at MOS_NULL), so both directions are
            one flow to the monitor.
Checksums are updated.  Mappings go at MOS_ON_CONN_END; an exhausted pool
drops the connection's packets.

The outside must send the public address's packets onto this wire with
the inside side's MAC as destination: nothing here owns the public
address, so an ARP request for it goes unanswered.  When one passes,
nat.py says so once per asker, with the neighbour entry to add on that
host (ip neigh replace PUBLIC lladdr INSIDE-MAC dev ITS-IF nud permanent),
and counts them (arp_unanswered).

    examples/nat.py --iface IN --inline OUT --public 198.18.1.100 [--duration S]
    examples/nat.py --pcap in.pcap --out natted.pcap --public 198.19.0.1
"""
import argparse
import ipaddress
import json
import os
import struct
import sys

import _bootstrap  # noqa: E402,F401  (first: the clone on sys.path, its .venv)

from _mos_sample import input_conf, run  # noqa: E402
from xdpmtcp.commands.common import (OneLineErrorParser, input_file, ipv4_host,  # noqa: E402
                                     output_file, port_range, positive_seconds)
from xdpmtcp.mos_api import (AF_INET, MOS_DROP, MOS_HK_SND, MOS_IP_HDR,  # noqa: E402
                             MOS_NULL, MOS_ON_CONN_END, MOS_ON_PKT_IN, MOS_OVERWRITE,
                             MOS_SIDE_BOTH, MOS_SIDE_CLI, MOS_SOCK_MONITOR_RAW,
                             MOS_SOCK_MONITOR_STREAM, MOS_TCP_HDR, MOS_UPDATE_IP_CHKSUM,
                             MOS_UPDATE_TCP_CHKSUM, mtcp_bind_monitor_filter, mtcp_getlastpkt,
                             mtcp_getpeername, mtcp_register_callback, mtcp_setlastpkt,
                             mtcp_socket)

PROG = os.path.basename(sys.argv[0] or "nat.py")
OFF_SADDR, OFF_DADDR = 12, 16       # in the IPv4 header
OFF_SPORT, OFF_DPORT = 0, 2         # in the TCP header
CSUMS = MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM


class Nat:
    def __init__(self, mctx, public, ports=(20000, 29999)):
        self.public_ip = str(ipaddress.IPv4Address(public))
        self.public = ipaddress.IPv4Address(public).packed
        self.free = list(range(ports[1], ports[0] - 1, -1))
        self.map = {}                                   # sock -> public port
        self.back = {}                                  # public port -> (client ip, port)
        self.exhausted = 0
        self.translated_in = 0
        self.inside_mac = None                          # learnt from the clients' frames
        self.arp_askers = set()
        self.arp_unanswered = 0
        sock = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)
        mtcp_register_callback(mctx, sock, MOS_ON_PKT_IN, MOS_HK_SND, self.outbound)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_END, MOS_HK_SND, self.on_end)
        raw = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_RAW, 0)
        mtcp_bind_monitor_filter(mctx, raw, "tcp and dst host %s" % self.public_ip)
        mtcp_register_callback(mctx, raw, MOS_ON_PKT_IN, MOS_NULL, self.inbound)
        # ARP (and IPv6) only: frames that are not IPv4
        arp = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_RAW, 0)
        mtcp_bind_monitor_filter(mctx, arp, "not ip")
        mtcp_register_callback(mctx, arp, MOS_ON_PKT_IN, MOS_NULL, self.on_arp)

    def outbound(self, mctx, sock, side, event, arg):
        if side != MOS_SIDE_CLI:
            return                          # replies were translated on the way in
        port = self.map.get(sock)
        if port is None:
            if not self.free:
                self.exhausted += 1
                mtcp_setlastpkt(mctx, sock, side, 0, None, MOS_DROP)
                return
            port = self.map[sock] = self.free.pop()
            self.back[port] = mtcp_getpeername(mctx, sock, MOS_SIDE_BOTH)[MOS_SIDE_CLI]
            if self.inside_mac is None:
                self.inside_mac = mtcp_getlastpkt(mctx, sock, side).ethh[6:12]
        mtcp_setlastpkt(mctx, sock, side, OFF_SADDR, self.public, MOS_IP_HDR | MOS_OVERWRITE)
        mtcp_setlastpkt(mctx, sock, side, OFF_SPORT, struct.pack("!H", port),
                        MOS_TCP_HDR | MOS_OVERWRITE | CSUMS)

    def inbound(self, mctx, sock, side, event, arg):
        tcph = mtcp_getlastpkt(mctx, sock, side).tcph
        dst = self.back.get(struct.unpack_from("!H", tcph, 2)[0])
        if dst is None:
            return
        self.translated_in += 1
        mtcp_setlastpkt(mctx, sock, side, OFF_DADDR, ipaddress.IPv4Address(dst[0]).packed,
                        MOS_IP_HDR | MOS_OVERWRITE)
        mtcp_setlastpkt(mctx, sock, side, OFF_DPORT, struct.pack("!H", dst[1]),
                        MOS_TCP_HDR | MOS_OVERWRITE | CSUMS)

    def on_arp(self, mctx, sock, side, event, arg):
        """An ARP request for the public address: nothing will answer it."""
        f = mtcp_getlastpkt(mctx, sock, side).frame
        if len(f) < 42 or f[12:14] != b"\x08\x06" or f[20:22] != b"\x00\x01" or \
                f[38:42] != self.public:
            return
        self.arp_unanswered += 1
        asker = str(ipaddress.IPv4Address(f[28:32]))
        if asker in self.arp_askers:
            return
        self.arp_askers.add(asker)
        mac = ":".join("%02x" % b for b in self.inside_mac) if self.inside_mac else "INSIDE-MAC"
        print("%s: %s asks who has %s (ARP) and nothing on this wire answers for the public "
              "address: on %s run 'ip neigh replace %s lladdr %s dev ITS-IF nud permanent'"
              % (PROG, asker, self.public_ip, asker, self.public_ip, mac),
              file=sys.stderr, flush=True)

    def on_end(self, mctx, sock, side, event, arg):
        port = self.map.pop(sock, None)
        if port is not None:
            self.back.pop(port, None)
            self.free.append(port)


def main(argv=None):
    p = OneLineErrorParser(description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", type=input_file, help="capture to replay through the NAT")
    src.add_argument("--iface", help="inside interface (with --inline OUTSIDE)")
    p.add_argument("--inline", help="outside interface")
    p.add_argument("--out", type=output_file, help="--pcap: write the rewritten packets here")
    p.add_argument("--public", type=ipv4_host, required=True, help="the address clients are hidden behind")
    p.add_argument("--ports", type=port_range, default="20000-29999")
    p.add_argument("--duration", type=positive_seconds, help="live: stop after this many seconds")
    p.add_argument("--backend", choices=["xdp", "afpacket"], default="xdp",
                   help="live: the monitor's XDP program + AF_XDP (default) or AF_PACKET")
    args = p.parse_args(argv)
    if args.iface and not args.inline:
        p.error("--iface needs --inline")
    return run(p, input_conf(args), lambda mctx: Nat(mctx, args.public, args.ports),
               lambda nat: print(json.dumps({"ready": True}), flush=True),
               lambda nat: print(json.dumps({
                   "open_mappings": len(nat.map), "exhausted": nat.exhausted,
                   "translated_in": nat.translated_in, "arp_unanswered": nat.arp_unanswered}),
                   flush=True))

if __name__ == "__main__":
    sys.exit(main())
