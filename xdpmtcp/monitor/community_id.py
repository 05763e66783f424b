"""Community ID flow hash, version 1 (https://github.com/corelight/community-id-spec).

    sha1(seed:u16be . src_addr . dst_addr . proto:u8 . 0:u8 . src_port:u16be . dst_port:u16be)

with the endpoints ordered so that the smaller (address, port) comes first
(addresses compared as byte strings, then ports), base64 of the digest,
prefixed with the version: ``1:...``.  Ports are omitted for protocols
without them; ICMP type/code mapping is not needed here (TCP only is
monitored) but ports may be passed for any protocol.
"""
import base64
import hashlib
import ipaddress
import struct

PROTO_TCP = 6
PROTO_UDP = 17


def _addr(a):
    if isinstance(a, bytes):
        return a
    return ipaddress.ip_address(a).packed


def community_id_v1(saddr, daddr, sport=None, dport=None, proto=PROTO_TCP, seed=0,
                    b64=True):
    """Community ID of a flow; addresses as text ("10.0.0.1", "fe80::1")
    or packed bytes, ports as ints (None for port-less protocols)."""
    s, d = _addr(saddr), _addr(daddr)
    if len(s) != len(d):
        raise ValueError("address families differ")
    has_ports = sport is not None and dport is not None
    sp, dp = (sport, dport) if has_ports else (0, 0)
    if (s, sp) > (d, dp):
        s, d, sp, dp = d, s, dp, sp
    data = struct.pack("!H", seed) + s + d + struct.pack("!BB", proto, 0)
    if has_ports:
        data += struct.pack("!HH", sp, dp)
    digest = hashlib.sha1(data).digest()
    return "1:" + (base64.b64encode(digest).decode() if b64 else digest.hex())
