"""External probes against `xdpmtcp serve`: nmap scan types, OS and
version detection from the peer, with a kernel server on another port of
the same address as the reference; and scapy-made segments no kernel
client sends (malformed options, overlaps, sequence wraparound, a zero
window held, a shrinking window).  The stack never crashes, keeps
serving, answers like Linux where nmap can tell, and every byte stream
arrives intact (sha256).  FIN/NULL/Xmas scans are in test_tcp_hardening.py."""
import json
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest
from conftest import bpf_problem

from xdpmtcp.lab import floods
from xdpmtcp.lab.fixtures import require
from xdpmtcp.lab.probes import SYSTEM_PYTHON
from xdpmtcp.lab.stackproc import ROOT, StackProcess
from xdpmtcp.lab.topology import host_address

PORT = 8080            # xdpmtcp serve
KERNEL_PORT = 8081     # the kernel's HTTP server, same namespace and address
CLOSED_PORT = 8083     # nobody listens: the stack's kernel answers
SCAPY_HOST = 9         # the scapy peer's address: owned by no kernel in the lab
SOURCE_BYTES = 200000


@pytest.fixture
def site():
    return floods.write_site(tempfile.mkdtemp(prefix="xm-probes-"))


@pytest.fixture
def servers(lab, site, need_tool):
    """serve --mode http on PORT and the kernel's HTTP server on KERNEL_PORT."""
    need_tool("nmap")
    require(bpf_problem() is None, bpf_problem() or "")
    kernel = floods.start_kernel_http(lab.stack, site, KERNEL_PORT)
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "http", "--root", site) as sp:
        sp.wait_event("ready")
        yield sp
    kernel.kill()
    kernel.wait()


def nmap_xml(lab, *args, timeout=180):
    r = lab.peer.run(["nmap", "-n", "-Pn", "-oX", "-", *args, lab.stack.ip], timeout=timeout, check=False)
    assert r.returncode == 0, r.stderr
    return ET.fromstring(r.stdout)


def port_states(root):
    """{port: (state, service name)}; nmap folds ports of one state into
    <extraports> when there are many, never for the three we scan."""
    return {int(p.get("portid")): (p.find("state").get("state"),
                                   (p.find("service").get("name") if p.find("service") is not None else ""))
            for p in root.iter("port")}


