"""xdpmtcp on a real NIC driver: virtio-net in the test VM, the XDP program
in the driver (native mode), the host's kernel as peer across a tap.

Each test asserts on what crossed the wire (what the host's curl, ping
and nc got) or on the counters the stack publishes (`xdpmtcp status`).
"""
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from xdpmtcp.lab.exampleproc import ExampleProcess, run_example, write_conf
from xdpmtcp.lab.stackproc import StackProcess

IFNAME = os.environ.get("XDPMTCP_VM_IF", "")          # one queue pair: the stack serves all of it
MQ_IFNAME = os.environ.get("XDPMTCP_VM_MQ_IF", "")    # QUEUES queue pairs
QUEUES = int(os.environ.get("XDPMTCP_VM_QUEUES", "1"))
PORT = 8080
PAGE = b"<h1>xdpmtcp on virtio-net</h1>\n"
PAGE2 = b"<h1>the second page</h1>\n"
# BCC compiles the XDP program at each start: under TCG that takes a while
START_TIMEOUT = 240


def xdpmtcp(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def status_json(port, ifname=IFNAME):
    """The one running context that owns port (xdpmtcp status --json)."""
    r = xdpmtcp("status", "--json", "-i", ifname)
    views = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    mine = [v for v in views if any(port in i.get("owned_ports", []) for i in v.get("interfaces", []))]
    assert len(mine) == 1, r.stdout
    return mine[0]["interfaces"][0]


def link_xdp(ifname=IFNAME):
    """What `ip -d link` says runs on the NIC: 'xdp' (native), 'xdpgeneric', or None."""
    out = subprocess.run(["ip", "-d", "link", "show", ifname], capture_output=True, text=True).stdout
    m = re.search(r"prog/(xdp\w*) id \d+", out)
    return m.group(1) if m else None


def diagnosis():
    """What the NIC and the stack counted, for a failure's message."""
    out = {"status": subprocess.run([sys.executable, "-m", "xdpmtcp", "status", "--json", "-i", IFNAME],
                                    capture_output=True, text=True).stdout}
    stats = subprocess.run(["ethtool", "-S", IFNAME], capture_output=True, text=True).stdout
    out["ethtool -S"] = " ".join(line.strip() for line in stats.splitlines()
                                 if re.search(r"(packets|drops|xdp_\w+): [1-9]", line))
    out["nstat"] = subprocess.run(["ip", "-s", "link", "show", IFNAME], capture_output=True, text=True).stdout
    return out


def channels(ifname=IFNAME):
    out = subprocess.run(["ethtool", "-l", ifname], capture_output=True, text=True, check=True).stdout
    combined = re.findall(r"^Combined:\s+(\d+)", out, re.M)
    return int(combined[0]), int(combined[1])          # (max, current)


def keep_alive_fetch(hostpeer, base, paths):
    """The host's curl GETs paths one after another on one connection:
    each transfer's status, connects and size, then the bodies."""
    outs = ["-o", "/dev/null"] * len(paths)
    r = hostpeer.run("curl", "-sS", "--max-time", "60", "-w", "%{http_code} %{num_connects} %{exitcode}\\n",
                     *outs, *[base + p for p in paths], timeout=90)
    want = ["200 1 0"] + ["200 0 0"] * (len(paths) - 1)      # one connect, then reused
    assert r["stdout"].splitlines() == want, (r, diagnosis())
    bodies = b""
    for p in paths:
        r = hostpeer.run("curl", "-sS", "--max-time", "30", base + p, timeout=60)
        assert r["rc"] == 0, r
        bodies += r["stdout"].encode()
    return bodies


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(PAGE)
    (root / "two.html").write_bytes(PAGE2)
    return root


@pytest.fixture
def serve(guest, site):
    """serve(): `xdpmtcp serve` in http mode on the NIC, forced native."""
    made = []

    def start(ifname=IFNAME):
        nic = dataclasses.replace(guest, ifname=ifname)
        p = StackProcess(nic, "serve", "-p", PORT, "--mode", "http", "--root", site, "--xdp-mode", "native")
        made.append(p)
        p.wait_event("ready", timeout=START_TIMEOUT)
        return p
    yield start
    for p in made:
        p.stop()


@pytest.fixture
def one_queue():
    """The NIC back at one channel after a test that raised it.  Ask for it
    before `serve`, so the stack is gone first: virtio-net refuses to
    change channels while an XDP program is attached (EINVAL)."""
    yield
    # the RSS table first: ethtool refuses fewer channels than the table uses
    subprocess.run(["ethtool", "-X", MQ_IFNAME, "equal", "1"], capture_output=True, text=True)
    r = subprocess.run(["ethtool", "-L", MQ_IFNAME, "combined", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and channels(MQ_IFNAME)[1] == 1, r.stderr


def test_the_nics_are_virtio_net_with_the_queues_asked_for(fact):
    for ifname, queues in ((IFNAME, 1), (MQ_IFNAME, QUEUES)):
        drv = subprocess.run(["ethtool", "-i", ifname], capture_output=True, text=True, check=True).stdout
        assert re.search(r"^driver: virtio_net$", drv, re.M), drv
        most, now = channels(ifname)
        assert most == queues, "%s: the host gave %d queue pairs, the guest sees %d" % (ifname, queues, most)
        fact("guest kernel %s; %s: virtio_net, %d queue pair(s), %d in use (ethtool -l)"
             % (os.uname().release, ifname, most, now))


def offloads():
    """The receive offloads native XDP cannot run with, as ethtool -k shows them."""
    out = subprocess.run(["ethtool", "-k", IFNAME], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^(rx-gro-hw|large-receive-offload|rx-checksumming): (\w+)", out, re.M))


def test_serve_runs_native_and_the_kernel_keeps_arp_icmp_and_ssh(serve, hostpeer, host_addr, guest,
                                                                  kernel_server, fact):
    ssh = kernel_server(22, b"SSH-2.0-OpenSSH_9.2 guest kernel\r\n")
    before = offloads()
    srv = serve()
    fact("offloads (ethtool -k) before attach %s, attached %s" % (before, offloads()))
    # one queue pair: no room for XDP_TX queues, every frame arrives on queue 0
    assert channels() == (1, 1)
    itf = status_json(PORT)
    assert itf["xdp_mode"] == "native", itf
    assert link_xdp() == "xdp"                      # the driver runs it, not the generic hook
    fact("XDP mode on %s: %s (xdpmtcp status; ip link: prog/%s)" % (IFNAME, itf["xdp_mode"], link_xdp()))

    # the stack's port, from the host's kernel TCP
    base = "http://%s:%d/" % (guest.ip, PORT)
    assert keep_alive_fetch(hostpeer, base, ["index.html", "two.html"]) == PAGE + PAGE2
    # ARP and ICMP answered by the guest's kernel on the same NIC
    hostpeer.run("ip", "neigh", "flush", "all")
    r = hostpeer.run("ping", "-c", "3", "-i", "0.3", "-W", "5", guest.ip, timeout=30)
    assert r["rc"] == 0 and " 0% packet loss" in r["stdout"], r
    # a kernel service on another port of the same address
    r = hostpeer.run("nc", "-w", "10", guest.ip, "22", timeout=30)
    assert r["stdout"].startswith("SSH-2.0-OpenSSH_9.2 guest kernel"), r
    assert ssh, "the kernel's listener saw no client"

    counters = status_json(PORT)
    assert counters["xdp"]["redirected"] > 0 and counters["port"]["rx_frames"] > 0, counters
    assert counters["xdp"]["passed"] > 0, counters          # ARP, ICMP, tcp/22: to the kernel
    assert counters["engine"]["fast_path"] + counters["engine"]["slow_path"] > 0, counters
    fact("native: curl got two pages over one connection to the stack; ping and tcp/22 answered by the kernel "
         "(xdp redirected %d, passed %d)" % (counters["xdp"]["redirected"], counters["xdp"]["passed"]))

    assert srv.stop() == 0
    assert link_xdp() is None, "serve left its XDP program on %s" % IFNAME


def test_after_sigkill_the_kernel_serves_the_port_again(serve, hostpeer, guest, kernel_server, fact):
    srv = serve()
    assert link_xdp() == "xdp"
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    r = xdpmtcp("xdp", "status", "-i", IFNAME)
    assert "stale" in r.stdout and "native" in r.stdout, r.stdout
    # the dead stack's program still steers tcp/8080, its AF_XDP socket is
    # gone: frames fall back to the kernel, whose listener now answers
    kernel_server(PORT, b"kernel after SIGKILL\n")
    r = hostpeer.run("nc", "-w", "10", guest.ip, str(PORT), timeout=30)
    assert r["stdout"] == "kernel after SIGKILL\n", r
    r = hostpeer.run("ping", "-c", "2", "-W", "5", guest.ip, timeout=30)
    assert r["rc"] == 0, r
    r = xdpmtcp("xdp", "detach", "-i", IFNAME)
    assert link_xdp() is None, r.stdout + r.stderr
    fact("SIGKILL: program left stale in native mode, the kernel served tcp/%d through it; "
         "xdp detach removed it" % PORT)


def test_epserver_serves_the_hosts_curl(guest, site, hostpeer, tmp_path, fact):
    conf = write_conf(tmp_path / "mtcp.conf", IFNAME, num_cores=1, tcp_timewait=0)
    with ExampleProcess(guest, "epserver.py", "-p", site, "-f", conf, "--port", PORT) as p:
        p.wait_for("ready", timeout=START_TIMEOUT)
        assert status_json(PORT)["xdp_mode"] == "native"
        base = "http://%s:%d/" % (guest.ip, PORT)
        got = keep_alive_fetch(hostpeer, base, ["index.html", "two.html", "index.html"])
        assert got == PAGE + PAGE2 + PAGE
        counters = status_json(PORT)
        assert counters["xdp"]["redirected"] > 0, counters
    assert p.proc.returncode == 0, p.output()
    assert link_xdp() is None
    fact("epserver: the host's curl got 3 pages over one connection, then each alone (xdp redirected %d)"
         % counters["xdp"]["redirected"])


def test_epwget_fetches_from_the_hosts_http_server(guest, hostpeer, host_addr, tmp_path, fact):
    blob = bytes(range(256)) * 256                  # 64 KiB, several segments each way
    hostpeer.write("blob.bin", blob)
    hostpeer.serve_http(8000)
    try:
        conf = write_conf(tmp_path / "mtcp.conf", IFNAME, num_cores=1, tcp_timewait=0)
        r = run_example(guest, "epwget.py", "http://%s:8000/blob.bin" % host_addr, 20, "-c", 4,
                        "-f", conf, "--json", timeout=START_TIMEOUT + 120, check=False)
    finally:
        hostpeer.stop_http(8000)
    assert r.stdout.strip(), r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["completed"] == 20 and res["errors"] == {} and res["status"] == {"200": 20}, res
    assert res["bytes"] >= 20 * len(blob) and r.returncode == 0, (res, r.stderr)
    assert link_xdp() is None
    fact("epwget: 20 of 20 GETs of %d bytes from the host's http.server (%d bytes in all)"
         % (len(blob), res["bytes"]))


def test_status_reports_every_channel_and_that_one_queue_is_served(one_queue, serve, fact):
    assert QUEUES > 1, "boot the guest with more than one queue pair (tools/vm/vm --queues)"
    r = subprocess.run(["ethtool", "-L", MQ_IFNAME, "combined", str(QUEUES)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert channels(MQ_IFNAME) == (QUEUES, QUEUES)
    serve(MQ_IFNAME)
    # the driver's rule: no channel changes while an XDP program is attached
    r = subprocess.run(["ethtool", "-L", MQ_IFNAME, "combined", "1"], capture_output=True, text=True)
    assert r.returncode != 0 and channels(MQ_IFNAME) == (QUEUES, QUEUES), r
    itf = status_json(PORT, MQ_IFNAME)
    assert itf["channels"]["rx_queues"] == QUEUES and itf["queue"] == 0, itf
    assert itf["xdp_mode"] == "native", itf
    text = xdpmtcp("status", "-i", MQ_IFNAME).stdout
    flat = " ".join(text.split())
    assert "%d RX queue(s)" % QUEUES in flat and "served: queue 0 only" in flat, text
    fact("multi-queue %s: %d channels in use; status: %r" % (
        MQ_IFNAME, QUEUES, re.search(r"\d+ RX queue\(s\).*?only", flat).group(0)))


MQ_ADDR = os.environ.get("XDPMTCP_VM_MQ_ADDR", "")


def test_a_worker_per_queue_serves_the_hosts_connections_on_the_multi_queue_nic(one_queue, guest, site, hostpeer,
                                                                             tmp_path, fact):
    """epserver with a worker per virtio-net queue, native XDP: the host's
    connections spread over the queues (the tap picks one per flow) and
    each worker answers the ones its queue receives, none lost.

    Not asserted here: the workers' own connects.  The tap picks the queue
    of a reply by its own flow hash, which the guest cannot read (no RSS
    key: the context says so), and measured, 3 to 5 of 16 epwget -N 4
    requests got their replies on the opener's queue."""
    assert QUEUES > 1, "boot the guest with more than one queue pair (tools/vm/vm --queues)"
    r = subprocess.run(["ethtool", "-L", MQ_IFNAME, "combined", str(QUEUES)], capture_output=True, text=True)
    assert r.returncode == 0 and channels(MQ_IFNAME) == (QUEUES, QUEUES), r.stderr
    nic = dataclasses.replace(guest, ifname=MQ_IFNAME, ip=MQ_ADDR)
    conf = write_conf(tmp_path / "mtcp.conf", MQ_IFNAME, num_cores=QUEUES, tcp_timewait=0, xdp_mode="native")
    n = 8 * QUEUES
    with ExampleProcess(nic, "epserver.py", "-p", site, "-f", conf, "--port", PORT) as p:
        line = p.wait_for("ready:", timeout=START_TIMEOUT)
        assert "%d core(s)" % QUEUES in line, p.output()
        assert link_xdp(MQ_IFNAME) == "xdp"
        # one curl, n URLs, each on a fresh connection (the server closes it)
        r = hostpeer.run("curl", "-sS", "--max-time", "120", "-H", "Connection: close",
                         *["http://%s:%d/" % (MQ_ADDR, PORT)] * n, timeout=300)
        assert r["rc"] == 0 and r["stdout"].encode() == PAGE * n, (r, p.output())
        p.stop(signal.SIGTERM)
    served = {int(c): int(k) for c, k in re.findall(r"core (\d+): (\d+) connections", p.output())}
    assert sum(served.values()) == n and sum(1 for k in served.values() if k) >= 2, (served, p.output())
    assert link_xdp(MQ_IFNAME) is None
    fact("%d workers on %s (%d queues, native XDP): %d curl connections served, per core %s"
         % (QUEUES, MQ_IFNAME, QUEUES, n, served))
