"""RFC 1071 checksum and TCP pseudo-header checksum."""
import random

import pytest

from xdpmtcp.wire import (internet_checksum, ones_complement_sum, pseudo_header_sum,
                          tcp_checksum, verify_internet_checksum, verify_tcp_checksum)

# A Linux-style SYN built by hand, field by field.  The checksums 0x727a (IP)
# and 0x9094 (TCP) were computed outside this code and confirmed by tshark
# (checksum status "good") and tcpdump -vv ("correct").
SYN_SRC, SYN_DST = "198.18.0.2", "198.18.0.1"
SYN_IP_HEADER = bytes.fromhex("4500003c3c1a40004006" "727a" "c6120002c6120001")
SYN_TCP = bytes.fromhex(
    "9c400050" "5d2f0a3b" "00000000" "a002faf0" "9094" "0000"   # ports seq ack off/flags win csum urg
    "020405b4" "0402" "080a001b2c3d00000000" "01" "030307")     # mss sackOK TS nop wscale


def reference_checksum(data):
    """Textbook RFC 1071 loop, independent of the big-integer trick."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def zero_field(data, offset):
    return data[:offset] + b"\x00\x00" + data[offset + 2:]


def test_rfc1071_numerical_example():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_complement_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D


def test_known_ipv4_header_checksum():
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    filled = zero_field(header, 10)[:10] + b"\xb8\x61" + header[12:]
    assert verify_internet_checksum(filled)
    assert not verify_internet_checksum(filled[:10] + b"\xb8\x62" + filled[12:])


def test_odd_length_is_padded_with_a_trailing_zero():
    assert ones_complement_sum(b"\x01") == 0x0100
    assert internet_checksum(b"\x01\x02\x03") == internet_checksum(b"\x01\x02\x03\x00")
    assert internet_checksum(b"\x01\x02\x03") != internet_checksum(b"\x00\x01\x02\x03")


def test_negative_zero_rules():
    assert ones_complement_sum(b"") == 0
    assert ones_complement_sum(bytes(8)) == 0
    # Non-zero words that add up to 0 mod 0xffff give 0xffff, never 0.
    assert ones_complement_sum(b"\xff\xff") == 0xFFFF
    assert ones_complement_sum(b"\x00\x01\xff\xfe") == 0xFFFF
    assert internet_checksum(b"\x00\x01\xff\xfe") == 0
    # An all-zero header must not verify.
    assert not verify_internet_checksum(bytes(20))


def test_matches_reference_on_random_data():
    rng = random.Random(1071)
    for length in list(range(0, 70)) + [1499, 1500, 9000]:
        data = bytes(rng.getrandbits(8) for _ in range(length))
        assert internet_checksum(data) == reference_checksum(data), length


def test_accepts_any_buffer_type():
    data = bytes(range(1, 40))
    expected = reference_checksum(data)
    assert internet_checksum(bytearray(data)) == expected
    assert internet_checksum(memoryview(data)) == expected
    assert internet_checksum(memoryview(b"xx" + data)[2:]) == expected


def test_initial_partial_sum_chains():
    a, b = bytes(range(1, 65, 3)), bytes(range(200, 255))
    assert len(a) % 2 == 0
    assert internet_checksum(a + b) == internet_checksum(b, ones_complement_sum(a))


def test_hand_built_syn_ip_header_checksum():
    assert internet_checksum(zero_field(SYN_IP_HEADER, 10)) == 0x727A
    assert verify_internet_checksum(SYN_IP_HEADER)


def test_hand_built_syn_tcp_checksum():
    assert tcp_checksum(SYN_SRC, SYN_DST, zero_field(SYN_TCP, 16)) == 0x9094
    assert verify_tcp_checksum(SYN_SRC, SYN_DST, SYN_TCP)


def test_tcp_checksum_depends_on_pseudo_header_and_payload():
    assert not verify_tcp_checksum("198.18.0.3", SYN_DST, SYN_TCP)
    corrupted = bytearray(SYN_TCP)
    corrupted[25] ^= 0x01
    assert not verify_tcp_checksum(SYN_SRC, SYN_DST, corrupted)
    # Swapping the two addresses keeps the sum (addition commutes): a known
    # blind spot of the internet checksum, pinned here so nobody "fixes" it.
    assert verify_tcp_checksum(SYN_DST, SYN_SRC, SYN_TCP)


def test_tcp_checksum_matches_reference_over_pseudo_header():
    pseudo = bytes.fromhex("c6120002c6120001") + b"\x00\x06" + len(SYN_TCP).to_bytes(2, "big")
    assert tcp_checksum(SYN_SRC, SYN_DST, zero_field(SYN_TCP, 16)) == \
        reference_checksum(pseudo + zero_field(SYN_TCP, 16))


@pytest.mark.parametrize("addr", ["198.18.0.2", 0xC6120002, b"\xc6\x12\x00\x02"])
def test_pseudo_header_accepts_address_forms(addr):
    assert pseudo_header_sum(addr, "198.18.0.1", 40) == pseudo_header_sum("198.18.0.2", "198.18.0.1", 40)
    assert pseudo_header_sum(addr, "198.18.0.1", 40) != pseudo_header_sum(addr, "198.18.0.1", 41)