def still_serves(lab, sp):
    assert sp.proc.poll() is None, sp.output()
    r = lab.peer.run(["curl", "-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                      "http://%s:%d/%s" % (lab.stack.ip, PORT, floods.PAGE)], check=False)
    assert r.stdout == "200 %d" % len(floods.BODY), (r.stdout, r.stderr)
    assert sp.stop() == 0, sp.output()


# Linux: SYN/connect scans see open/closed; ACK sees every port unfiltered;
# window and Maimon scans read RSTs with window 0 (closed).
@pytest.mark.parametrize("scan", ["-sS", "-sT", "-sA", "-sW", "-sM"])
def test_nmap_scan_sees_the_stack_port_as_the_kernel_port(lab, servers, scan):
    states = port_states(nmap_xml(lab, scan, "--max-retries", "2",
                                  "-p", "%d,%d,%d" % (PORT, KERNEL_PORT, CLOSED_PORT)))
    assert states[PORT][0] == states[KERNEL_PORT][0], states
    if scan in ("-sS", "-sT"):
        assert states[PORT][0] == "open" and states[CLOSED_PORT][0] == "closed", states
    still_serves(lab, servers)


def test_nmap_version_scan_finds_the_port_open_and_leaves_serve_running(lab, servers):
    """-sV connects again and again with probes of other protocols (NULL,
    GenericLines, RTSP, ...).  nmap names the kernel's port http from its
    Server header; serve's replies carry none, so its name is a guess."""
    states = port_states(nmap_xml(lab, "-sV", "--version-light", "-p", "%d,%d" % (PORT, KERNEL_PORT),
                                  timeout=300))
    assert states[PORT][0] == "open" and states[KERNEL_PORT] == ("open", "http"), states
    still_serves(lab, servers)


def os_fingerprint(root):
    """nmap's TCP/IP fingerprint as {test: {field: value}}."""
    text = "".join(e.get("fingerprint", "") for e in root.iter("osfingerprint"))
    tests = {}
    for part in text.replace("\nOS:", "").replace("OS:", "").split(")"):
        if "(" in part:
            name, fields = part.strip().split("(", 1)
            tests[name] = dict(f.split("=", 1) if "=" in f else (f, "") for f in fields.split("%") if f)
    return tests


def test_nmap_os_detection_sees_linux_answers(lab, servers):
    """nmap -O with the stack's port, then with the kernel's, as the open
    port (the same closed port both times).  The probes T2-T7 (odd flags,
    to open and closed ports) and T1 must draw what Linux answers; the SYN
    options, windows and ECN are the stack's own and only printed."""
    ours = os_fingerprint(nmap_xml(lab, "-O", "-p", "%d,%d" % (PORT, CLOSED_PORT), timeout=300))
    linux = os_fingerprint(nmap_xml(lab, "-O", "-p", "%d,%d" % (KERNEL_PORT, CLOSED_PORT), timeout=300))
    assert ours and linux, (ours, linux)
    for test in ("T2", "T3", "T4", "T5", "T6", "T7"):
        assert ours.get(test) == linux.get(test), (test, ours.get(test), linux.get(test))
    for field in ("R", "DF", "T", "S", "A", "F", "RD"):
        assert ours["T1"].get(field) == linux["T1"].get(field), (field, ours["T1"], linux["T1"])
    for field in ("TI", "II"):     # IP ID sequences (TI: the open port's SYN-ACKs)
        assert ours["SEQ"].get(field) == linux["SEQ"].get(field), (ours["SEQ"], linux["SEQ"])
    print("stack OPS %s WIN %s ECN %s" % (ours.get("OPS"), ours.get("WIN"), ours.get("ECN")))
    print("linux OPS %s WIN %s ECN %s" % (linux.get("OPS"), linux.get("WIN"), linux.get("ECN")))
    still_serves(lab, servers)


# ---- scapy: segments no kernel client sends -----------------------------------------------

@pytest.fixture
def scapy_peer(lab):
    """Run a scenario of xdpmtcp.lab.scapy_peer in the peer namespace, from an
    address no kernel owns: the stack reaches it through a static
    neighbour entry, and the peer's kernel, not owning it, stays silent."""
    try:
        import scapy  # noqa: F401
    except ImportError:
        require(False, "scapy is not installed (pip install -e .[test])")
    require(bpf_problem() is None, bpf_problem() or "")
    ip = host_address(lab.subnet, SCAPY_HOST)[0]
    lab.stack.run(["ip", "neigh", "replace", ip, "lladdr", lab.peer.mac, "dev", lab.stack.ifname,
                   "nud", "permanent"])

    def run(scenario, port=PORT, timeout=120):
        import sys
        r = lab.peer.run([sys.executable, "-m", "xdpmtcp.lab.scapy_peer", scenario, lab.peer.ifname,
                          lab.peer.mac, lab.stack.mac, ip, lab.stack.ip, str(port)],
                         timeout=timeout, check=False, cwd=ROOT)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])
    return run


def serve_events(sp):
    """Stop serve (it must exit 0) and return its conn events by remote port
    and its final engine event."""
    assert sp.proc.poll() is None, sp.output()
    assert sp.stop() == 0, sp.output()
    conns, engine = {}, None
    for line in sp.lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "conn":
            conns[int(ev["remote"].rsplit(":", 1)[1])] = ev
        elif ev.get("event") == "engine":
            engine = ev
    assert engine is not None, sp.output()
    return conns, engine


def against(sp, run):
    """run() (scapy scenarios) against a started serve, then stop it:
    (what run returned, serve's conn events by remote port, its engine event)."""
    try:
        res = run()
        conns, engine = serve_events(sp)
    finally:
        sp.stop()
    return res, conns, engine


def sink(lab):
    sp = StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "sink")
    sp.wait_event("ready")
    return sp


