"""`xdpmtcp trace`, `status` and capture on demand against a running
`xdpmtcp serve` in the lab, with the kernel as the peer: the JSON agrees
with the peer's `ss -ti`, the live view is read off a tmux screen, and a
capture opens in tshark."""
import json
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from xdpmtcp.control import FIELDS, paths
from xdpmtcp.lab.probes import SYSTEM_PYTHON
from xdpmtcp.lab.stackproc import ROOT, StackProcess

PORT = 8090
JSON_TYPES = {"int": int, "str": str, "bool": bool, "object": dict, "int|null": (int, type(None))}

# reads `limit` bytes, then stops reading and holds the connection: our
# side's window fills, and both ends' counters stand still
SLOW_READER = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
limit, got = int(sys.argv[3]), 0
while got < limit:
    got += len(s.recv(min(65536, limit - got)))
    time.sleep(0.005)
print("local", s.getsockname()[1], flush=True)
time.sleep(120)
"""


def xdpmtcp(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "xdpmtcp", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def source(lab):
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "source", "--bytes", 200_000_000) as srv:
        srv.wait_event("ready")
        reader = lab.peer.popen([SYSTEM_PYTHON, "-c", SLOW_READER, lab.stack.ip, str(PORT), "2000000"],
                                stdout=subprocess.PIPE, text=True)
        line = reader.stdout.readline().split()
        assert line and line[0] == "local", "the reader never got its bytes"
        yield srv, int(line[1])
        reader.kill()
        reader.wait()


def trace_rows(pid, peer_port):
    r = xdpmtcp("trace", "--once", "--json", "-p", pid)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return [row for row in rows if row["remote"].endswith(":%d" % peer_port)]


def peer_bytes_received(lab, port):
    out = lab.peer.run(["ss", "-tinH", "sport", "= :%d" % port]).stdout
    m = re.search(r"bytes_received:(\d+)", out)
    return int(m.group(1)) if m else None


def test_trace_json_follows_the_schema_and_agrees_with_the_peers_ss(lab, source):
    srv, peer_port = source
    for _ in range(20):                      # counters stand still once the window is full
        rows = trace_rows(srv.proc.pid, peer_port)
        assert len(rows) == 1, rows
        row = rows[0]
        if row["bytes_acked"] == peer_bytes_received(lab, peer_port):
            break
        time.sleep(0.5)
    assert row["bytes_acked"] == peer_bytes_received(lab, peer_port) >= 2_000_000
    for key, typ, _ in FIELDS:
        assert isinstance(row[key], JSON_TYPES[typ]), (key, row[key])
    assert row["state"] == "ESTAB" and row["local"] == "%s:%d" % (lab.stack.ip, PORT)
    assert row["pid"] == srv.proc.pid and row["iface"] == lab.stack.ifname
    assert row["send_q"] > 0 and row["snd_wnd"] < row["snd_mss"]   # the peer stopped reading
    assert row["rtt_us"] > 0 and "ts" in row["options"].split()


def test_status_names_the_context_its_mode_and_ports(lab, source):
    srv, _ = source
    r = xdpmtcp("status", "--json", "-p", srv.proc.pid)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout.splitlines()[0])
    itf = meta["interfaces"][0]
    assert meta["role"] == "serve" and meta["netns_name"] == lab.stack.ns
    assert itf["ifname"] == lab.stack.ifname and itf["queue"] == 0
    assert itf["channels"]["rx_queues"] == 1 and itf["channels"]["max_rx"] >= 1   # veth: ethtool -l
    assert itf["xdp_mode"] in ("native", "skb") and itf["xdp_prog_id"] > 0
    assert itf["owned_ports"] == [PORT] and itf["ephemeral_ports"] == [61000, 61999]
    assert itf["xdp"]["redirected"] >= itf["engine"]["fast_path"] > 0
    text = xdpmtcp("status", "-i", lab.stack.ifname)
    assert text.returncode == 0 and "XDP %s" % itf["xdp_mode"] in text.stdout
    assert re.search(r"owned ports\s+%d; ephemeral 61000-61999" % PORT, text.stdout), text.stdout
    assert re.search(r"channels\s+1 RX queue\(s\)", text.stdout), text.stdout


def test_live_view_in_tmux_shows_the_connection_details_and_quits(lab, source):
    srv, peer_port = source
    tmux = shutil.which("tmux")
    assert tmux, "tmux is installed by tools/setup"
    session = "xmtrace-%s" % uuid.uuid4().hex[:8]
    # env -u: tmux hands a server started under pytest COLUMNS=80, which rich obeys
    cmd = "cd %s && env -u COLUMNS -u LINES %s -m xdpmtcp trace -p %d; echo TRACE-EXIT=$?; sleep 60" % (
        ROOT, sys.executable, srv.proc.pid)
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "40", cmd], check=True)

    def screen():
        return subprocess.run([tmux, "capture-pane", "-p", "-t", session], capture_output=True,
                              text=True).stdout

    def wait_screen(pred, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = screen()
            if pred(s):
                return s
            time.sleep(0.3)
        return screen()
    try:
        remote = "%s:%d" % (lab.peer.ip, peer_port)
        s = wait_screen(lambda s: remote in s)
        row = [line for line in s.splitlines() if remote in line]
        assert row and "ESTAB" in row[0] and str(srv.proc.pid) in row[0], s
        assert "serve pid %d" % srv.proc.pid in s and "new -> ESTAB" in s
        subprocess.run([tmux, "send-keys", "-t", session, "Enter"], check=True)
        s = wait_screen(lambda s: "throughput" in s)
        assert "throughput" in s and "cwnd" in s and "bytes_acked" in s, s
        subprocess.run([tmux, "send-keys", "-t", session, "Escape"], check=True)
        s = wait_screen(lambda s: "RECV-Q" in s)
        assert "RECV-Q" in s
        subprocess.run([tmux, "send-keys", "-t", session, "q"], check=True)
        s = wait_screen(lambda s: "TRACE-EXIT=" in s)
        assert "TRACE-EXIT=0" in s, s
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)


def test_pcap_on_demand_opens_in_tshark(lab, tmp_path):
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "echo") as srv:
        srv.wait_event("ready")
        pcap = tmp_path / "on-demand.pcapng"
        cap = subprocess.Popen([sys.executable, "-m", "xdpmtcp", "trace", "-p", str(srv.proc.pid),
                                "--pcap", str(pcap), "--duration", "3"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        lab.peer.run([SYSTEM_PYTHON, "-c", r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"captured-on-demand"); s.shutdown(socket.SHUT_WR)
assert s.recv(100) == b"captured-on-demand"
""", lab.stack.ip, str(PORT)])
        _, err = cap.communicate(timeout=20)
        assert cap.returncode == 0, err
        assert "capturing to %s" % pcap in err and "stopped: %s" % pcap in err
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tcp.port == %d" % PORT, "-T", "fields",
                          "-e", "frame.packet_flags_direction", "-e", "tcp.flags.str", "-e", "tcp.payload"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [l.split("\t") for l in out.stdout.splitlines()]
    assert any("S" in flags for _, flags, _ in lines)                       # the handshake
    payload = b"captured-on-demand".hex()
    # pcapng with directions: the peer's bytes came in (1), ours went out (2)
    assert sorted(int(d, 0) for d, _, data in lines if payload in data) == [1, 2], lines


