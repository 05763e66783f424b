"""The Toeplitz hash and the RSS queue map against Microsoft's RSS
verification suite (the vectors the 82599 datasheet, DPDK's test_thash and
FreeBSD's toeplitz_verify repeat)."""
import socket
import struct

import pytest

from xdpmtcp.tcp.rss import MICROSOFT_KEY, RssMap, parse_key, toeplitz

# (source, destination, source port, destination port, IP-only hash, IP+TCP hash)
IPV4 = [
    ("66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2, 0x51ccc178),
    ("199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea),
    ("24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de, 0x5c2b394a),
    ("38.27.205.30", "209.142.163.6", 48228, 2217, 0x82989176, 0xafc7327f),
    ("153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d1809c5, 0x10e828a2),
]
IPV6_TCP = [
    ("3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x40207d3d),
    ("3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf),
    ("3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02d1feef),
]


def _bits_hash(key, data):
    """Toeplitz straight from the definition, bit by bit: the reference."""
    k = int.from_bytes(key, "big")
    nbits = len(key) * 8
    h = 0
    for i in range(len(data) * 8):
        if data[i // 8] & (0x80 >> (i % 8)):
            h ^= (k >> (nbits - 32 - i)) & 0xFFFFFFFF
    return h


@pytest.mark.parametrize("src,dst,sport,dport,h_ip,h_tcp", IPV4)
def test_ipv4_vectors(src, dst, sport, dport, h_ip, h_tcp):
    addrs = socket.inet_aton(src) + socket.inet_aton(dst)
    assert toeplitz(MICROSOFT_KEY, addrs) == h_ip
    assert toeplitz(MICROSOFT_KEY, addrs + struct.pack("!HH", sport, dport)) == h_tcp
    assert RssMap.default(MICROSOFT_KEY, 1).hash_of(src, dst, sport, dport) == h_tcp


@pytest.mark.parametrize("src,dst,sport,dport,h_tcp", IPV6_TCP)
def test_ipv6_vectors(src, dst, sport, dport, h_tcp):
    assert RssMap.default(MICROSOFT_KEY, 1).hash_of(src, dst, sport, dport) == h_tcp


def test_ipv6_address_only_vector():
    data = (socket.inet_pton(socket.AF_INET6, "3ffe:2501:200:1fff::7")
            + socket.inet_pton(socket.AF_INET6, "3ffe:2501:200:3::1"))
    assert toeplitz(MICROSOFT_KEY, data) == 0x2cc18cd5


def test_tables_agree_with_the_definition_for_another_key():
    key = bytes(range(7, 7 + 52))                 # a 52-byte key, as ice uses
    data = bytes(range(200, 236))
    for n in (1, 12, 36):
        assert toeplitz(key, data[:n]) == _bits_hash(key, data[:n])


def test_queue_is_the_indirection_entry_of_hash_mod_table():
    rss = RssMap(MICROSOFT_KEY, [3, 1, 0, 2] * 32)
    assert rss.queues == 4
    for src, dst, sport, dport, _, h in IPV4:
        assert rss.queue_of(src, dst, sport, dport) == rss.indir[h % 128]


def test_default_table_is_i_mod_queues():
    rss = RssMap.default(MICROSOFT_KEY, 3)
    assert rss.indir[:7] == [0, 1, 2, 0, 1, 2, 0] and len(rss.indir) == 128
    assert rss.queues == 3
    # 0x51ccc178 % 128 = 120 -> 120 % 3 = 0
    assert rss.queue_of("66.9.149.187", "161.142.100.80", 2794, 1766) == (0x51ccc178 % 128) % 3


def test_local_port_queue_matches_queue_of():
    rss = RssMap.default(MICROSOFT_KEY, 4)
    f = rss.local_port_queue("198.18.0.2", "198.18.0.1", 80)
    got = [f(p) for p in range(61000, 61200)]
    assert got == [rss.queue_of("198.18.0.2", "198.18.0.1", 80, p) for p in range(61000, 61200)]
    assert set(got) == {0, 1, 2, 3}


def test_parse_key_takes_ethtool_output_and_names_the_tunable():
    text = ":".join("%02x" % b for b in MICROSOFT_KEY)
    assert parse_key(text) == MICROSOFT_KEY
    assert parse_key(MICROSOFT_KEY.hex().upper()) == MICROSOFT_KEY
    with pytest.raises(ValueError, match="rss_key.*not hex"):
        parse_key("6d:5a:zz")
    with pytest.raises(ValueError, match="rss_key: 4 bytes"):
        parse_key("6d5a56da")


def test_bad_maps_are_refused():
    with pytest.raises(ValueError):
        RssMap(MICROSOFT_KEY, [])
    with pytest.raises(ValueError):
        RssMap.default(MICROSOFT_KEY, 0)
    with pytest.raises(ValueError, match="at least 16"):
        RssMap(b"\x01" * 8, [0])


def test_rss_key_tunable_parses_from_a_config_line():
    from xdpmtcp.api.config import ConfigError, parse_config
    from xdpmtcp.tunables import Tunables
    text = ":".join("%02x" % b for b in MICROSOFT_KEY)
    cfg = parse_config("port = eth1\nrss_key = %s\n" % text)
    assert parse_key(cfg.tunables().rss_key) == MICROSOFT_KEY
    assert Tunables().rss_key == ""
    with pytest.raises(ConfigError, match=r"<config>:2: rss_key = 6d:zz: bad value \(rss_key"):
        parse_config("port = eth1\nrss_key = 6d:zz\n")
    with pytest.raises(ValueError, match="rss_key"):
        Tunables(rss_key="12")


def test_read_rss_of_an_interface_without_rss_is_none():
    """lo has no RSS: None, not an error; a missing interface is ENODEV."""
    import errno
    from xdpmtcp.kernel.rss import read_rss, rss_map, rss_summary
    assert read_rss("lo") is None
    assert rss_summary("lo") == {"readable": False}
    with pytest.raises(OSError) as e:
        read_rss("nosuchif0")
    assert e.value.errno == errno.ENODEV
    # the tunable's key spreads over the interface's RX queues (lo: 1)
    m = rss_map("lo", MICROSOFT_KEY.hex())
    assert m.key == MICROSOFT_KEY and m.queues == 1


def test_status_rss_row():
    import types
    from rich.console import Console
    from xdpmtcp.commands.status import describe, note_served_queues, rss_text
    assert rss_text({"readable": False}) == "not readable (veth / driver): rss_key tunable sets it"
    row = rss_text({"readable": True, "hfunc": "toeplitz", "key": MICROSOFT_KEY.hex(),
                    "indir_size": 128, "queues": 4})
    assert row == ("toeplitz, key 6d5a56da255b0ec2.. (40 bytes), indirection table 128 entries "
                   "over 4 queue(s)")
    assert rss_text({"readable": False}, "6d:5a:56:da" + ":00" * 36).startswith(
        "key from the rss_key tunable, 6d5a56da00000000.. (40 bytes)")
    ch = dict(rx_queues=1, rx_count=1, tx_count=1, combined_count=0, max_rx=1, max_tx=1,
              max_combined=0)
    v = types.SimpleNamespace(address=types.SimpleNamespace(pid=1), meta={
        "role": "serve", "netns": "x", "interfaces": [
            {"ifname": "veth0", "queue": 0, "channels": ch, "rss": {"readable": False}}]})
    con = Console(width=200, record=True)
    con.print(describe(v))
    text = con.export_text()
    assert "RSS" in text and "rss_key tunable sets it" in text


def test_status_says_which_queues_are_served():
    """Two workers on queues 0 and 1 of a 2-queue veth: every queue served;
    one context alone: the others' frames go to the kernel."""
    import types
    from rich.console import Console
    from xdpmtcp.commands.status import describe, note_served_queues
    ch = dict(rx_queues=2, rx_count=2, tx_count=2, combined_count=0, max_rx=2, max_tx=2, max_combined=0)

    def view(pid, queue, netns="n1"):
        return types.SimpleNamespace(address=types.SimpleNamespace(pid=pid), meta={
            "role": "mtcp", "netns": netns, "interfaces": [{"ifname": "v0", "queue": queue, "channels": ch}]})

    def text(v):
        con = Console(width=300, record=True)
        con.print(describe(v))
        return con.export_text()
    pair = [view(1, 0), view(2, 1)]
    note_served_queues(pair)
    assert pair[0].meta["interfaces"][0]["served_queues"] == [0, 1]
    assert "every queue is served" in text(pair[1])
    alone = [view(1, 0), view(2, 1, netns="n2")]          # same name, another namespace
    note_served_queues(alone)
    assert "served: queue 0 only, the others' frames go to the kernel" in text(alone[0])
