"""Ethernet and IPv4 views, address helpers, emitters and the layout helper."""
import struct

import pytest

from xdpmtcp.wire import (ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, EthernetFrame, IPPROTO_TCP,
                          IPPROTO_UDP, IPv4Packet, Layout, MalformedFrame, emit_ethernet,
                          emit_ipv4, format_ipv4_addr, format_mac, parse_ipv4_addr, parse_mac)

# RFC 791-style header with a well-known checksum (UDP, 192.168.0.1 -> .199).
KNOWN_HEADER = bytes.fromhex("4500007300004000" "4011b861c0a80001c0a800c7")


def reason_of(factory, data):
    with pytest.raises(MalformedFrame) as info:
        factory(data)
    return info.value.reason


def ipv4_header(**fields):
    values = dict(version_ihl=0x45, tos=0, total_length=20, ident=0, flags_fragment=0,
                  ttl=64, protocol=6, checksum=0, src=b"\xc6\x12\x00\x02", dst=b"\xc6\x12\x00\x01")
    values.update(fields)
    return struct.pack("!BBHHHBBH4s4s", *values.values())


# --- layout -----------------------------------------------------------------

def test_layout_size_offsets_and_round_trip():
    layout = Layout("Demo", [("a", "B"), ("b", "H"), ("c", "I"), ("mac", "6s")])
    assert layout.size == 13  # network order: no alignment padding
    assert [layout.offset_of(n) for n in layout.fields] == [0, 1, 3, 7]
    packed = layout.pack(1, b=0x0203, c=0x04050607, mac=b"abcdef")
    assert packed == b"\x01\x02\x03\x04\x05\x06\x07abcdef"
    view = layout.unpack_from(b"zz" + packed, 2)
    assert (view.a, view.b, view.c, view.mac) == (1, 0x0203, 0x04050607, b"abcdef")
    buf = bytearray(15)
    layout.pack_into(buf, 2, *view)
    assert bytes(buf[2:]) == packed


def test_layout_rejects_bad_declarations():
    with pytest.raises(ValueError):
        Layout("Dup", [("a", "B"), ("a", "H")])
    with pytest.raises(ValueError):
        Layout("Two", [("pair", "HH")])
    with pytest.raises(ValueError):
        Layout("Byte", [("b", "B")]).pack(256)


# --- MAC and IPv4 addresses ---------------------------------------------------

def test_mac_helpers():
    assert parse_mac("aa:bb:cc:dd:ee:0f") == b"\xaa\xbb\xcc\xdd\xee\x0f"
    assert parse_mac("AA-BB-CC-DD-EE-0F") == b"\xaa\xbb\xcc\xdd\xee\x0f"
    assert parse_mac(b"\x01\x02\x03\x04\x05\x06") == b"\x01\x02\x03\x04\x05\x06"
    assert format_mac(b"\xaa\xbb\xcc\xdd\xee\x0f") == "aa:bb:cc:dd:ee:0f"


@pytest.mark.parametrize("bad", ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "a:bb:cc:dd:ee:ff",
                                 "gg:bb:cc:dd:ee:ff", b"\x01\x02", ""])
def test_mac_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_mac(bad)


def test_ipv4_address_helpers():
    assert parse_ipv4_addr("198.18.0.1") == b"\xc6\x12\x00\x01"
    assert parse_ipv4_addr(0xC6120001) == b"\xc6\x12\x00\x01"
    assert parse_ipv4_addr(b"\xc6\x12\x00\x01") == b"\xc6\x12\x00\x01"
    assert format_ipv4_addr(b"\xc6\x12\x00\x01") == "198.18.0.1"
    assert format_ipv4_addr(0xFFFFFFFF) == "255.255.255.255"


@pytest.mark.parametrize("bad", ["198.18.0", "198.18.0.256", "1", "::1", -1, 2 ** 32, b"\x01\x02\x03"])
def test_ipv4_address_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_ipv4_addr(bad)


# --- Ethernet ---------------------------------------------------------------

def test_ethernet_round_trip():
    frame = emit_ethernet("02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff", ETH_P_ARP, b"payload")
    assert frame[:6] == b"\xff" * 6  # destination goes first on the wire
    eth = EthernetFrame(frame)
    assert eth.dst == b"\xff" * 6 and format_mac(eth.src) == "02:00:00:00:00:02"
    assert eth.ethertype == ETH_P_ARP and eth.vlan_id is None and eth.header_length == 14
    assert bytes(eth.payload) == b"payload"


def test_ethernet_vlan_tag():
    frame = emit_ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_P_IP, b"xy",
                          vlan_id=100, vlan_pcp=5)
    assert frame[12:14] == b"\x81\x00"
    eth = EthernetFrame(frame)
    assert (eth.ethertype, eth.vlan_id, eth.vlan_pcp, eth.header_length) == (ETH_P_IP, 100, 5, 18)
    assert bytes(eth.payload) == b"xy"
    with pytest.raises(ValueError):
        emit_ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_P_IP, vlan_id=4096)


