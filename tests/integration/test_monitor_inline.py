"""The monitor live and inline in a client - monitor - server lab, kernel
TCP at both ends: the CLI as a bump in the wire (streams equal what the
kernels sent), the firewall sample (a denied SYN never arrives, an allowed
connection works), the NAT sample (the server sees the public address, the
transfer completes intact)."""
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xdpmtcp.lab.probes import SYSTEM_PYTHON, TRANSFER, tcp_transfer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def start_in_monitor(lab, argv):
    mon = lab.host("monitor")
    p = mon.popen([sys.executable] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  text=True, env=ENV)
    return p


def wait_ready(p, timeout=90):
    # generous: each XDP program is a BCC (clang) build, seconds each on a loaded machine
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    line = p.stdout.readline() if ready else ""
    assert line and json.loads(line).get("ready"), p.stderr.read() if p.poll() is not None else line


def finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def ifaces(lab):
    m = lab.host("monitor")
    return m.interfaces[0].ifname, m.interfaces[1].ifname      # client side, server side


@pytest.mark.parametrize("backend", ["xdp", "afpacket"])
def test_cli_inline_forwards_and_reassembles(inline_lab, tmp_path, backend):
    lab = inline_lab
    a, b = ifaces(lab)
    out_dir = tmp_path / "streams"
    p = start_in_monitor(lab, ["-m", "xdpmtcp", "monitor", "--iface", a, "--inline", b, "--json",
                               "--streams", str(out_dir), "--duration", "6",
                               "--backend", backend])
    wait_ready(p)
    t = tcp_transfer(lab.host("client"), lab.host("server"), 8_000_000, 2_000_000, timeout=60)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    assert t["client"]["received_sha256"] == t["server"]["sent_sha256"]
    lines = finish(p)
    conns = [l for l in lines if l["event"] == "conn"]
    assert len(conns) == 1
    c = conns[0]
    assert (c["orig_bytes"], c["resp_bytes"], c["conn_state"]) == (8_000_000, 2_000_000, "SF")
    assert c["id.orig_h"] == lab.client.ip and c["id.resp_p"] == 5001
    idx = json.load(open(out_dir / "index.json"))["flows"][0]
    import hashlib
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert sha(out_dir / idx["c2s"]["file"]) == t["client"]["sent_sha256"]
    assert sha(out_dir / idx["s2c"]["file"]) == t["server"]["sent_sha256"]
    summary = lines[-1]
    assert min(summary["input"]["forwarded"]) > 0
    if backend == "xdp":                  # inline: the XDP program hands every frame over
        st = summary["input"][a]
        assert st["xdp_redirected"] == st["xdp_seen"] > 0 and st["xdp_no_socket"] == 0


SYN_SENDER = r"""
import socket, struct, sys
src, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
tcp = struct.pack("!HHIIBBHHH", 40404, dport, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for _ in range(3):
    s.sendto(tcp, (dst, 0))
"""


