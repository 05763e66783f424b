"""Whole frames: parse_tcp_frame, build_tcp_frame, describe, and every reason."""
import shutil
import struct
import subprocess

import pytest

from xdpmtcp.wire import (ETH_P_ARP, ETH_P_IP, IPPROTO_TCP, IPPROTO_UDP, REASONS, MalformedFrame,
                          TcpFlags, TcpFrame, TcpOptions, build_tcp_frame, describe, emit_ethernet,
                          emit_ipv4, emit_tcp, parse_tcp_frame)

F = TcpFlags
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:02", "02:00:00:00:00:01"
CLIENT, SERVER = "198.18.0.2", "198.18.0.1"
LINUX_SYN_OPTS = TcpOptions(mss=1460, sack_permitted=True, timestamp=(1, 0), window_scale=7)

# The SYN of test_wire_checksum, with its Ethernet header, written out by
# hand; checksums confirmed by tshark and tcpdump, not by this code.
HAND_SYN = bytes.fromhex(
    "020000000001" "020000000002" "0800"
    "4500003c3c1a40004006" "727a" "c6120002c6120001"
    "9c400050" "5d2f0a3b" "00000000" "a002faf0" "9094" "0000"
    "020405b4" "0402" "080a001b2c3d00000000" "01" "030307")


def frame(flags=F.ACK, payload=b"", options=None, seq=1000, ack=2000, sport=40000, dport=5001,
          window=502):
    return build_tcp_frame(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, sport, dport, seq, ack, flags,
                           window, options=options, payload=payload)


def over_ip(ip_packet):
    return emit_ethernet(CLIENT_MAC, SERVER_MAC, ETH_P_IP, ip_packet)


def over_tcp(segment, **ipv4_kw):
    return over_ip(emit_ipv4(CLIENT, SERVER, IPPROTO_TCP, segment, **ipv4_kw))


def patched(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


GOOD_SEGMENT = emit_tcp(CLIENT, SERVER, 40000, 5001, 1, 2, F.ACK, 100, payload=b"data")
GOOD_IP = emit_ipv4(CLIENT, SERVER, IPPROTO_TCP, GOOD_SEGMENT)
IP_OFF, TCP_OFF = 14, 34  # offsets of the IPv4 and TCP headers in an untagged frame

# One frame per named reason: the table doubles as proof that each is reachable.
MALFORMED = {
    "truncated-ethernet": (over_ip(GOOD_IP)[:13], False),
    "not-ipv4": (emit_ethernet(CLIENT_MAC, SERVER_MAC, ETH_P_ARP, bytes(28)), False),
    "truncated-ipv4": (over_ip(GOOD_IP)[:IP_OFF + 19], False),
    "bad-ipv4-version": (over_ip(patched(GOOD_IP, 0, b"\x65")), False),
    "bad-ipv4-ihl": (over_ip(patched(GOOD_IP, 0, b"\x43")), False),
    "bad-ipv4-total-length": (over_ip(patched(GOOD_IP, 2, struct.pack("!H", len(GOOD_IP) + 1))), False),
    "bad-ipv4-checksum": (over_ip(patched(GOOD_IP, 8, b"\x3f")), True),  # TTL 63, stale checksum
    "ipv4-fragment": (over_ip(patched(GOOD_IP, 6, b"\x20\x00")), False),
    "not-tcp": (over_ip(emit_ipv4(CLIENT, SERVER, IPPROTO_UDP, bytes(12))), False),
    "truncated-tcp": (over_tcp(GOOD_SEGMENT[:19]), False),
    "bad-tcp-data-offset": (over_tcp(patched(GOOD_SEGMENT, 12, b"\x40")), False),
    "bad-tcp-option": (over_tcp(emit_tcp(CLIENT, SERVER, 1, 2, 3, 4, F.ACK, 5,
                                         options=bytes([2, 3, 5, 1]))), False),
    "bad-flag-combination": (over_tcp(emit_tcp(CLIENT, SERVER, 1, 2, 3, 4, F.SYN | F.FIN, 5)), False),
    "bad-tcp-checksum": (over_tcp(patched(GOOD_SEGMENT, 20, b"D")), True),
}


def test_every_reason_has_a_case():
    assert set(MALFORMED) == REASONS


@pytest.mark.parametrize("reason", sorted(MALFORMED))
def test_malformed_frame_reason(reason):
    data, needs_verify = MALFORMED[reason]
    with pytest.raises(MalformedFrame) as info:
        parse_tcp_frame(data, verify_checksums=needs_verify)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError) and str(info.value).startswith(reason)
    if needs_verify:  # structurally fine: only checksum verification catches it
        assert isinstance(parse_tcp_frame(data), TcpFrame)


