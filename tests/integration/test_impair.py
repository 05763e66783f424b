"""The impairing bridge between two kernel TCP endpoints: a clean path
works (ARP, ping, TCP); an impaired one still delivers every byte, and the
counters show the faults were applied in both directions."""
import os
import signal
import time

import pytest

from xdpmtcp.lab import netns
from xdpmtcp.lab.impair import Bridge, BridgeError, impaired_path
from xdpmtcp.lab.probes import tcp_transfer

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_clean_bridge_passes_ping_and_tcp(inline_lab, need_tool):
    need_tool("ping")
    lab = inline_lab
    with impaired_path(lab, None) as bridge:
        r = lab.client.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", lab.server.ip],
                           check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        t = tcp_transfer(lab.client, lab.server, 1_000_000, 100_000)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    assert t["client"]["received_sha256"] == t["server"]["sent_sha256"]
    for name in ("c2s", "s2c"):
        c = bridge.counters[name]
        assert c["forwarded"] == c["received"] > 0
        assert c["dropped"] == c["duplicated"] == c["reordered"] == 0
        assert c["no_room"] == c["tx_errors"] == c["oversize"] == 0


def test_impaired_transfer_is_intact(inline_lab):
    lab = inline_lab
    nbytes = 20_000_000
    with impaired_path(lab, "drop=0.02,reorder=0.02,duplicate=0.01,seed=1") as bridge:
        t = tcp_transfer(lab.client, lab.server, nbytes, 2_000_000)
    assert t["server"]["received"] == nbytes
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    assert t["client"]["received"] == 2_000_000
    assert t["client"]["received_sha256"] == t["server"]["sent_sha256"]
    for name in ("c2s", "s2c"):
        c = bridge.counters[name]
        assert c["dropped"] > 0 and c["duplicated"] > 0 and c["reordered"] > 0, (name, c)
        # every frame is accounted for: one decision each, none lost otherwise
        # (kernel_drops, if a busy machine starves the bridge, happen before
        # "received" and are TCP's to repair)
        assert c["forwarded"] == c["received"] - c["dropped"] + c["duplicated"], (name, c)
        assert c["no_room"] == c["tx_errors"] == 0, (name, c)
    c2s = bridge.counters["c2s"]
    assert 0.01 < c2s["dropped"] / c2s["received"] < 0.03


def test_faults_on_one_direction_only(inline_lab):
    # the grid benchmark impairs the data direction and lets ACKs pass
    lab = inline_lab
    with impaired_path(lab, "drop=0.05,reorder=0.03,seed=2", direction="s2c") as bridge:
        t = tcp_transfer(lab.client, lab.server, 200_000, 5_000_000)
    assert t["client"]["received"] == 5_000_000
    assert t["client"]["received_sha256"] == t["server"]["sent_sha256"]
    c2s, s2c = bridge.counters["c2s"], bridge.counters["s2c"]
    assert c2s["dropped"] == c2s["reordered"] == 0 and c2s["forwarded"] == c2s["received"] > 0
    assert s2c["dropped"] > 0 and s2c["reordered"] > 0


def test_bridge_refuses_interfaces_a_live_monitor_holds(inline_lab):
    import subprocess
    import sys
    lab = inline_lab
    mid = lab.host("monitor")
    a, b = (i.ifname for i in mid.interfaces)
    mon = mid.popen([sys.executable, "-m", "xdpmtcp", "monitor", "--iface", a, "--inline", b, "--json",
                     "--duration", "30"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert '"ready": true' in mon.stdout.readline()
        with pytest.raises(BridgeError, match="in use by xdpmtcp process %d" % mon.pid):
            with impaired_path(lab, "drop=0.01"):
                pass
    finally:
        mon.kill()
        mon.wait()


def test_bridge_dies_with_its_parent(inline_lab):
    """SIGKILL the process that started the bridge: the bridge must not
    outlive it (it would keep forwarding in a lab nobody owns)."""
    import subprocess
    import sys
    code = ("import sys, time; from xdpmtcp.lab import Lab; "
            "from xdpmtcp.lab.impair import Bridge; "
            "lab = Lab.load(sys.argv[1]); b = Bridge(lab).start(); "
            "print(b.proc.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code, inline_lab.name],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=REPO))
    try:
        bridge_pid = int(parent.stdout.readline())
        assert bridge_pid in netns.pids_in(inline_lab.monitor.ns)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    end = time.monotonic() + 5
    while time.monotonic() < end and bridge_pid in netns.pids_in(inline_lab.monitor.ns):
        time.sleep(0.05)
    assert bridge_pid not in netns.pids_in(inline_lab.monitor.ns)


def test_bad_spec_and_wrong_lab_are_refused(inline_lab, lab):
    with pytest.raises(ValueError, match="bogus"):
        Bridge(inline_lab, "bogus=1").start()
    with pytest.raises(Exception, match="monitor"):
        Bridge(lab)
    with pytest.raises(BridgeError, match="never started"):
        Bridge(inline_lab).stop()
    broken = Bridge(inline_lab)
    broken.argv = lambda: [broken.python, "-m", "xdpmtcp.lab.impair", "nosuch0", "nosuch1"]
    with pytest.raises(BridgeError, match="no interface nosuch0"):
        broken.start()


def test_lab_impair_command(inline_lab):
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "lab", "impair", inline_lab.name,
                        "--faults", "drop=0.1,seed=3", "--duration", "0.5", "--json"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=REPO))
    assert r.returncode == 0, r.stderr
    counters = json.loads(r.stdout)
    assert set(counters) == {"c2s", "s2c"} and "dropped" in counters["c2s"]
    assert "drop=0.1" in r.stderr
