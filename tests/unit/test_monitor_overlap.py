"""Overlap policies through the whole monitor path: a crafted pcap whose
client sends overlapping segments with different bytes, read by
``xdpmtcp monitor --pcap --streams --overlap P``; the c2s stream (holes as
NULs, from index.json's gaps) must be the ring's expected buffer for that
policy.  The vectors are the ring's own (test_ring.py: Suricata's and
Snort's target-based cases)."""
import json

import pytest

from montraffic import ACK, PSH, Conv, Run, write_pcap
from test_ring import (AFTER, AFTER_STEPS, BEFORE, BEFORE_STEPS, BSD_EXTRA, MAIN, MAIN_STEPS,
                       SAME, SAME_STEPS)
from xdpmtcp.cli import main
from xdpmtcp.monitor.core import SVR, Ev

FAMILIES = {"main": (MAIN_STEPS, MAIN), "before": (BEFORE_STEPS, BEFORE),
            "same": (SAME_STEPS, SAME), "after": (AFTER_STEPS, AFTER)}
POLICIES = ["first", "last", "linux", "bsd", "windows"]


def frames_for(steps):
    c = Conv(ciss=7_000_000)
    frames = c.handshake()
    base = c.cnxt
    for rseq, data in steps:
        frames.append(c.c(ACK | PSH, data.encode(), seq=base + rseq - 1))
    return frames


def stream_from(dirpath, flow="000001", direction="c2s"):
    idx = json.load(open(dirpath / "index.json"))
    rec = next(f for f in idx["flows"] if f["flow"] == flow)
    data = (dirpath / ("%s.%s" % (flow, direction))).read_bytes()
    out, pos, off = [], 0, 0
    for goff, glen in sorted(rec[direction]["gaps"]):
        out.append(data[pos:pos + goff - off])
        pos += goff - off
        out.append(b"\0" * glen)
        off = goff + glen
    out.append(data[pos:])
    return b"".join(out), rec


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_overlap_vectors_through_the_cli(tmp_path, capsys, policy, family):
    steps, table = FAMILIES[family]
    pcap = write_pcap(tmp_path / "o.pcap", frames_for(steps))
    out = tmp_path / "streams"
    assert main(["monitor", "--pcap", str(pcap), "--streams", str(out), "--overlap", policy]) == 0
    got, rec = stream_from(out)
    assert got == table[policy][-1].encode()
    # every overlap with different bytes was reported (the same list for all policies)
    assert rec["c2s"]["overlap_anomalies"] == len(rec["c2s"]["overlaps"]) > 0


@pytest.mark.parametrize("policy", ["bsd", "windows"])
@pytest.mark.parametrize("case", range(len(BSD_EXTRA)))
def test_segment_starting_before_several_replaces_them(policy, case):
    steps = [(s, d) for s, d, _ in BSD_EXTRA[case]]
    r = Run(overlap=policy).feed(frames_for(steps)).flush()
    assert r.stream(1, SVR) == BSD_EXTRA[case][-1][2].encode()


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_set_per_flow_side(policy):
    """xc_mon_set_overlap changes one side of one flow."""
    from xdpmtcp._core import lib
    from xdpmtcp.storage.ring import POLICIES as P
    steps, table = FAMILIES["main"]
    frames = frames_for(steps)
    r = Run(overlap="first", drain=True)
    r.feed(frames[:3])                                   # the handshake: the flow exists
    assert lib.xc_mon_set_overlap(r.mon.raw, 1, SVR, P[policy]) == 0
    r.feed(frames[3:]).flush()
    assert r.stream(1, SVR) == table[policy][-1].encode()
    assert len(r.of(Ev.OVERLAP)) > 0
