"""The control channel without the wire: a ControlServer over in-memory
engines, read by ControlClient from another thread while this thread runs
the loop (as a context does)."""
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from xdpmtcp.commands.trace import schema_markdown
from xdpmtcp.control import ControlClient, ControlError, FIELDS, FIELD_NAMES, paths, server as server_mod
from xdpmtcp.control.server import ControlServer
from xdpmtcp.tcp import TcpState
from xdpmtcp.tcp.loopback import ADDR_A, ADDR_B, EnginePair

DOCS = Path(__file__).resolve().parents[2] / "docs" / "trace.md"


@pytest.fixture
def ctl_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CTL_DIR", tmp_path / "ctl")
    return tmp_path / "ctl"


@pytest.fixture
def pair():
    with EnginePair() as p:
        yield p


def open_connections(p, n, port=7000):
    lst = p.a.listen(port)
    clients = [p.b.connect((ADDR_A, port)) for _ in range(n)]
    assert p.run_until(lambda: lst.pending() == n and all(c.state == TcpState.ESTABLISHED for c in clients), 5)
    return lst, [lst.accept() for _ in range(n)], clients


def serve_while(server, p, work, timeout=10):
    """Run work() in a thread while this thread services the server and
    polls the engines; returns what work returned (or raises its error)."""
    out = {}

    def body():
        try:
            out["value"] = work()
        except BaseException as e:      # handed to the test thread
            out["error"] = e
    t = threading.Thread(target=body)
    t.start()
    end = time.monotonic() + timeout
    while t.is_alive() and time.monotonic() < end:
        p.poll()
        server.service(time.monotonic_ns())
        time.sleep(0.001)
    t.join(1)
    assert not t.is_alive(), "the reader did not finish"
    if "error" in out:
        raise out["error"]
    return out["value"]


def make_server(p, **kw):
    return ControlServer(["memlink"], lambda: {"role": "test", "interfaces": [{"ifname": "a"}, {"ifname": "b"}]},
                         lambda: [p.a, p.b], **kw).open()


def test_snapshot_carries_every_connection_of_every_engine(ctl_dir, pair):
    _, accepted, clients = open_connections(pair, 3)
    clients[0].send(b"x" * 5000)
    assert pair.run_until(lambda: accepted[0].readable_bytes == 5000, 3)
    with make_server(pair) as srv:
        addr = paths.discover()[0]
        meta, rows = serve_while(srv, pair, lambda: ControlClient(addr).snapshot())
    assert meta["role"] == "test" and meta["ok"] and meta["version"] == 1
    assert len(rows) == 6                          # both ends of 3 connections
    by_side = {(r["engine"], r["local"], r["remote"]): r for r in rows}
    c0 = clients[0]
    sender = by_side[(1, "%s:%d" % c0.local, "%s:%d" % c0.remote)]
    receiver = by_side[(0, "%s:%d" % c0.remote, "%s:%d" % c0.local)]
    assert sender["state"] == receiver["state"] == "ESTAB"
    assert sender["bytes_acked"] == receiver["bytes_received"] == 5000
    assert receiver["recv_q"] == 5000 and receiver["accepted"]
    for r in rows:
        assert set(r) == set(FIELD_NAMES) | {"engine"}


def test_rows_leave_in_chunks_and_unaccepted_children_count(ctl_dir, pair, monkeypatch):
    monkeypatch.setattr(server_mod, "ROWS_PER_CHUNK", 1)
    lst = pair.a.listen(7001)
    clients = [pair.b.connect((ADDR_A, 7001)) for _ in range(4)]
    assert pair.run_until(lambda: lst.pending() == 4, 5)
    with make_server(pair) as srv:
        meta, rows = serve_while(srv, pair, lambda: ControlClient(paths.discover()[0]).snapshot())
    waiting = [r for r in rows if r["engine"] == 0]
    assert len(waiting) == 4 and not any(r["accepted"] for r in waiting)
    assert len([r for r in rows if r["engine"] == 1]) == 4


def test_status_without_rows_and_errors_are_answers(ctl_dir, pair):
    with make_server(pair) as srv:
        addr = paths.discover()[0]
        meta, rows = serve_while(srv, pair, lambda: ControlClient(addr).snapshot(rows=False))
        assert rows is None and meta["interfaces"][0]["ifname"] == "a"
        with pytest.raises(ControlError, match="unknown command"):
            serve_while(srv, pair, lambda: ControlClient(addr).request("reboot"))
        with pytest.raises(ControlError, match="cannot capture"):
            serve_while(srv, pair, lambda: ControlClient(addr).capture("/tmp/x.pcap"))

        def garbage():
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(addr.path))
                s.sendall(b"not json\n")
                return s.makefile().readline()
        assert "one JSON object" in json.loads(serve_while(srv, pair, garbage))["error"]


def test_readers_beyond_the_cap_are_told_busy(ctl_dir, pair, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_CLIENTS", 1)
    with make_server(pair) as srv:
        addr = paths.discover()[0]
        idle = socket.socket(socket.AF_UNIX)
        idle.connect(str(addr.path))               # holds the only place
        srv.service(time.monotonic_ns())
        with pytest.raises(ControlError, match="busy"):
            serve_while(srv, pair, lambda: ControlClient(addr).snapshot())
        assert srv.refused == 1
        idle.close()


def test_an_idle_reader_is_closed(ctl_dir, pair, monkeypatch):
    monkeypatch.setattr(server_mod, "IDLE_NS", 1_000_000)
    with make_server(pair) as srv:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(paths.discover()[0].path))
        srv.service(time.monotonic_ns())
        time.sleep(0.01)
        srv.service(time.monotonic_ns())
        s.settimeout(1)
        assert s.recv(10) == b""                   # closed by the server
        s.close()