def test_truncated_ethernet():
    frame = emit_ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_P_IP)
    assert len(EthernetFrame(frame).payload) == 0
    assert reason_of(EthernetFrame, frame[:13]) == "truncated-ethernet"
    tagged = frame[:12] + ETH_P_8021Q.to_bytes(2, "big") + b"\x00\x64\x08"
    assert reason_of(EthernetFrame, tagged) == "truncated-ethernet"
    assert reason_of(EthernetFrame, b"") == "truncated-ethernet"


# --- IPv4 -------------------------------------------------------------------

def test_ipv4_known_header_fields():
    pkt = IPv4Packet(KNOWN_HEADER + bytes(0x73 - 20))
    assert (pkt.version, pkt.ihl, pkt.header_length, pkt.tos) == (4, 5, 20, 0)
    assert (pkt.total_length, pkt.ident, pkt.ttl, pkt.protocol) == (0x73, 0, 64, IPPROTO_UDP)
    assert pkt.flags == 0b010 and pkt.dont_fragment and not pkt.more_fragments
    assert pkt.frag_offset == 0 and not pkt.is_fragment
    assert pkt.checksum == 0xB861 and pkt.checksum_ok()
    assert (pkt.src, pkt.dst) == ("192.168.0.1", "192.168.0.199")
    assert (pkt.src_int, pkt.dst_int) == (0xC0A80001, 0xC0A800C7)
    assert len(pkt.payload) == 0x73 - 20 and len(pkt.options) == 0


def test_ipv4_checksum_detects_corruption():
    data = bytearray(KNOWN_HEADER + bytes(0x73 - 20))
    data[8] = 63  # TTL decremented without fixing the checksum
    assert not IPv4Packet(data).checksum_ok()
    data[12:20] = data[16:20] + data[12:16]  # swapping addresses is invisible to it
    data[8] = 64
    assert IPv4Packet(data).checksum_ok()


def test_ipv4_emit_round_trip():
    pkt_bytes = emit_ipv4("198.18.0.2", "198.18.0.1", IPPROTO_TCP, b"data!", ttl=7, ident=0x1234,
                          tos=0xB8, options=b"\x01\x01\x01\x00")
    pkt = IPv4Packet(pkt_bytes)
    assert pkt.checksum_ok()
    assert (pkt.ihl, pkt.total_length, pkt.ttl, pkt.ident) == (6, 29, 7, 0x1234)
    assert (pkt.dscp, pkt.ecn, pkt.dont_fragment) == (46, 0, True)
    assert bytes(pkt.options) == b"\x01\x01\x01\x00" and bytes(pkt.payload) == b"data!"
    assert (pkt.src, pkt.dst) == ("198.18.0.2", "198.18.0.1")
    assert not IPv4Packet(emit_ipv4(1, 2, 6, dont_fragment=False)).dont_fragment


def test_ipv4_emit_rejects():
    with pytest.raises(ValueError):
        emit_ipv4("198.18.0.2", "198.18.0.1", 6, options=b"\x01")
    with pytest.raises(ValueError):
        emit_ipv4("198.18.0.2", "198.18.0.1", 6, payload=bytes(65516))


def test_ipv4_payload_excludes_ethernet_padding():
    pkt = IPv4Packet(emit_ipv4("198.18.0.2", "198.18.0.1", 6, b"abc") + bytes(17))
    assert bytes(pkt.payload) == b"abc"


@pytest.mark.parametrize("flags_fragment, fragment", [
    (0x4000, False), (0x0000, False), (0x2000, True), (0x0001, True), (0x4000 | 0x00B9, True)])
def test_ipv4_fragment_detection(flags_fragment, fragment):
    pkt = IPv4Packet(ipv4_header(flags_fragment=flags_fragment))
    assert pkt.is_fragment is fragment
    assert pkt.frag_offset == flags_fragment & 0x1FFF


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated-ipv4"),
    (ipv4_header()[:19], "truncated-ipv4"),
    (ipv4_header(version_ihl=0x46, total_length=24), "truncated-ipv4"),  # options missing
    (ipv4_header(version_ihl=0x65), "bad-ipv4-version"),
    (ipv4_header(version_ihl=0x44), "bad-ipv4-ihl"),
    (ipv4_header(version_ihl=0x40), "bad-ipv4-ihl"),
    (ipv4_header(total_length=19), "bad-ipv4-total-length"),
    (ipv4_header(version_ihl=0x46, total_length=22) + bytes(4), "bad-ipv4-total-length"),
    (ipv4_header(total_length=21), "bad-ipv4-total-length"),  # claims more than present
])
def test_ipv4_malformed(data, reason):
    assert reason_of(IPv4Packet, data) == reason


def test_ipv4_view_over_ethernet_payload_has_no_copy():
    frame = bytearray(emit_ethernet("02:00:00:00:00:02", "02:00:00:00:00:01", ETH_P_IP,
                                    emit_ipv4("198.18.0.2", "198.18.0.1", 6, b"abc")))
    pkt = IPv4Packet(EthernetFrame(frame).payload)
    frame[-1] = ord("Z")
    assert bytes(pkt.payload) == b"abZ"