def test_control_socket_goes_with_the_process(lab):
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "echo") as srv:
        srv.wait_event("ready")
        pid = srv.proc.pid
        found = paths.discover(pid=pid)
        assert len(found) == 1 and found[0].iface == lab.stack.ifname
    assert not found[0].path.exists() and paths.discover(pid=pid) == []


def test_metrics_endpoint_serves_the_counters_status_shows(lab):
    from prometheus_client.parser import text_string_to_metric_families
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "echo", "--metrics", "127.0.0.1:9464") as srv:
        srv.wait_event("ready")
        lab.peer.run([SYSTEM_PYTHON, "-c", r"""
import socket, sys
for _ in range(3):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"m" * 1000); s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 1000:
        got += s.recv(2000)
    s.close()
""", lab.stack.ip, str(PORT)])
        time.sleep(2.5)                       # idle, and the exporter's copy refreshed (1 s)
        text = lab.stack.run(["curl", "-s", "http://127.0.0.1:9464/metrics"]).stdout
        status = json.loads(xdpmtcp("status", "--json", "-p", srv.proc.pid).stdout.splitlines()[0])
    itf = status["interfaces"][0]
    samples = {(s.name, s.labels.get("iface"), s.labels.get("port")): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    iface = lab.stack.ifname
    assert samples[("xdpmtcp_engine_fast_path_total", iface, None)] == itf["engine"]["fast_path"] > 0
    assert samples[("xdpmtcp_port_rx_frames_total", iface, None)] == itf["port"]["rx_frames"] > 0
    assert samples[("xdpmtcp_xdp_redirected_total", iface, None)] == itf["xdp"]["redirected"] > 0
    assert samples[("xdpmtcp_engine_tcbs", iface, None)] == itf["engine"]["tcbs"]
    assert samples[("xdpmtcp_listener_established_total", iface, str(PORT))] == 3
    info = [s for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name == "xdpmtcp_context_info"]
    assert info and info[0].labels["xdp_mode"] == itf["xdp_mode"] and info[0].labels["role"] == "serve"
    assert all(name.startswith("xdpmtcp_") for name, _, _ in samples)


HOLDING_SERVER = r"""
import socket, sys, time
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 5002)); ls.listen(1); print("up", flush=True)
s, _ = ls.accept(); got = 0
while got < 100000:
    got += len(s.recv(65536))
s.sendall(b"r" * 5000); time.sleep(60)
"""
HOLDING_CLIENT = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], 5002)); s.sendall(b"c" * 100000)
got = 0
while got < 5000:
    got += len(s.recv(65536))