@pytest.mark.parametrize("scenario", ["overlap", "wraparound"])
def test_overlapping_and_wrapping_segments_arrive_intact(lab, scapy_peer, scenario):
    """Out-of-order, overlapping, duplicate and contained segments; with
    "wraparound" the sequence numbers also cross 2^32 mid-stream."""
    res, conns, engine = against(sink(lab), lambda: scapy_peer(scenario))
    assert res["connected"] and res["closed"] and not res["rst"], res
    if scenario == "wraparound":
        assert res["isn"] + res["bytes"] > 1 << 32, res
    got = conns[res["sport"]]
    assert (got["bytes_in"], got["sha256_in"], got["error"]) == (res["bytes"], res["sha256"], None), got
    assert engine["c"]["rst_sent"] == 0, engine["c"]


def test_malformed_options_are_dropped_counted_and_streams_stay_intact(lab, scapy_peer):
    """RFC 9293 MUST-7: a TCP must be prepared for an illegal option length.
    The stack drops such a segment and counts it (c.malformed), SYN or data;
    a well-formed retransmission of the same bytes is then taken, so every
    stream arrives intact.  Linux parses up to the bad option and goes on:
    the kernel port's answers to the same SYNs are printed for reference."""
    kernel = floods.start_kernel_http(lab.stack, tempfile.mkdtemp(prefix="xm-probes-"), KERNEL_PORT)
    try:
        (res, linux), conns, engine = against(sink(lab), lambda: (
            scapy_peer("malformed_options"), scapy_peer("malformed_syn", port=KERNEL_PORT)))
    finally:
        kernel.kill()
        kernel.wait()
    print("stack:", res["syn"], res["data"])
    print("linux:", linux["syn"])
    cases = len(res["syn"])
    assert set(res["syn"].values()) <= {"dropped", "synack"}, res["syn"]
    assert set(res["data"].values()) <= {"dropped", "accepted"}, res["data"]
    dropped = sum(v == "dropped" for v in res["syn"].values()) + sum(v == "dropped" for v in res["data"].values())
    malformed = engine["c"]["malformed"] + engine["py"]["malformed"] + engine["port"]["rx_malformed"]
    assert malformed >= dropped, (dropped, engine["c"], engine["py"], engine["port"])
    assert len(res["conns"]) == cases, res
    for c in res["conns"]:
        assert c["closed"], c
        got = conns[c["sport"]]
        assert (got["bytes_in"], got["sha256_in"], got["error"]) == (c["bytes"], c["sha256"], None), got
    assert engine["c"]["rst_sent"] == 0 and engine["app_failures"] == 0, engine


def source(lab):
    sp = StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "source", "--bytes", SOURCE_BYTES)
    sp.wait_event("ready")
    return sp


def test_zero_window_held_for_5s_then_opened(lab, scapy_peer):
    """RFC 9293 3.8.6.1: with the peer's window closed the sender probes
    (one byte of new data), never sends past what was offered, and resumes
    when the window opens; the stream arrives whole."""
    res, conns, _ = against(source(lab), lambda: scapy_peer("zero_window"))
    assert res["connected"] and res["fin"] and res["closed"] and not res["rst"], res
    assert res["probes"] >= 2, res             # RTO-backed persist timer: several in 5 s
    assert res["beyond_offered_bytes"] == 0, res
    got = conns[res["sport"]]
    assert (res["bytes"], res["sha256"]) == (SOURCE_BYTES, got["sha256_out"]), (res, got)


def test_window_shrink_is_survived_without_losing_bytes(lab, scapy_peer):
    """RFC 9293 3.8.6.2.1: the receiver cuts its right edge back; the sender
    must be robust against it.  Bytes sent past the new edge are dropped by
    the peer and must be sent again; nothing goes past the edge once offered."""
    res, conns, _ = against(source(lab), lambda: scapy_peer("window_shrink"))
    assert res["connected"] and res["fin"] and res["closed"] and not res["rst"], res
    assert res["beyond_offered_bytes"] == 0, res
    got = conns[res["sport"]]
    assert (res["bytes"], res["sha256"]) == (SOURCE_BYTES, got["sha256_out"]), (res, got)
