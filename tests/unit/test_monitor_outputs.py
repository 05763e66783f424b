"""What the monitor writes: Community ID v1 (the spec's own vectors), the
stream files and index.json, the conn log lines, and the CLI around them."""
import json

import pytest

from montraffic import ACK, FIN, PSH, RST, SYN, Conv, write_pcap
from xdpmtcp.cli import main
from xdpmtcp.monitor import community_id_v1
from xdpmtcp.monitor.streams import StreamWriter

# corelight/community-id-spec baseline/baseline_deflt.json (seed 0)
SPEC_VECTORS = [
    ("128.232.110.120", "66.35.250.204", 34855, 80, 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ("66.35.250.204", "128.232.110.120", 80, 34855, 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ("192.168.1.52", "8.8.8.8", 54585, 53, 17, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    ("2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 6,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    ("10.1.12.1", "10.1.12.2", None, None, 46, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
]


@pytest.mark.parametrize("saddr,daddr,sport,dport,proto,want", SPEC_VECTORS)
def test_community_id_spec_vectors(saddr, daddr, sport, dport, proto, want):
    assert community_id_v1(saddr, daddr, sport, dport, proto=proto) == want


def test_community_id_rejects_mixed_families():
    with pytest.raises(ValueError):
        community_id_v1("10.0.0.1", "::1", 1, 2)


def _two_flows():
    a, b = Conv(cport=40001), Conv(cport=40002, ciss=99, siss=12345)
    frames = a.handshake() + b.handshake()
    frames += [a.c(ACK | PSH, b"GET / HTTP/1.0\r\n\r\n"), b.c(ACK | PSH, b"hello"),
               a.s(ACK | PSH, b"HTTP/1.0 200 OK\r\n\r\nbody"), b.s(RST | ACK)]
    frames += a.close()
    return frames


def test_streams_and_index(tmp_path, capsys):
    pcap = write_pcap(tmp_path / "t.pcap", _two_flows())
    out = tmp_path / "s"
    assert main(["monitor", "--pcap", str(pcap), "--streams", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 connections" in text and "1 fin, 1 rst" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000001.c2s", "000001.s2c", "000002.c2s", "000002.s2c", "index.json"]
    assert (out / "000001.c2s").read_bytes() == b"GET / HTTP/1.0\r\n\r\n"
    assert (out / "000001.s2c").read_bytes() == b"HTTP/1.0 200 OK\r\n\r\nbody"
    assert (out / "000002.c2s").read_bytes() == b"hello"
    assert (out / "000002.s2c").read_bytes() == b""
    idx = json.load(open(out / "index.json"))
    f1, f2 = sorted(idx["flows"], key=lambda f: f["uid"])
    assert f1["client"] == {"ip": "198.18.0.1", "port": 40001}
    assert f1["server"] == {"ip": "198.18.0.2", "port": 80}
    assert f1["community_id"] == community_id_v1("198.18.0.1", "198.18.0.2", 40001, 80)
    assert f1["state"] == {"client": "TCP_TIME_WAIT", "server": "TCP_CLOSED"}
    assert (f1["conn_state"], f1["end_reason"]) == ("SF", "fin")
    assert f1["c2s"]["bytes"] == 18 and f1["s2c"]["bytes"] == 23
    assert f1["c2s"]["gaps"] == [] and f1["c2s"]["gap_bytes"] == 0
    assert f2["state"] == {"client": "TCP_CLOSED", "server": "TCP_CLOSED"}
    assert (f2["conn_state"], f2["end_reason"]) == ("RSTR", "rst")
    assert idx["summary"]["connections"] == 2


def test_json_conn_lines(tmp_path, capsys):
    pcap = write_pcap(tmp_path / "t.pcap", _two_flows())
    assert main(["monitor", "--pcap", str(pcap), "--json"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    conns = [l for l in lines if l["event"] == "conn"]
    assert [l["event"] for l in lines] == ["conn", "conn", "summary"]
    rst = next(c for c in conns if c["conn_state"] == "RSTR")
    sf = next(c for c in conns if c["conn_state"] == "SF")
    assert sf["history"] == "ShADdFaf"
    assert (sf["orig_bytes"], sf["resp_bytes"], sf["missed_bytes"]) == (18, 23, 0)
    assert sf["id.orig_p"] == 40001 and sf["id.resp_p"] == 80 and sf["proto"] == "tcp"
    assert rst["history"] == "ShADr"
    assert lines[-1]["monitor"]["flows_created"] == 2
    assert lines[-1]["input"]["frames"] == len(_two_flows())


def test_cli_gaps_are_listed_not_padded(tmp_path, capsys):
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"A" * 10)]
    c.c(ACK | PSH, b"B" * 10)                                   # not in the capture
    frames += [c.c(ACK | PSH, b"C" * 10), c.s(ACK)] + c.close()
    pcap = write_pcap(tmp_path / "g.pcap", frames)
    out = tmp_path / "s"
    assert main(["monitor", "--pcap", str(pcap), "--streams", str(out), "--json"]) == 0
    assert (out / "000001.c2s").read_bytes() == b"A" * 10 + b"C" * 10
    idx = json.load(open(out / "index.json"))
    assert idx["flows"][0]["c2s"]["gaps"] == [[10, 10]]
    assert idx["flows"][0]["c2s"]["gap_bytes"] == 10
    conn = json.loads(capsys.readouterr().out.splitlines()[0])
    assert conn["missed_bytes"] == 10 and "G" in conn["history"]


def test_cli_refuses_what_is_not_there_yet(tmp_path, capsys):
    assert main(["monitor", "--pcap", "x.pcap", "--inline", "eth1"]) == 2
    assert main(["monitor", "--pcap", "x.pcap", "--filter", "udp port 53"]) == 2
    assert main(["monitor", "--iface", "nosuchif0"]) == 1
    assert main(["monitor", "--pcap", str(tmp_path / "missing.pcap")]) == 1
    assert "missing.pcap" in capsys.readouterr().err.replace("\n", "")


def test_stream_writer_caps_open_files(tmp_path):
    w = StreamWriter(tmp_path, max_open=3)
    for rnd in range(3):
        for i in range(10):
            w.write("%06d" % i, "c2s", b"%d," % rnd)
    for i in range(10):
        w.end_flow("%06d" % i, {"flow": "%06d" % i})
    w.close({"ok": True})
    assert w.reopened > 0
    assert all((tmp_path / ("%06d.c2s" % i)).read_bytes() == b"0,1,2," for i in range(10))
    idx = json.load(open(tmp_path / "index.json"))
    assert len(idx["flows"]) == 10 and idx["summary"] == {"ok": True}


def test_cli_filter_follows_only_matching_flows(tmp_path, capsys):
    pcap = write_pcap(tmp_path / "t.pcap", _two_flows())
    out = tmp_path / "s"
    assert main(["monitor", "--pcap", str(pcap), "--streams", str(out), "--json",
                 "--filter", "src port 40001 and dst port 80"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["id.orig_p"] for l in lines if l["event"] == "conn"] == [40001]
    assert lines[-1]["monitor"]["flows_filtered"] == 1 and lines[-1]["monitor"]["orphans"] == 0
    idx = json.load(open(out / "index.json"))
    assert [f["client"]["port"] for f in idx["flows"]] == [40001]
    assert not (out / "000002.c2s").exists()


def test_flow_filter_expressions():
    from xdpmtcp.monitor.filter import Filter, FilterError
    f = Filter("tcp and (dst port 80 or dst portrange 8000-8080) and not src net 10.0.0.0/8")
    assert f("192.0.2.1", 5000, "192.0.2.2", 80)
    assert f("192.0.2.1", 5000, "192.0.2.2", 8042)
    assert not f("10.1.2.3", 5000, "192.0.2.2", 80)
    assert not f("192.0.2.1", 5000, "192.0.2.2", 443)
    assert Filter("host 192.0.2.2")("192.0.2.2", 1, "1.1.1.1", 2)
    assert Filter("src or dst host 192.0.2.2")("1.1.1.1", 1, "192.0.2.2", 2)
    assert not Filter("src and dst net 192.0.2.0 mask 255.255.255.0")("192.0.2.9", 1, "1.1.1.1", 2)
    assert Filter("")("1.1.1.1", 1, "2.2.2.2", 2)
    assert Filter("udp port 53")("1.1.1.1", 5353, "8.8.8.8", 53, proto=17)
    # one grammar with xdpmtcp.filter: tcpdump refuses juxtaposition too
    for bad in ("not tcp", "udp", "port", "host 300.1.1.1", "(port 1", "port 1 )",
                "port 1 port 2", "tcp[tcpflags] & tcp-syn != 0", "less 100"):
        with pytest.raises(FilterError):
            Filter(bad, flow=True)
