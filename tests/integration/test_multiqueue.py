"""One context per RX queue on a 2-queue veth whose peer spreads flows over
the queues as a NIC's RSS does (lab queues=2): epserver and epwget with two
worker processes against the kernel, both contexts carrying flows, none
lost; the supervisor's handling of a dying worker and of its own death."""
import json
import os
import re
import signal
import socket
import time

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.exampleproc import ExampleProcess, run_example, start_nginx, write_conf
from xdpmtcp.lab.fixtures import require
from xdpmtcp.lab.probes import connect_echo
from xdpmtcp.xdp.attach import attached_program

from conftest import bpf_problem

PORT = 8080
CONNECTIONS = 2000


@pytest.fixture
def mq_lab(lab_factory):
    require(bpf_problem() is None, bpf_problem() or "")
    return lab_factory(queues=2)


@pytest.fixture
def mq_conf(mq_lab, tmp_path):
    return write_conf(tmp_path / "mtcp.conf", mq_lab.stack.ifname, num_cores=2, tcp_timewait=0,
                      max_concurrency=4096, rss_key=mq_lab.rss_key)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(b"<h1>two cores</h1>\n" * 20)
    return root


def xdp_program(lab):
    with lab.stack.enter():
        return attached_program(socket.if_nametoindex(lab.stack.ifname)).prog_id


def start_epserver(lab, conf, site, *extra):
    p = ExampleProcess(lab.stack, "epserver.py", "-p", site, "-f", conf, "--port", PORT, *extra)
    line = p.wait_for("ready:")          # every core listens
    assert "2 core(s)" in line, line
    return p


def per_core_totals(output):
    """{core: connections} from epserver's closing lines."""
    return {int(c): int(n) for c, n in re.findall(r"core (\d+): (\d+) connections", output)}


def worker_pids(proc):
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        return [int(x) for x in f.read().split()]


def test_epserver_two_cores_serve_fresh_connections_from_the_kernel(mq_lab, mq_conf, site):
    p = start_epserver(mq_lab, mq_conf, site)
    res = kernel_peers.http_fetches(mq_lab.peer, mq_lab.stack.ip, PORT, "/index.html", CONNECTIONS,
                                    concurrency=32)
    assert p.stop(signal.SIGINT) == 0
    out = p.output()
    assert res["ok"] == CONNECTIONS and not res["errors"], res
    assert res["bodies"] == [len(b"<h1>two cores</h1>\n" * 20)]
    served = per_core_totals(out)
    # the peer's flows spread over both queues, and each queue's context took its own
    assert sorted(served) == [0, 1] and sum(served.values()) == CONNECTIONS, out
    assert min(served.values()) > CONNECTIONS // 4, served
    assert xdp_program(mq_lab) == 0, "XDP left attached"


def test_epwget_two_cores_fetch_from_kernel_nginx(mq_lab, mq_conf, site, need_tool):
    """Active opens: each context picks source ports whose RSS hash brings
    the replies to its own queue; one landing elsewhere would be reset."""
    need_tool("nginx")
    start_nginx(mq_lab.peer, site, mq_lab.peer.ip, 8081)
    url = "http://%s:8081/index.html" % mq_lab.peer.ip
    r = run_example(mq_lab.stack, "epwget.py", url, CONNECTIONS, "-c", 32, "-f", mq_conf, "-N", 2, "--json",
                    timeout=300)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["completed"] == CONNECTIONS and res["errors"] == {}, res
    assert res["status"] == {"200": CONNECTIONS} and res["connections"] == CONNECTIONS
    assert res["cores"] == 2 and all(c["completed"] == CONNECTIONS // 2 for c in res["per_core"]), res
    assert xdp_program(mq_lab) == 0


def test_a_dying_worker_stops_the_others_and_detaches(mq_lab, mq_conf, site):
    p = start_epserver(mq_lab, mq_conf, site)
    assert xdp_program(mq_lab) != 0
    workers = worker_pids(p.proc)
    assert len(workers) == 2
    os.kill(workers[1], signal.SIGKILL)
    assert p.proc.wait(timeout=20) == 1
    out = p.output()
    assert "core 1 was killed by SIGKILL: stopping the other workers" in out, out
    assert xdp_program(mq_lab) == 0
    for pid in workers:
        assert not os.path.exists("/proc/%d" % pid) or _zombie(pid)


def test_workers_follow_a_killed_supervisor_and_the_kernel_serves_again(mq_lab, mq_conf, site):
    """SIGKILL cannot be caught: the workers get SIGTERM from the kernel
    (PR_SET_PDEATHSIG) and close their sockets; the program left attached
    passes every frame to the kernel, which answers on the owned port."""
    p = start_epserver(mq_lab, mq_conf, site)
    workers = worker_pids(p.proc)
    p.proc.kill()
    p.proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(os.path.exists("/proc/%d" % w) and not _zombie(w) for w in workers):
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.1)
    probe = kernel_peers.start_script(mq_lab.stack, kernel_peers.ECHO_SERVER, mq_lab.stack.ip, PORT)
    try:
        for _ in range(8):           # flows on either queue reach the kernel's listener
            got = connect_echo(mq_lab.peer, mq_lab.stack.ip, PORT, "ping\n")
            assert got.get("reply") == "ping\n", got
    finally:
        probe.kill()


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


