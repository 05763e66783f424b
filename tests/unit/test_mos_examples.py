"""The mOS samples in examples/ on crafted captures (live inline labs come
with the inline input)."""
import io
import sys
from pathlib import Path

import pytest

from montraffic import ACK, PSH, RST, Conv, Run, write_pcap
from xdpmtcp._core import lib
from xdpmtcp.phy import PcapSource
from xdpmtcp.wire.frame import parse_tcp_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import midstat  # noqa: E402
import nat  # noqa: E402
import simple_firewall  # noqa: E402
from xdpmtcp import mos_api as M  # noqa: E402

S = 1_000_000_000


def flow(c, data=b"req", reply=b"resp"):
    return c.handshake() + [c.c(ACK | PSH, data), c.s(ACK | PSH, reply), c.c(ACK)] + c.close()


def frames_of(path):
    with PcapSource(str(path)) as src:
        return [fr.data for fr in src.frames()]


def test_midstat_prints_states_on_the_packet_clock(tmp_path):
    a, b = Conv(cport=5001), Conv(cport=5002)
    frames = a.handshake() + b.handshake() + [a.c(ACK | PSH, b"x")] + a.close()
    pcap = write_pcap(tmp_path / "m.pcap", frames, step_ns=S // 2)       # 0.5 s apart
    mctx = M.mtcp_create_context(0, pcap=str(pcap))
    out = io.StringIO()
    m = midstat.Midstat(mctx, 1.0, out)
    M.mtcp_app_join(mctx)
    text = out.getvalue()
    assert m.prints >= 3
    assert "198.18.0.1:5002" in text and "ESTABLISHED" in text
    tables = text.split("\n\n")
    assert any("198.18.0.1:5001" in t and "198.18.0.1:5002" in t for t in tables)
    assert "SYN_SENT" not in tables[0] or "ESTABLISHED" in text
    assert m.conns == {}                                           # all ended


def test_simple_firewall_drops_a_denied_syn_and_passes_an_allowed_flow(tmp_path):
    ssh, web = Conv(cport=6001, sport=22), Conv(cport=6002, sport=80)
    frames = flow(ssh) + flow(web)
    pcap = write_pcap(tmp_path / "in.pcap", frames)
    out = tmp_path / "out.pcap"
    rules = simple_firewall.parse_rules(["DROP dst port 22", "ACCEPT dst port 80"])
    mctx = M.mtcp_create_context(0, pcap=str(pcap), pcap_out=str(out))
    fw = simple_firewall.Firewall(mctx, rules)
    M.mtcp_app_join(mctx)
    assert [(d[1][1], d[2]) for d in fw.decisions] == [(22, "DROP"), (80, "ACCEPT")]
    got = frames_of(out)
    ports = {parse_tcp_frame(f).tcp.dst_port for f in got} | {parse_tcp_frame(f).tcp.src_port
                                                               for f in got}
    assert 22 not in ports                                         # the denied flow is gone
    assert got == frames[len(flow(Conv())):]                       # the allowed one untouched
    with pytest.raises(ValueError):
        simple_firewall.parse_rules(["REJECT port 1"])
    assert simple_firewall.main(["--pcap", str(pcap), "--out", str(tmp_path / "o2.pcap"),
                                 "--rule", "DROP dst port 80"]) == 0
    assert len(frames_of(tmp_path / "o2.pcap")) == len(flow(Conv()))   # only the ssh flow


def _to_public(frame, public, port):
    """An inside s2c frame as it arrives from outside: for public:port."""
    import ipaddress
    import struct
    f = bytearray(frame)
    f[30:34] = ipaddress.IPv4Address(public).packed
    struct.pack_into("!H", f, 36, port)
    buf = bytes(f)
    lib.xc_frame_fill_csum(buf, len(buf))
    return buf


def test_nat_rewrites_both_ways_and_the_flow_stays_one(tmp_path):
    a, b = Conv(cport=7001), Conv(cport=7002)
    frames = a.handshake() + b.handshake()                           # both open at once
    frames += [a.c(ACK | PSH, b"alpha" * 100), b.c(ACK | PSH, b"beta"), a.s(ACK | PSH, b"ALPHA"),
               b.s(ACK | PSH, b"BETA" * 50), a.c(ACK), b.c(ACK)] + a.close() + b.close()
    inside = frames
    # what the NAT box receives: client frames from inside, server frames from outside
    pport = {7001: 20000, 7002: 20001}                               # the pool hands out in order
    arriving = []
    for f in inside:
        t = parse_tcp_frame(f)
        if t.tcp.src_port == 80:
            arriving.append(_to_public(f, "198.19.0.1", pport[t.tcp.dst_port]))
        else:
            arriving.append(f)
    pcap = write_pcap(tmp_path / "in.pcap", arriving)
    out = tmp_path / "nat.pcap"
    assert nat.main(["--pcap", str(pcap), "--out", str(out), "--public", "198.19.0.1",
                     "--ports", "20000-20001"]) == 0
    got = frames_of(out)
    assert len(got) == len(inside)
    assert all(lib.xc_frame_verify(f, len(f)) == lib.XC_FRAME_OK for f in got)
    for orig, sent in zip(inside, got):
        t, u = parse_tcp_frame(orig), parse_tcp_frame(sent)
        if t.tcp.src_port == 80:
            assert sent == orig                                      # translated back exactly
        else:
            assert (str(u.ip.src), u.tcp.src_port) == ("198.19.0.1", pport[t.tcp.src_port])
            assert u.tcp.payload == t.tcp.payload


def test_midstat_ends_a_capture_with_a_final_table_and_how_each_flow_ended(tmp_path, capsys):
    a, b = Conv(cport=5001), Conv(cport=5002)
    frames = a.handshake() + b.handshake() + [a.c(ACK | PSH, b"x")] + a.close()
    pcap = write_pcap(tmp_path / "m.pcap", frames, step_ns=S // 2)
    assert midstat.main(["--pcap", str(pcap), "--interval", "10"]) == 0     # no tick: 3 s long
    out = capsys.readouterr().out
    assert out.startswith("At the end of the input:\n")
    rows = {l.split()[1]: l.split()[2:] for l in out.splitlines() if l.startswith("tcp ")}
    assert rows["198.18.0.1:5001"] == ["TIME_WAIT", "198.18.0.2:80", "CLOSED", "fin"]
    assert rows["198.18.0.1:5002"] == ["ESTABLISHED", "198.18.0.2:80", "ESTABLISHED", "end",
                                       "of", "input"]


def test_midstat_shows_an_ended_flow_once_with_how_it_ended(tmp_path):
    a = Conv(cport=5001)
    frames = a.handshake() + [a.c(ACK | PSH, b"x"), a.c(RST | ACK)]
    later = [Conv(cport=5009).c(ACK, seq=i) for i in range(6)]      # orphans: the clock goes on
    pcap = write_pcap(tmp_path / "e.pcap", frames + later, step_ns=S // 2)
    mctx = M.mtcp_create_context(0, pcap=str(pcap))
    out = io.StringIO()
    m = midstat.Midstat(mctx, 1.0, out)
    M.mtcp_app_join(mctx)
    tables = out.getvalue().split("\n\n")[:-1]
    conn = [t.splitlines()[1].split()[-1] if len(t.splitlines()) > 1 else None for t in tables]
    assert len(conn) >= 3 and conn[-1] == "rst" and set(conn[:-1]) == {"open"}
    assert m.conns == {} and m.ended == []                         # shown once, then gone


def test_samples_say_in_one_line_that_an_input_is_no_capture(tmp_path, capsys):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all, not even close")
    for main, extra in ((midstat.main, []), (nat.main, ["--public", "198.19.0.1"]),
                        (simple_firewall.main, ["--rule", "DROP port 22"])):
        with pytest.raises(SystemExit) as e:
            main(["--pcap", str(bad)] + extra)
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err


@pytest.mark.parametrize("rule, says", [
    ("DROP dst prot 22", "--rule 2 'DROP dst prot 22': at column 5 of the expression: expected "
                         "host, net, port or portrange after 'dst'"),
    ("REJECT port 1", "--rule 2 'REJECT port 1': the action must be DROP or ACCEPT"),
    ("DROP udp port 53", "--rule 2 'DROP udp port 53': udp is not a rule for a TCP flow"),
    ("DROP less 100", "--rule 2 'DROP less 100': lengths and TCP flags are per packet"),
    ("ACCEPT", "--rule 2 'ACCEPT': no expression after ACCEPT (for every connection: "
               "'ACCEPT tcp')"),
])
def test_simple_firewall_rejects_a_bad_rule_in_one_line(tmp_path, capsys, rule, says):
    pcap = write_pcap(tmp_path / "in.pcap", flow(Conv()))
    with pytest.raises(SystemExit) as e:
        simple_firewall.main(["--pcap", str(pcap), "--rule", "ACCEPT port 80", "--rule", rule])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


def test_simple_firewall_names_the_line_of_a_rules_file(tmp_path, capsys):
    rules = tmp_path / "rules.txt"
    rules.write_text("DROP port 22\n# a comment\n\nDROP src hst 198.18.0.1\n")
    with pytest.raises(SystemExit):
        simple_firewall.main(["--pcap", str(write_pcap(tmp_path / "i.pcap", flow(Conv()))),
                              "--rules", str(rules)])
    err = capsys.readouterr().err
    assert "%s:4 'DROP src hst 198.18.0.1': at column 5" % rules in err and err.count("\n") == 1


def _arp_request(sender_mac, sender_ip, target_ip):
    import ipaddress
    import struct
    return (b"\xff" * 6 + sender_mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) +
            sender_mac + ipaddress.IPv4Address(sender_ip).packed + bytes(6) +
            ipaddress.IPv4Address(target_ip).packed + bytes(18))


def test_nat_says_which_neighbour_entry_the_outside_needs(tmp_path, capsys):
    c = Conv(cport=7001)
    server_mac = bytes.fromhex("020000000002")
    ask = _arp_request(server_mac, "198.18.0.2", "198.19.0.1")
    frames = c.handshake()[:1] + [ask, ask, _arp_request(server_mac, "198.18.0.2", "198.18.0.9")]
    pcap = write_pcap(tmp_path / "a.pcap", frames)
    assert nat.main(["--pcap", str(pcap), "--out", str(tmp_path / "o.pcap"),
                     "--public", "198.19.0.1"]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1, err                       # once per asker
    assert ("198.18.0.2 asks who has 198.19.0.1 (ARP) and nothing on this wire answers for the "
            "public address: on 198.18.0.2 run 'ip neigh replace 198.19.0.1 lladdr "
            "02:00:00:00:00:01 dev ITS-IF nud permanent'") in err
    assert '"arp_unanswered": 2' in out.splitlines()[-1]
    assert len(frames_of(tmp_path / "o.pcap")) == len(frames)        # ARP goes through