def test_standalone_xdp_takes_only_what_the_filter_may_match(lab):
    """On a host interface the XDP program steals only frames that may
    match --filter (port offloaded to XDP); the host's other TCP goes on."""
    stack, peer = lab.host("stack"), lab.host("peer")
    p = peer.popen([sys.executable, "-m", "xdpmtcp", "monitor", "--iface", peer.ifname, "--json",
                    "--filter", "dst port 5555", "--duration", "5", "--idle-timeout", "60"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_ready(p)
    r = stack.run([SYSTEM_PYTHON, "-c", SYN_SENDER, stack.ip, peer.ip, "5555"])
    assert r.returncode == 0, r.stderr
    t = tcp_transfer(stack, peer, 1_000_000, 1000, port=5001, timeout=30)
    assert t["peer" if "peer" in t else "server"]["received_sha256"] == t["client"]["sent_sha256"]
    lines = finish(p)
    conns = [l for l in lines if l["event"] == "conn"]
    assert [(c["id.resp_p"], c["conn_state"]) for c in conns] == [(5555, "S0")]
    st = lines[-1]["input"][peer.ifname]
    assert st["xdp_filtered"] > 0 and st["xdp_redirected"] >= 3


def connect_outcome(client, ip, port, timeout=2.0):
    code = ("import socket,sys\ns=socket.socket();s.settimeout(%r)\n"
            "try:\n s.connect((%r,%d));print('connected')\n"
            "except socket.timeout:\n print('timeout')\n"
            "except ConnectionRefusedError:\n print('refused')\n" % (timeout, ip, port))
    r = client.run([SYSTEM_PYTHON, "-c", code], timeout=timeout + 10)
    return r.stdout.strip()


def test_firewall_sample_inline_drops_denied_syn_and_passes_allowed(inline_lab):
    lab = inline_lab
    a, b = ifaces(lab)
    p = start_in_monitor(lab, [str(ROOT / "examples" / "simple_firewall.py"), "--iface", a,
                               "--inline", b, "--rule", "DROP dst port 5022",
                               "--rule", "ACCEPT dst port 5001", "--duration", "8"])
    wait_ready(p)
    time.sleep(0.5)
    client, server = lab.host("client"), lab.host("server")
    # nothing listens on 5022: a SYN that got through would be refused at once
    assert connect_outcome(client, server.ip, 5022) == "timeout"
    assert connect_outcome(client, server.ip, 5023) == "refused"     # no rule: default accept
    t = tcp_transfer(client, server, 2_000_000, 500_000, timeout=30)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    decisions = [l for l in finish(p) if "action" in l]
    got = {(d["server"].rsplit(":", 1)[1], d["action"]) for d in decisions}
    assert got == {("5022", "DROP"), ("5023", "ACCEPT"), ("5001", "ACCEPT")}


PEER_SERVER = r"""
import hashlib, json, random, socket, sys
ip, port, nsend = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((ip, port)); l.listen(1); l.settimeout(30)
print(json.dumps({"ready": True}), flush=True)
s, peer = l.accept(); s.settimeout(30)
h = hashlib.sha256(); n = 0
while True:
    d = s.recv(65536)
    if not d: break
    h.update(d); n += len(d)
rng = random.Random(7); out = hashlib.sha256(); left = nsend
while left:
    d = rng.randbytes(min(65536, left)); s.sendall(d); out.update(d); left -= len(d)
s.close()
print(json.dumps({"peer": list(peer), "received": n, "received_sha256": h.hexdigest(),
                  "sent_sha256": out.hexdigest()}), flush=True)
"""


def test_nat_sample_inline_rewrites_and_transfers_complete(inline_lab):
    lab = inline_lab
    a, b = ifaces(lab)
    client, server = lab.host("client"), lab.host("server")
    public = "198.18.1.100"
    # the server reaches the public address through the monitor (towards the client's link)
    server.run(["ip", "neigh", "replace", public, "lladdr", client.mac, "dev", server.ifname,
                "nud", "permanent"], check=True)
    p = start_in_monitor(lab, [str(ROOT / "examples" / "nat.py"), "--iface", a, "--inline", b,
                               "--public", public, "--duration", "8"])
    wait_ready(p)
    time.sleep(0.5)
    srv = server.popen([SYSTEM_PYTHON, "-c", PEER_SERVER, server.ip, "5001", "300000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready(srv)
    cli = client.run([SYSTEM_PYTHON, "-c", TRANSFER, "client", server.ip, "5001", "1000000",
                      "1", "30"], timeout=60)
    assert cli.returncode == 0, cli.stderr
    c = json.loads(cli.stdout.strip().splitlines()[-1])
    out, err = srv.communicate(timeout=30)
    s = json.loads(out.strip().splitlines()[-1])
    assert s["peer"][0] == public and s["peer"][1] >= 20000            # the server saw the NAT
    assert s["received_sha256"] == c["sent_sha256"] and s["received"] == 1_000_000
    assert c["received_sha256"] == s["sent_sha256"] and c["received"] == 300_000
    stats = [l for l in finish(p) if "translated_in" in l][0]
    assert stats["translated_in"] > 0 and stats["exhausted"] == 0


EVENT_LOGGER = r"""
import json, sys
from xdpmtcp import mos_api as M
a, b, backend = sys.argv[1], sys.argv[2], sys.argv[3]
mctx = M.mtcp_create_context(0, port="%s %s" % (a, b), duration=6, backend=backend)
s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
M.mtcp_bind_monitor_filter(mctx, s, "tcp and dst port 5001")
log = []
names = {M.MOS_ON_CONN_START: "START", M.MOS_ON_TCP_STATE_CHANGE: "STATE",
         M.MOS_ON_CONN_END: "END"}
for hook, hname in ((M.MOS_HK_SND, "SND"), (M.MOS_HK_RCV, "RCV")):
    for ev in names:
        def cb(m, sock, side, e, arg, hname=hname):
            st = ""
            if e == M.MOS_ON_TCP_STATE_CHANGE:
                opt = M.MOS_TCP_STATE_CLI if side == 0 else M.MOS_TCP_STATE_SVR
                st = M.tcpstate(M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, opt)).name[4:]
            log.append([names[e], hname, side, st])
        M.mtcp_register_callback(mctx, s, ev, hook, cb)
print(json.dumps({"ready": True}), flush=True)
M.mtcp_app_join(mctx)
print(json.dumps({"log": log}), flush=True)
"""

EXPECTED_LIVE = [
    ["START", "SND", 0, ""], ["STATE", "SND", 0, "SYN_SENT"],
    ["START", "RCV", 1, ""], ["STATE", "RCV", 1, "SYN_RCVD"],
    ["STATE", "RCV", 0, "ESTABLISHED"], ["STATE", "RCV", 1, "ESTABLISHED"],
    ["STATE", "SND", 0, "FIN_WAIT_1"], ["STATE", "RCV", 1, "CLOSE_WAIT"],
    ["STATE", "RCV", 0, "FIN_WAIT_2"],
    ["STATE", "SND", 1, "LAST_ACK"], ["STATE", "RCV", 0, "TIME_WAIT"],
    ["STATE", "RCV", 1, "CLOSED"],
    ["END", "SND", 0, ""], ["END", "RCV", 1, ""]]


@pytest.mark.parametrize("backend", ["xdp", "afpacket"])
def test_events_in_documented_order_on_a_live_flow(inline_lab, backend):
    lab = inline_lab
    a, b = ifaces(lab)
    p = lab.host("monitor").popen([sys.executable, "-c", EVENT_LOGGER, a, b, backend],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=ENV)
    wait_ready(p)
    time.sleep(0.5)
    t = tcp_transfer(lab.host("client"), lab.host("server"), 300_000, 100_000, timeout=30)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    log = [l for l in finish(p) if "log" in l][0]["log"]
    assert log == EXPECTED_LIVE