def test_socket_is_private_and_removed_on_close(ctl_dir, pair):
    srv = make_server(pair)
    path = srv.path
    assert path.parent == ctl_dir and str(os.getpid()) in path.name
    assert (path.stat().st_mode & 0o777) == 0o600
    srv.close()
    assert not path.exists() and paths.discover() == []


def test_sockets_of_dead_processes_are_skipped_and_removed(ctl_dir):
    ctl_dir.mkdir()
    dead = ctl_dir / "netns-1.eth9.999999999.sock"
    dead.touch()
    (ctl_dir / "unrelated.txt").touch()
    assert paths.discover() == []
    assert not dead.exists() and (ctl_dir / "unrelated.txt").exists()


def test_the_documented_schema_is_the_one_printed():
    # docs/trace.md carries the table schema_markdown() makes, verbatim
    from xdpmtcp.control.monitor_rows import MONITOR_FIELDS
    assert schema_markdown() in DOCS.read_text()
    assert schema_markdown(MONITOR_FIELDS) in DOCS.read_text()
    assert len(FIELDS) == len(set(FIELD_NAMES))


def test_metric_families_are_counters_and_gauges_by_name():
    from xdpmtcp.control.metrics import families
    desc = {"role": "serve", "pid": 7, "netns_name": "ns1", "interfaces": [{
        "ifname": "eth1", "queue": 0, "xdp_mode": "native",
        "xdp": {"redirected": 5, "syn_answer_stopped": 0},
        "port": {"rx_frames": 9, "tx_in_flight": 2},
        "engine": {"fast_path": 4, "tcbs": 3},
        "python": {"slow_segments": 1},
        "listeners": [{"addr": "*", "port": 80, "backlog": 128, "pending": 2, "established": 6}]}]}
    fams = {f.name: f for f in families(desc)}
    assert fams["xdpmtcp_xdp_redirected"].type == "counter"
    assert fams["xdpmtcp_engine_tcbs"].type == "gauge"
    assert fams["xdpmtcp_port_tx_in_flight"].type == "gauge"
    assert fams["xdpmtcp_listener_accept_queue"].samples[0].labels == {"iface": "eth1", "addr": "*", "port": "80"}
    assert fams["xdpmtcp_listener_established"].samples[0].value == 6
    info = fams["xdpmtcp_context"].samples[0]
    assert info.labels["xdp_mode"] == "native" and info.labels["pid"] == "7"
    assert "xdpmtcp_listener_backlog" not in fams


def test_metrics_endpoint_flag_and_tunables():
    import argparse
    from xdpmtcp.api.config import ConfigError, parse_config
    from xdpmtcp.commands.common import metrics_endpoint
    assert metrics_endpoint("9464") == ("0.0.0.0", 9464)
    assert metrics_endpoint("127.0.0.1:9100") == ("127.0.0.1", 9100)
    for bad in ("0", "70000", "host:80", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            metrics_endpoint(bad)
    t = parse_config("port = eth1\nmetrics_port = 9464\nmetrics_addr = 127.0.0.1\n").tunables()
    assert (t.metrics_port, t.metrics_addr) == (9464, "127.0.0.1")
    for line, why in (("metrics_port = 70000", "0..65535"), ("metrics_addr = nowhere", "IPv4")):
        with pytest.raises(ConfigError, match="<config>:2: .*" + why):
            parse_config("port = eth1\n%s\n" % line)


def test_pcap_tap_writes_pcapng_with_directions(tmp_path):
    # a .pcapng path: our own reader takes it back, frame for frame
    from xdpmtcp.phy import PcapSource, PcapTap, Port
    from xdpmtcp.wire import TcpFlags, build_tcp_frame
    a, b = Port.memlink(depth=64)
    path = tmp_path / "tap.pcapng"
    a.add(PcapTap(str(path)))
    frames = [build_tcp_frame(b"\x02" * 6, b"\x04" * 6, "198.18.0.1", "198.18.0.2", 1000 + i, 80, i, 0,
                              TcpFlags.ACK, 1000, payload=b"x" * (i + 1)) for i in range(5)]
    a.tx(frames)
    from xdpmtcp.phy import Burst
    got = Burst(64)
    b.rx(got)
    b.tx(frames[:2])
    a.rx(Burst(64))
    a.close()
    src = PcapSource(str(path))
    assert src.format == "pcapng"
    back = [bytes(f.data) for burst in src.bursts() for f in burst]
    assert back == frames + frames[:2]


def test_the_text_table_keeps_its_columns_aligned():
    import io
    from xdpmtcp.commands.trace import TEXT_COLUMNS, _print_text
    rows = [{name: "v" * (i % 5 + 1) for i, name in enumerate(TEXT_COLUMNS)},
            {name: 123456789012 for name in TEXT_COLUMNS}]
    out = io.StringIO()
    _print_text([], rows, out)
    header, *lines = out.getvalue().splitlines()[1:]
    starts = [header.index(name.upper()) for name in TEXT_COLUMNS]
    for line in lines:        # every value starts under its heading
        for col, start in enumerate(starts):
            assert line[start] != " " and (start == 0 or line[start - 1] == " "), (col, line)