def test_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        MalformedFrame("truncated-everything")
    assert MalformedFrame("not-tcp", "protocol 17").detail == "protocol 17"


def test_checksum_verification_runs_before_header_parsing():
    # A corrupted data offset inside a checksummed segment is a checksum error.
    data = over_tcp(patched(GOOD_SEGMENT, 12, b"\x40"))
    with pytest.raises(MalformedFrame) as info:
        parse_tcp_frame(data, verify_checksums=True)
    assert info.value.reason == "bad-tcp-checksum"


def test_build_matches_hand_built_syn_byte_for_byte():
    built = build_tcp_frame(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 40000, 80, 0x5D2F0A3B, 0, F.SYN,
                            64240, options=TcpOptions(mss=1460, sack_permitted=True,
                                                      timestamp=(0x1B2C3D, 0), window_scale=7),
                            ident=0x3C1A)
    assert built.hex() == HAND_SYN.hex()


def test_parse_hand_built_syn():
    f = parse_tcp_frame(HAND_SYN, verify_checksums=True)
    assert (f.ip.src, f.ip.dst, f.tcp.src_port, f.tcp.dst_port) == (CLIENT, SERVER, 40000, 80)
    assert f.tcp.flags == F.SYN and f.tcp.seq == 0x5D2F0A3B
    assert f.tcp.options.timestamp == (0x1B2C3D, 0) and f.tcp.options.mss == 1460
    assert f.eth.src == bytes.fromhex("020000000002")


def test_round_trip_with_payload_and_padding():
    data = frame(F.PSH | F.ACK, payload=b"GET / HTTP/1.1\r\n\r\n", options=TcpOptions(timestamp=(9, 8)))
    f = parse_tcp_frame(data + bytes(6), verify_checksums=True)  # trailing Ethernet padding
    assert bytes(f.tcp.payload) == b"GET / HTTP/1.1\r\n\r\n"
    assert (f.tcp.seq, f.tcp.ack, f.tcp.window) == (1000, 2000, 502)
    assert f.ip.ttl == 64 and f.ip.dont_fragment and f.ip.checksum_ok()
    assert f.tcp.checksum_ok(f.ip.src, f.ip.dst)


def test_vlan_tagged_tcp_frame():
    data = emit_ethernet(CLIENT_MAC, SERVER_MAC, ETH_P_IP, GOOD_IP, vlan_id=7)
    f = parse_tcp_frame(data, verify_checksums=True)
    assert f.eth.vlan_id == 7 and bytes(f.tcp.payload) == b"data"


def test_check_flags_can_be_relaxed_for_monitoring():
    data, _ = MALFORMED["bad-flag-combination"]
    assert parse_tcp_frame(data, check_flags=False).tcp.flags == F.SYN | F.FIN


