"""Never break the host: detach on exit and signals, survive SIGKILL,
refuse foreign programs; plus the kernel contract pieces (reserved ports,
next hop) and the device middleware on a real port."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from xdpmtcp.lab.probes import connect_echo
from xdpmtcp.kernel import PortReservation, resolve_next_hop
from xdpmtcp.netif import NetIf
from xdpmtcp.phy import FaultInjector, PcapTap
from xdpmtcp.xdp import XdpError, attached_program

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def xdp_on(lab):
    with lab.stack.enter():
        return attached_program(socket.if_nametoindex(lab.stack.ifname))


# The responder's own --duration is far longer: only the signal ends it
# within EXIT_WAIT.
EXIT_WAIT = 15


def _sigint_as_on_a_terminal():
    # A shell without job control starts background commands with SIGINT
    # ignored, and they inherit it (a CI run started with `make test &`
    # did): SIGINT then does nothing to the responder, as to any program
    # honouring SIG_IGN.  The test means a SIGINT that is delivered.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_responder(lab, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "xdpmtcp", "respond", "--netns", lab.stack.ns,
                          "-i", lab.stack.ifname, "-p", "8080", "--duration", "600", *extra],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, preexec_fn=_sigint_as_on_a_terminal)
    lines = []
    end = time.monotonic() + 30
    while time.monotonic() < end:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("owning"):
            return p, lines
    p.kill()
    pytest.fail("responder did not start:\n" + "".join(lines))


def test_sigkill_leaves_kernel_serving_and_restart_replaces_stale(lab):
    p, _ = start_responder(lab)
    assert connect_echo(lab.peer, lab.stack.ip, 8080, "one", 3)["reply"] == "one"
    p.kill()
    p.wait()
    stale = xdp_on(lab)
    assert stale.name == "xdpmtcp_steer"          # nobody could detach it
    # The XSK closed with the process: owned frames now reach the kernel.
    assert connect_echo(lab.peer, lab.stack.ip, 8080, "", 2)["error"] == "ConnectionRefusedError"
    assert lab.peer.run(["ping", "-c", "1", "-W", "1", lab.stack.ip], check=False).returncode == 0

    p, lines = start_responder(lab)
    assert any("replacing stale xdpmtcp program" in l for l in lines), lines
    assert connect_echo(lab.peer, lab.stack.ip, 8080, "two", 3)["reply"] == "two"
    assert xdp_on(lab).prog_id != stale.prog_id
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=EXIT_WAIT)
    assert xdp_on(lab).prog_id == 0               # SIGTERM detached it


def test_sigint_detaches(lab):
    p, _ = start_responder(lab)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=EXIT_WAIT)
    assert p.returncode == 0, out
    assert xdp_on(lab).prog_id == 0


def test_refuses_foreign_program_unless_forced(lab):
    from bcc import BPF
    from xdpmtcp.xdp.bcc_env import kernel_headers_note
    kernel_headers_note()
    with lab.stack.enter():
        foreign = BPF(text=b"int someone_elses(struct xdp_md *ctx) { return XDP_PASS; }")
        fn = foreign.load_func(b"someone_elses", BPF.XDP)
        BPF.attach_xdp(lab.stack.ifname.encode(), fn, 1 << 2)
        try:
            with pytest.raises(XdpError, match="did not attach"):
                NetIf(lab.stack.ifname).open()
            assert attached_program(socket.if_nametoindex(lab.stack.ifname)).name == "someone_elses"
            nif = NetIf(lab.stack.ifname, force=True).open()
            assert any("foreign" in n for n in nif.notes)
            nif.close()
        finally:
            BPF.remove_xdp(lab.stack.ifname.encode(), 1 << 2)
            foreign.cleanup()


def test_reserved_ports_set_and_restored(lab):
    with lab.stack.enter():
        before = PortReservation(61000, 61999).reserved()
        with PortReservation(61000, 61999) as r:
            assert (61000, 61999) in r.reserved()
            # The kernel now avoids the range for its own ephemeral ports.
            with socket.socket() as s:
                s.bind((lab.stack.ip, 0))
                assert not 61000 <= s.getsockname()[1] <= 61999
        assert PortReservation(61000, 61999).reserved() == before


def test_next_hop_from_kernel_tables(lab):
    with lab.stack.enter():
        hop = resolve_next_hop(lab.peer.ip)
    assert hop.dst_mac.lower() == lab.peer.mac.lower()
    assert hop.src_mac.lower() == lab.stack.mac.lower()
    assert hop.src_ip == lab.stack.ip and hop.ifname == lab.stack.ifname
    assert hop.gateway is None


def test_pcap_tap_on_live_port_is_readable_by_tshark(lab, netif, responder, tmp_path, need_tool):
    need_tool("tshark")
    path = tmp_path / "live.pcap"
    netif.port.add(PcapTap(str(path)))
    assert connect_echo(lab.peer, lab.stack.ip, 8080, "cap", 3)["reply"] == "cap"
    time.sleep(0.3)
    PcapTap.uninstall(netif.port)
    r = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.flags.str"],
                       capture_output=True, text=True, check=True)
    flags = r.stdout.split()
    assert len(flags) >= 5
    assert "·······A··S·" in flags     # our SYN-ACK, as tshark prints it


def test_fault_injector_on_live_port_drops_everything(lab, netif, responder):
    netif.port.add(FaultInjector(drop=1.0, direction="rx"))
    out = connect_echo(lab.peer, lab.stack.ip, 8080, "", 1.5)
    assert out["connected"] is False and out["error"] == "TimeoutError"
    assert netif.port.stats()["fault_dropped_rx"] >= 1
