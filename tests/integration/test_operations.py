"""Operating the stack: what a SIGKILL, a restart, a clean stop and two
stacks in one namespace leave in net.ipv4.ip_local_reserved_ports (read in
the lab's namespace), and `xdpmtcp xdp status/detach` telling a live
stack's program from a stale one."""
import socket
import subprocess
import sys
import types

from xdpmtcp.kernel import runstate
from xdpmtcp.lab.probes import connect_echo, tcp_transfer
from xdpmtcp.lab.stackproc import ROOT, StackProcess
from xdpmtcp.xdp import attached_program

PORT = 8080
# The user's own value: 60000-60999 touches the stack's 61000-61999, so
# the kernel prints the two merged ("5,60000-61999").
USER_VALUE = "5,60000-60999"
WITH_STACK = "5,60000-61999"


def reserved_ports(lab):
    r = lab.stack.run(["sysctl", "-n", "net.ipv4.ip_local_reserved_ports"])
    return r.stdout.strip()


def set_reserved_ports(lab, value):
    lab.stack.run(["sysctl", "-q", "-w", "net.ipv4.ip_local_reserved_ports=%s" % value])


def serve(host):
    sp = StackProcess(host, "serve", "-p", PORT, "--mode", "echo")
    sp.wait_event("ready")
    return sp


def sigkill(sp):
    sp.proc.kill()
    sp.proc.wait(10)


def second_interface(lab):
    """A second veth pair inside the stack's namespace, so a second stack
    can run there (one stack per interface); returned host-like."""
    a, b = lab.name + "x0", lab.name + "x1"
    lab.stack.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
    lab.stack.run(["ip", "addr", "add", "198.19.250.1/30", "dev", a])
    for name in (a, b):
        lab.stack.run(["ip", "link", "set", name, "up"])
    return types.SimpleNamespace(ns=lab.stack.ns, ifname=a)


def xdp_cli(lab, *args, ifname=None):
    return subprocess.run([sys.executable, "-m", "xdpmtcp", "xdp", *args, "--netns", lab.stack.ns,
                           "-i", ifname or lab.stack.ifname], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def state_files(lab):
    """What /run/xdpmtcp still records for the lab's stack namespace."""
    with lab.stack.enter():
        prefix = runstate.netns_id() + "."
    return sorted(p.name for p in runstate.RUN_DIR.glob(prefix + "*"))


def xdp_on(lab):
    with lab.stack.enter():
        return attached_program(socket.if_nametoindex(lab.stack.ifname))


def test_reserved_ports_after_start_sigkill_restart_and_clean_stop(lab):
    set_reserved_ports(lab, USER_VALUE)
    assert reserved_ports(lab) == USER_VALUE
    first = serve(lab.stack)
    assert reserved_ports(lab) == WITH_STACK
    sigkill(first)
    assert reserved_ports(lab) == WITH_STACK        # nobody could undo it
    with serve(lab.stack) as restarted:             # replaces the dead one's entry
        assert reserved_ports(lab) == WITH_STACK
        assert any("released reserved ports 61000-61999 left by process %d" % first.proc.pid
                   in line for line in restarted.lines), restarted.lines
        assert restarted.stop() == 0
    assert reserved_ports(lab) == USER_VALUE
    assert state_files(lab) == []


def test_reserved_ports_with_two_stacks_in_one_namespace(lab):
    set_reserved_ports(lab, USER_VALUE)
    other_if = second_interface(lab)
    one, two = serve(lab.stack), serve(other_if)
    try:
        assert reserved_ports(lab) == WITH_STACK
        assert one.stop() == 0
        assert reserved_ports(lab) == WITH_STACK    # the other stack still holds it
        one = serve(lab.stack)
        sigkill(two)
        assert one.stop() == 0                      # last one out, and undoes the dead one
        assert reserved_ports(lab) == USER_VALUE
        # The dead stack's program is still on its interface until removed.
        assert xdp_cli(lab, "detach", ifname=other_if.ifname).returncode == 0
        assert state_files(lab) == []
    finally:
        one.stop()
        two.stop()


def test_reserved_ports_the_user_had_stay_after_stop(lab):
    set_reserved_ports(lab, "61000-61999")
    with serve(lab.stack) as sp:
        assert sp.stop() == 0
    assert reserved_ports(lab) == "61000-61999"
    assert state_files(lab) == []


def test_detach_refuses_live_stack_and_status_tells_live_from_stale(lab):
    sp = serve(lab.stack)
    try:
        pid = sp.proc.pid
        live = xdp_on(lab)
        status = xdp_cli(lab, "status")
        assert status.returncode == 0, status.stderr
        assert "live: attached by xdpmtcp process %d" % pid in status.stdout

        refused = xdp_cli(lab, "detach")
        assert refused.returncode != 0
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "live xdpmtcp process %d" % pid in refused.stderr and "--force" in refused.stderr
        assert xdp_on(lab).prog_id == live.prog_id
        assert connect_echo(lab.peer, lab.stack.ip, PORT, "still", 3)["reply"] == "still"

        sigkill(sp)
        stale = xdp_cli(lab, "status")
        assert stale.returncode == 0, stale.stderr
        assert "stale: its process %d is gone" % pid in stale.stdout
        assert "xdpmtcp xdp detach -i %s" % lab.stack.ifname in stale.stdout
        assert "live" not in stale.stdout

        detached = xdp_cli(lab, "detach")
        assert detached.returncode == 0, detached.stderr
        assert "detached xdpmtcp_steer (id %d)" % live.prog_id in detached.stdout
        assert "released reserved ports 61000-61999" in detached.stdout
        assert xdp_on(lab).prog_id == 0
        assert "no XDP program" in xdp_cli(lab, "status").stdout
        assert state_files(lab) == []
    finally:
        sp.stop()
    # The kernel serves the interface: ICMP, and a kernel TCP server on the
    # port the stack owned.
    assert lab.peer.run(["ping", "-c", "1", "-W", "2", lab.stack.ip], check=False).returncode == 0
    res = tcp_transfer(lab.peer, lab.stack, 100_000, 1000, port=PORT, timeout=20)
    assert res["server"]["received"] == 100_000 and res["client"]["received"] == 1000, res


def test_forced_detach_of_live_stack(lab):
    with serve(lab.stack) as sp:
        forced = xdp_cli(lab, "detach", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "forced: live process %d" % sp.proc.pid in forced.stdout
        assert xdp_on(lab).prog_id == 0
        assert sp.stop() == 0                       # its own detach finds nothing of its own
    assert xdp_on(lab).prog_id == 0
    assert state_files(lab) == []


def test_restart_after_sigkill_names_the_dead_owner(lab):
    first = serve(lab.stack)
    sigkill(first)
    with serve(lab.stack) as sp:
        notes = [line for line in sp.lines if "note" in line]
        assert any("replacing stale xdpmtcp program" in n and "process %d is gone" % first.proc.pid
                   in n for n in notes), sp.lines
        # A second start on the same interface meets the live owner.
        second = subprocess.run([sys.executable, "-m", "xdpmtcp", "serve", "--netns", lab.stack.ns,
                                 "-i", lab.stack.ifname, "-p", "8081"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "in use by xdpmtcp process %d" % sp.proc.pid in second.stderr
        assert sp.proc.poll() is None and xdp_on(lab).prog_id
    assert state_files(lab) == []
