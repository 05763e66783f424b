"""Addresses as the C core keeps them: network byte order in host ints."""
import functools
import socket
import struct


@functools.lru_cache(maxsize=4096)     # per connect and per steering change: few distinct addresses
def ip_be(ip):
    """Dotted quad -> the uint32 C keeps in network order (None or "" -> 0,
    the "any address" of listen keys)."""
    return struct.unpack("=I", socket.inet_aton(ip))[0] if ip else 0


def port_be(port):
    if not 0 <= port <= 0xFFFF:
        raise ValueError("port out of range: %r" % port)
    return socket.htons(port)


def ip_str(v):
    return socket.inet_ntoa(struct.pack("=I", v))


def port_str(v):
    return socket.ntohs(v)