print("done", flush=True); time.sleep(60)
"""


def test_live_monitor_flows_show_both_sides_in_trace(inline_lab):
    lab = inline_lab
    mon_host = lab.host("monitor")
    a, b = mon_host.interfaces[0].ifname, mon_host.interfaces[1].ifname
    mon = mon_host.popen([sys.executable, "-m", "xdpmtcp", "monitor", "--iface", a, "--inline", b, "--json",
                          "--duration", "40"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = []
    try:
        line = mon.stdout.readline()
        assert line and json.loads(line).get("ready"), mon.stderr.read()
        srv = lab.host("server").popen([SYSTEM_PYTHON, "-c", HOLDING_SERVER, lab.server.ip],
                                       stdout=subprocess.PIPE, text=True)
        procs.append(srv)
        assert srv.stdout.readline().strip() == "up"
        cli = lab.host("client").popen([SYSTEM_PYTHON, "-c", HOLDING_CLIENT, lab.server.ip],
                                       stdout=subprocess.PIPE, text=True)
        procs.append(cli)
        assert cli.stdout.readline().strip() == "done"
        r = xdpmtcp("trace", "--once", "--json", "-p", mon.pid)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(l) for l in r.stdout.splitlines()]
        flows = [x for x in rows if x.get("kind") == "monitor" and x["remote"] == "%s:5002" % lab.server.ip]
        assert len(flows) == 1, rows
        f = flows[0]
        assert f["state"] == "ESTAB/ESTAB" and f["local"].startswith(lab.client.ip + ":")
        assert (f["bytes_c2s"], f["bytes_s2c"]) == (100000, 5000)
        assert f["history"].startswith("ShAD") and "d" in f["history"]
        assert f["pid"] == mon.pid and f["iface"] == "%s,%s" % (a, b)
        st = json.loads(xdpmtcp("status", "--json", "-p", mon.pid).stdout.splitlines()[0])
        assert st["role"] == "monitor" and st["monitor"]["flows_created"] >= 1
    finally:
        for p in procs:
            p.kill()
        mon.kill()
        mon.wait()


def test_an_mtcp_program_is_seen_and_its_conf_turns_on_metrics(lab, tmp_path):
    from xdpmtcp.lab.exampleproc import ExampleProcess, write_conf
    site = tmp_path / "www"
    site.mkdir()
    (site / "index.html").write_bytes(b"<h1>traced</h1>\n")
    conf = write_conf(tmp_path / "mtcp.conf", lab.stack.ifname, metrics_port=9465, metrics_addr="127.0.0.1")
    p = ExampleProcess(lab.stack, "epserver.py", "-p", site, "-f", conf, "--port", 8091)
    try:
        p.wait_for("ready")
        got = lab.peer.run(["curl", "-s", "http://%s:8091/index.html" % lab.stack.ip]).stdout
        assert got == "<h1>traced</h1>\n"
        r = xdpmtcp("status", "--json", "-p", p.proc.pid)
        assert r.returncode == 0, r.stderr
        meta = json.loads(r.stdout.splitlines()[0])
        assert meta["role"] == "mtcp" and any("epserver.py" in a for a in meta["argv"])
        assert meta["interfaces"][0]["owned_ports"] == [8091]
        time.sleep(1.5)
        text = lab.stack.run(["curl", "-s", "http://127.0.0.1:9465/metrics"]).stdout
        assert 'xdpmtcp_listener_established_total{addr="*",iface="%s",port="8091"} 1.0' % lab.stack.ifname in text
    finally:
        p.stop()
    assert paths.discover(pid=p.proc.pid) == []
