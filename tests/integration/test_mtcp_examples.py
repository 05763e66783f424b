"""The example programs in a lab: epserver serving curl and wrk on the
kernel side (keep-alive and Connection: close), epwget fetching from nginx
and from Python's http.server, echo with a kernel client; each stops
cleanly on SIGTERM/SIGINT and leaves no XDP program behind."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.exampleproc import ExampleProcess, run_example, start_nginx, write_conf
from xdpmtcp.lab.fixtures import require
from xdpmtcp.xdp.attach import attached_program

from conftest import bpf_problem

PORT = 8080


@pytest.fixture
def conf(lab, tmp_path):
    require(bpf_problem() is None, bpf_problem() or "")
    return write_conf(tmp_path / "mtcp.conf", lab.stack.ifname, num_cores=1, tcp_timewait=0,
                      max_concurrency=4096)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(b"<h1>xdpmtcp epserver</h1>\n")
    (root / "big.bin").write_bytes(os.urandom(2_000_000))
    return root


def xdp_attached(lab):
    with lab.stack.enter():
        return attached_program(socket.if_nametoindex(lab.stack.ifname)).prog_id != 0


def epserver(lab, conf, site, *extra):
    p = ExampleProcess(lab.stack, "epserver.py", "-p", site, "-f", conf, "--port", PORT, *extra)
    p.wait_for("ready")
    return p


def wrk(lab, url, *args, seconds=3, connections=20):
    r = lab.peer.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, *args, url],
                     timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    errors = re.search(r"Socket errors:.*|Non-2xx.*", r.stdout)
    return float(m.group(1)), (errors.group(0) if errors else None), r.stdout


def test_epserver_serves_curl_keepalive_and_close(lab, conf, site, need_tool, tmp_path):
    need_tool("curl")
    url = "http://%s:%d/" % (lab.stack.ip, PORT)
    out = tmp_path / "got.bin"
    with epserver(lab, conf, site) as p:
        # keep-alive: two requests on one connection
        r = lab.peer.run(["curl", "-sS", "-o", str(out), "-o", "/dev/null", "-w",
                          "%{http_code} %{num_connects}\n", url + "big.bin", url], timeout=60)
        assert r.stdout.split() == ["200", "1", "200", "0"], r.stdout + r.stderr
        assert out.read_bytes() == (site / "big.bin").read_bytes()
        r = lab.peer.run(["curl", "-sS", "-i", "-H", "Connection: close", url], timeout=30)
        assert "Connection: close" in r.stdout and r.stdout.endswith("<h1>xdpmtcp epserver</h1>\n")
        r = lab.peer.run(["curl", "-sS", "-I", url + "index.html"], timeout=30)     # HEAD
        assert "Content-Length: 26" in r.stdout and "text/html" in r.stdout
        for path in ("nope", "../../etc/passwd"):                   # no way out of ROOT
            r = lab.peer.run(["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
                              url + path], timeout=30)
            assert r.stdout == "404", path
        r = lab.peer.run(["curl", "-sS", "--http1.0", "-o", "/dev/null", "-w", "%{http_code}", url],
                         timeout=30)
        assert r.stdout == "200"
        assert p.stop() == 0
    assert "requests" in p.output() and not xdp_attached(lab)


def test_epserver_under_wrk(lab, conf, site, need_tool):
    need_tool("wrk")
    url = "http://%s:%d/index.html" % (lab.stack.ip, PORT)
    with epserver(lab, conf, site) as p:
        keep, err_keep, _ = wrk(lab, url)
        close, err_close, _ = wrk(lab, url, "-H", "Connection: close")
        assert p.stop() == 0
    print("epserver: keep-alive %.0f req/s, Connection: close %.0f req/s" % (keep, close))
    assert err_keep is None and err_close is None, (err_keep, err_close)
    assert keep > 1000 and close > 300


def test_epserver_stops_on_sigint_and_reports_cores(lab, conf, site):
    p = epserver(lab, conf, site, "-N", "2")
    notes = p.output()
    assert "core 1:" in notes and "1 receive queue" in notes and "1 core(s)" in notes
    assert xdp_attached(lab)
    assert p.stop(signal.SIGINT) == 0
    assert "core 0:" in p.output() and not xdp_attached(lab)


def test_stat_print_prints_a_line_per_second(lab, site, tmp_path):
    require(bpf_problem() is None, bpf_problem() or "")
    conf = write_conf(tmp_path / "stat.conf", lab.stack.ifname, stat_print=lab.stack.ifname)
    with epserver(lab, conf, site) as p:
        line = p.wait_for("[CPU 0] %s" % lab.stack.ifname, timeout=5)
        assert "RX:" in line and "TX:" in line and "Gbps" in line


def nginx_site(lab, site, host="peer", port=8081):
    h = getattr(lab, host)
    return start_nginx(h, site, h.ip, port)


def test_epwget_fetches_from_nginx(lab, conf, site, need_tool):
    need_tool("nginx")
    nginx_site(lab, site)
    url = "http://%s:8081/index.html" % lab.peer.ip
    for extra in ([], ["--keep-alive"]):
        r = run_example(lab.stack, "epwget.py", url, 2000, "-c", 32, "-f", conf, "--json", *extra)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["completed"] == 2000 and res["errors"] == {} and res["status"] == {"200": 2000}, res
        assert res["connections"] == (32 if extra else 2000)
        lat = res["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        print("epwget %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms"
              % ("keep-alive" if extra else "per connection", res["requests_per_s"], lat["p50"], lat["p99"]))


def test_epwget_fetches_a_big_file_from_python_http_server(lab, conf, site):
    srv = lab.peer.popen(["/usr/bin/python3", "-m", "http.server", "-b", lab.peer.ip, "-d", str(site), "8082"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from xdpmtcp.lab.probes import connect_echo
    deadline = time.monotonic() + 10
    while not connect_echo(lab.peer, lab.peer.ip, 8082)["connected"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    r = run_example(lab.stack, "epwget.py", "http://%s:8082/big.bin" % lab.peer.ip, 20, "-c", 4,
                    "-f", conf, "--json")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["completed"] == 20 and res["errors"] == {}, res
    assert res["bytes"] > 20 * 2_000_000
    srv.terminate()


def test_epwget_reports_refused_connections(lab, conf):
    r = run_example(lab.stack, "epwget.py", "http://%s:9/" % lab.peer.ip, 5, "-c", 2, "-f", conf,
                    "--json", check=False)
    assert r.returncode == 2
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["completed"] == 0 and sum(res["errors"].values()) == 5
    assert any("refused" in k for k in res["errors"])


def test_echo_with_a_kernel_client(lab, conf):
    with ExampleProcess(lab.stack, "echo.py", "-f", conf, "--port", 7) as p:
        p.wait_for("ready")
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, 7, 5_000_000, seed=9)
        assert "error" not in res, res
        assert res["bytes_recv"] == 5_000_000 and res["sha256_recv"] == res["sha256_sent"]
        many = kernel_peers.many_clients(lab.peer, lab.stack.ip, 7, 200)
        assert many["ok"] == 200, many
        assert p.stop() == 0
    assert "201 connections" in p.output() and not xdp_attached(lab)


def test_epwget_stops_on_sigint_with_what_it_measured(lab, conf, site, need_tool):
    need_tool("nginx")
    nginx_site(lab, site)
    p = ExampleProcess(lab.stack, "epwget.py", "http://%s:8081/index.html" % lab.peer.ip, 10_000_000,
                       "-c", 8, "-f", conf, "--json", "--keep-alive")
    deadline = time.monotonic() + 20
    while not xdp_attached(lab):
        assert time.monotonic() < deadline, p.output()
        time.sleep(0.1)
    time.sleep(1.0)
    assert p.stop(signal.SIGINT) == 2                           # stopped before NREQ
    res = json.loads(p.out_lines[-1])
    assert res["completed"] > 100 and res["errors"].get("stopped", 0) <= 8
    assert not xdp_attached(lab)