SERVER_ON_PEER = r"""
import json, socket, sys
l = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=256)
print(json.dumps({"ready": True}), flush=True)
while True:
    c, _ = l.accept()
    c.sendall(b"hi\n")
    c.close()
"""


def test_two_contexts_in_one_process_share_the_program_and_connect_on_their_queue(mq_lab, mq_conf):
    """Contexts for queues 0 and 1 in this process: one XDP program for
    both; each context's connects to the kernel get replies on its own
    queue (a reply on the other queue would meet a context that does not
    know the flow, which resets it)."""
    from xdpmtcp.api import runtime
    from xdpmtcp.kernel.rss import rss_map
    from xdpmtcp.mtcp_api import (AF_INET, SOCK_STREAM, mtcp_close, mtcp_connect, mtcp_create_context,
                                  mtcp_destroy, mtcp_destroy_context, mtcp_init, mtcp_read, mtcp_socket)
    server = kernel_peers.start_script(mq_lab.peer, SERVER_ON_PEER, mq_lab.peer.ip, 9000)
    mtcp_init(mq_conf)
    try:
        with mq_lab.stack.enter():
            ctxs = [mtcp_create_context(0), mtcp_create_context(1)]
            rss = rss_map(mq_lab.stack.ifname, runtime.current().config.tunables().rss_key)
        assert ctxs[0].netifs[0].program is ctxs[1].netifs[0].program
        prog = xdp_program(mq_lab)
        assert prog != 0
        for ctx in ctxs:
            for _ in range(40):
                fd = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
                ctx.table.get(fd).nonblocking = False
                mtcp_connect(ctx, fd, (mq_lab.peer.ip, 9000))
                conn = ctx.table.get(fd).conn
                lip, lport = conn.local
                assert rss.queue_of(mq_lab.peer.ip, lip, 9000, lport) == ctx.core
                assert mtcp_read(ctx, fd, 16) == b"hi\n"
                mtcp_close(ctx, fd)
        with mq_lab.stack.enter():
            mtcp_destroy_context(ctxs[0])
        assert xdp_program(mq_lab) == prog, "the other context still runs on it"
        with mq_lab.stack.enter():
            mtcp_destroy_context(ctxs[1])
        assert xdp_program(mq_lab) == 0
    finally:
        mtcp_destroy()
        server.kill()


def test_supervisor_runs_a_worker_per_queue_and_brings_back_big_results(mq_lab, mq_conf):
    """The library's supervisor directly: worker k gets the context of queue
    k; what it returns comes back whole even past a pipe's 64 KiB (the
    worker writes while the supervisor reads); on_ready fires once every
    worker said so."""
    from xdpmtcp.api import supervisor
    from xdpmtcp.mtcp_api import mtcp_destroy, mtcp_init
    mtcp_init(mq_conf)
    ready = []

    def work(ctx, stop):
        supervisor.worker_ready()
        time.sleep(0.3)
        return {"core": ctx.core, "queue": ctx.netifs[0].queue, "pid": os.getpid(), "blob": "x" * 300_000}
    try:
        with mq_lab.stack.enter():
            results = supervisor.Supervisor(2, on_ready=lambda: ready.append(xdp_program(mq_lab))).run(work)
    finally:
        mtcp_destroy()
    assert [(r["core"], r["queue"]) for r in results] == [(0, 0), (1, 1)]
    assert len({r["pid"] for r in results} | {os.getpid()}) == 3         # a process each
    assert all(len(r["blob"]) == 300_000 for r in results)
    assert len(ready) == 1 and ready[0] != 0                              # while XDP was attached
    assert xdp_program(mq_lab) == 0
