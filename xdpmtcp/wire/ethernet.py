"""Ethernet II frames, with at most one 802.1Q tag."""
from .errors import MalformedFrame, TRUNCATED_ETHERNET
from .layout import Layout, byte_view

__all__ = [
    "ETH_P_IP", "ETH_P_ARP", "ETH_P_8021Q", "ETH_P_IPV6",
    "ETHERNET_HEADER", "VLAN_TAG", "EthernetFrame", "emit_ethernet",
    "parse_mac", "format_mac",
]

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD

ETHERNET_HEADER = Layout("EthernetHeader", [("dst", "6s"), ("src", "6s"), ("ethertype", "H")])
VLAN_TAG = Layout("VlanTag", [("tci", "H"), ("ethertype", "H")])

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_mac(mac):
    """``"aa:bb:cc:dd:ee:ff"`` (or ``-`` separated, or 6 raw bytes) -> 6 bytes."""
    if isinstance(mac, (bytes, bytearray, memoryview)):
        raw = bytes(mac)
        if len(raw) != 6:
            raise ValueError("MAC address must be 6 bytes, got %d" % len(raw))
        return raw
    parts = str(mac).replace("-", ":").split(":")
    if len(parts) != 6 or any(len(p) != 2 or not set(p) <= _HEX for p in parts):
        raise ValueError("invalid MAC address %r" % (mac,))
    return bytes(int(p, 16) for p in parts)


def format_mac(mac):
    """6 bytes -> ``"aa:bb:cc:dd:ee:ff"``."""
    return bytes(mac).hex(":")


class EthernetFrame:
    """Checked view of an Ethernet II frame; accessors never raise.

    With an 802.1Q tag, ``ethertype`` is the inner (encapsulated) type and
    ``vlan_id`` the tag's VLAN; without one ``vlan_id`` is None.
    """

    __slots__ = ("buffer", "_hdr", "_tci", "_ethertype", "header_length")

    def __init__(self, buf):
        self.buffer = byte_view(buf)
        self.check()

    def check(self):
        """Validate lengths; raise MalformedFrame("truncated-ethernet")."""
        buf = self.buffer
        if len(buf) < ETHERNET_HEADER.size:
            raise MalformedFrame(TRUNCATED_ETHERNET, "%d bytes" % len(buf))
        hdr = ETHERNET_HEADER.unpack_from(buf)
        self._hdr = hdr
        self._tci = None
        self._ethertype = hdr.ethertype
        self.header_length = ETHERNET_HEADER.size
        if hdr.ethertype == ETH_P_8021Q:
            if len(buf) < ETHERNET_HEADER.size + VLAN_TAG.size:
                raise MalformedFrame(TRUNCATED_ETHERNET, "802.1Q tag cut short")
            tag = VLAN_TAG.unpack_from(buf, ETHERNET_HEADER.size)
            self._tci = tag.tci
            self._ethertype = tag.ethertype
            self.header_length += VLAN_TAG.size

    @property
    def dst(self):
        return self._hdr.dst

    @property
    def src(self):
        return self._hdr.src

    @property
    def ethertype(self):
        return self._ethertype

    @property
    def vlan_id(self):
        return None if self._tci is None else self._tci & 0x0FFF

    @property
    def vlan_pcp(self):
        return None if self._tci is None else self._tci >> 13

    @property
    def payload(self):
        return self.buffer[self.header_length:]

    def __repr__(self):
        vlan = "" if self._tci is None else " vlan %d" % self.vlan_id
        return "<EthernetFrame %s > %s type 0x%04x%s len %d>" % (
            format_mac(self.src), format_mac(self.dst), self.ethertype, vlan, len(self.buffer))


def emit_ethernet(src_mac, dst_mac, ethertype, payload=b"", vlan_id=None, vlan_pcp=0):
    """Build a frame (no FCS, no minimum-size padding)."""
    src, dst = parse_mac(src_mac), parse_mac(dst_mac)
    if vlan_id is None:
        header = ETHERNET_HEADER.pack(dst, src, ethertype)
    else:
        if not 0 <= vlan_id <= 0x0FFF or not 0 <= vlan_pcp <= 7:
            raise ValueError("VLAN id must be 0..4095 and PCP 0..7")
        header = (ETHERNET_HEADER.pack(dst, src, ETH_P_8021Q)
                  + VLAN_TAG.pack((vlan_pcp << 13) | vlan_id, ethertype))
    return header + bytes(payload)
