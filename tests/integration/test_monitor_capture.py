"""The monitor against the kernel and tshark: real kernel-to-kernel TCP
across the impairing bridge (loss, reordering, duplication), captured by
tcpdump, reassembled by ``xdpmtcp monitor --pcap --streams``, and compared
byte for byte per direction with ``tshark -z follow,tcp,raw`` of the same
capture and with what the kernel peers really sent.  Then frames are
deleted from the capture, and the gaps both tools report must agree."""
import hashlib
import json
import struct
import subprocess
import sys

import pytest

from xdpmtcp.lab.capture import capture_impaired_transfer, tshark_follow

pytestmark = pytest.mark.integration

FAULTS = "drop=0.02,reorder=0.02,duplicate=0.01,seed=5"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def monitor_cli(pcap, out_dir, *extra):
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "monitor", "--pcap", str(pcap),
                        "--streams", str(out_dir), "--json", *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    index = json.load(open(out_dir / "index.json"))
    return lines, index


def payload_frames(pcap_bytes):
    """(record start, record end, tcp payload length, sport) of every record
    of a classic little-endian Ethernet pcap (what tcpdump writes here)."""
    out, off = [], 24
    while off + 16 <= len(pcap_bytes):
        incl = struct.unpack_from("<I", pcap_bytes, off + 8)[0]
        fr = pcap_bytes[off + 16:off + 16 + incl]
        plen = sport = 0
        if len(fr) >= 54 and fr[12:14] == b"\x08\x00" and fr[23] == 6:
            ihl = (fr[14] & 15) * 4
            tot = struct.unpack_from("!H", fr, 16)[0]
            tcp = 14 + ihl
            sport = struct.unpack_from("!H", fr, tcp)[0]
            plen = tot - ihl - (fr[tcp + 12] >> 4) * 4
        out.append((off, off + 16 + incl, plen, sport))
        off += 16 + incl
    return out


def test_impaired_kernel_transfer_matches_tshark_byte_for_byte(inline_lab, tmp_path, need_tool):
    for tool in ("tcpdump", "tshark"):
        need_tool(tool)
    lab = inline_lab
    cap = capture_impaired_transfer(lab, 4_000_000, FAULTS, str(tmp_path / "imp.pcap"),
                                    reply_bytes=1_500_000)
    assert cap.capture_drops == 0
    assert cap.server_received_sha256 == cap.client_sent_sha256     # the kernels recovered
    assert cap.bridge["c2s"]["dropped"] > 0 and cap.bridge["s2c"]["dropped"] > 0
    assert cap.bridge["c2s"]["duplicated"] > 0 and cap.bridge["c2s"]["reordered"] > 0

    lines, index = monitor_cli(cap.pcap, tmp_path / "streams")
    follow = tshark_follow(cap.pcap, 0)
    assert follow.node0.startswith(lab.client.ip + ":")            # node0 = the client
    assert len(index["flows"]) == 1
    flow = index["flows"][0]
    c2s = (tmp_path / "streams" / flow["c2s"]["file"]).read_bytes()
    s2c = (tmp_path / "streams" / flow["s2c"]["file"]).read_bytes()
    assert c2s == follow.data0 and s2c == follow.data1              # byte for byte
    assert sha(c2s) == cap.client_sent_sha256 and sha(s2c) == cap.server_sent_sha256
    assert follow.gaps0 == follow.gaps1 == []
    assert flow["c2s"]["gaps"] == flow["s2c"]["gaps"] == []
    assert flow["client"]["ip"] == lab.client.ip and flow["server"]["port"] == 5001
    assert flow["state"] == {"client": "TCP_TIME_WAIT", "server": "TCP_CLOSED"} or \
        flow["state"] == {"client": "TCP_CLOSED", "server": "TCP_TIME_WAIT"}
    assert flow["conn_state"] == "SF" and flow["end_reason"] == "fin"
    # the capture is taken on the client: c2s as sent (the bridge drops after
    # it, so the client's retransmissions are in it), s2c as impaired
    assert flow["c2s"]["rexmit_pkts"] > 0
    conn = [l for l in lines if l["event"] == "conn"]
    assert len(conn) == 1 and conn[0]["orig_bytes"] == 4_000_000
    assert conn[0]["resp_bytes"] == 1_500_000 and conn[0]["missed_bytes"] == 0
    assert "T" in conn[0]["history"]
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["monitor"]["malformed"] == 0


def test_capture_gaps_are_reported_where_tshark_reports_them(inline_lab, tmp_path, need_tool):
    for tool in ("tcpdump", "tshark"):
        need_tool(tool)
    lab = inline_lab
    cap = capture_impaired_transfer(lab, 3_000_000, "drop=0.01,reorder=0.01,seed=9",
                                    str(tmp_path / "full.pcap"), reply_bytes=1_000_000)
    blob = open(cap.pcap, "rb").read()
    recs = payload_frames(blob)
    data_recs = [r for r in recs if r[2] > 0]
    # delete every 97th data frame of each direction: holes the capture lacks
    drop = set()
    for port_is_server in (False, True):
        side = [r for r in data_recs if (r[3] == 5001) == port_is_server]
        drop.update(r[0] for r in side[50::97])
    cut = tmp_path / "cut.pcap"
    with open(cut, "wb") as f:
        f.write(blob[:24])
        for start, end, _, _ in recs:
            if start not in drop:
                f.write(blob[start:end])

    lines, index = monitor_cli(cut, tmp_path / "streams")
    follow = tshark_follow(str(cut), 0)
    flow = index["flows"][0]
    c2s = (tmp_path / "streams" / flow["c2s"]["file"]).read_bytes()
    s2c = (tmp_path / "streams" / flow["s2c"]["file"]).read_bytes()
    assert follow.gaps0 and follow.gaps1                  # the deletions made holes
    assert [tuple(g) for g in flow["c2s"]["gaps"]] == follow.gaps0
    assert [tuple(g) for g in flow["s2c"]["gaps"]] == follow.gaps1
    assert c2s == follow.data0 and s2c == follow.data1
    missing = sum(n for _, n in follow.gaps0) + sum(n for _, n in follow.gaps1)
    assert flow["c2s"]["gap_bytes"] + flow["s2c"]["gap_bytes"] == missing
    assert len(c2s) + sum(n for _, n in follow.gaps0) == 3_000_000
    conn = [l for l in lines if l["event"] == "conn"][0]
    assert conn["missed_bytes"] == missing and "G" in conn["history"] and "g" in conn["history"]
    assert conn["conn_state"] == "SF"