# Expected lines were checked against tcpdump 4.99.3 ("tcpdump -nn -S -t", minus "IP ").
DESCRIBE_CASES = [
    (build_tcp_frame(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 40000, 80, 1, 0, F.SYN, 64240,
                     options=LINUX_SYN_OPTS),
     "198.18.0.2.40000 > 198.18.0.1.80: Flags [S], seq 1, win 64240, "
     "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"),
    (build_tcp_frame(SERVER_MAC, CLIENT_MAC, SERVER, CLIENT, 80, 40000, 4294967000, 2, F.SYN | F.ACK,
                     65160, options=TcpOptions(mss=1460, sack_permitted=True, window_scale=7)),
     "198.18.0.1.80 > 198.18.0.2.40000: Flags [S.], seq 4294967000, ack 2, win 65160, "
     "options [mss 1460,nop,wscale 7,nop,nop,sackOK], length 0"),
    (frame(F.PSH | F.ACK, payload=b"x" * 20, seq=4294967290, ack=100, options=TcpOptions(timestamp=(5, 6))),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [P.], seq 4294967290:14, ack 100, win 502, "
     "options [nop,nop,TS val 5 ecr 6], length 20"),
    (frame(F.ACK, seq=10, ack=100, options=TcpOptions(sack_blocks=[(100, 200), (300, 400)], timestamp=(7, 8))),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [.], ack 100, win 502, "
     "options [nop,nop,TS val 7 ecr 8,nop,nop,sack 2 {100:200}{300:400}], length 0"),
    (frame(F.FIN | F.ACK, seq=10, ack=100),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [F.], seq 10, ack 100, win 502, length 0"),
    (frame(F.RST, seq=10, ack=0, window=0),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [R], seq 10, win 0, length 0"),
    (frame(0, seq=10, window=0),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [none], win 0, length 0"),
    (frame(F.URG | F.ACK | F.ECE | F.CWR, payload=b"ab", seq=10, ack=9, window=5),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [.UEW], seq 10:12, ack 9, win 5, urg 0, length 2"),
    (frame(0xFF, seq=10, ack=9, window=5),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [FSRP.UEW], seq 10, ack 9, win 5, urg 0, length 0"),
    (frame(F.ACK, ack=9, window=5, options=bytes([99, 6, 0xDE, 0xAD, 0xBE, 0xEF, 100, 2])),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [.], ack 9, win 5, "
     "options [unknown-99 0xdeadbeef,unknown-100], length 0"),
    (frame(F.ACK, ack=9, window=5, options=bytes([1, 1, 1, 1])),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [.], ack 9, win 5, options [nop,nop,nop,nop], length 0"),
    (frame(F.SYN, seq=10, window=5, options=bytes([2, 4, 5, 0xB4, 0, 1, 2, 0])),
     "198.18.0.2.40000 > 198.18.0.1.5001: Flags [S], seq 10, win 5, options [mss 1460,eol], length 0"),
]


@pytest.mark.parametrize("data, expected", DESCRIBE_CASES, ids=range(len(DESCRIBE_CASES)))
def test_describe(data, expected):
    assert describe(data) == expected
    assert describe(parse_tcp_frame(data, check_flags=False)) == expected


def _pcap(frames):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # DLT_EN10MB
    for f in frames:
        out.append(struct.pack("<IIII", 0, 0, len(f), len(f)) + f)
    return b"".join(out)


def _tcpdump(frames, *args):
    result = subprocess.run(["tcpdump", "-nn", "-S", "-t", *args, "-r", "-"], input=_pcap(frames),
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().splitlines()


needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")


@needs_tcpdump
def test_describe_agrees_with_installed_tcpdump():
    frames = [data for data, _ in DESCRIBE_CASES] + [HAND_SYN]
    assert _tcpdump(frames) == ["IP " + describe(f) for f in frames]


@needs_tcpdump
def test_tcpdump_finds_built_checksums_correct():
    frames = [data for data, _ in DESCRIBE_CASES] + [HAND_SYN]
    text = "\n".join(_tcpdump(frames, "-vv"))
    assert text.count("cksum") == len(frames) and text.count("(correct)") == len(frames)
    assert "bad cksum" not in text
    # Negative control: tcpdump does notice a corrupted segment.
    broken = _tcpdump([over_tcp(patched(GOOD_SEGMENT, 20, b"D"))], "-vv")
    assert "incorrect" in "\n".join(broken)
