"""The namespace lab itself: topology, isolation, offloads, teardown."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from xdpmtcp.lab import Lab, LabError, cli, netns
from xdpmtcp.lab.topology import RECORD_DIR

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One ICMP echo over a raw socket: the `ping` binary is not installed on
# every machine here, and the kernel answers either way.
PING = r"""
import os, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
dst, ident = sys.argv[1], os.getpid() & 0xffff
wait = float(sys.argv[2])
hdr = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'xdpmtcp-lab!'  # even length: csum sums 16-bit words
pkt = hdr[:2] + struct.pack('!H', csum(hdr)) + hdr[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
deadline = time.time() + wait
while time.time() < deadline:
    s.sendto(pkt, (dst, 0))
    try:
        while True:
            data, addr = s.recvfrom(2048)
            icmp = data[(data[0] & 15) * 4:]
            if addr[0] == dst and icmp[0] == 0 and icmp[4:6] == pkt[4:6]:
                print('reply from', addr[0]); sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
"""


def ping(host, dst, wait=5.0):
    return host.run([sys.executable, "-c", PING, dst, str(wait)], check=False,
                    timeout=wait + 5)


def listen(host, port=0):
    with host.enter():
        srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.ip, port))
    srv.listen(4)
    return srv


def test_two_hosts_addressed_and_up(lab):
    assert lab.kind == "pair"
    assert (lab.stack.ip, lab.peer.ip) == ("198.18.0.1", "198.18.0.2")
    assert lab.stack.prefixlen == lab.peer.prefixlen == 24
    for host in (lab.stack, lab.peer):
        assert host.ns in netns.list_names()
        assert host.ifname.startswith(lab.name) and len(host.ifname) <= 15
        assert host.ifindex > 0 and len(host.mac.split(":")) == 6
        with host.iproute() as ipr:
            link = ipr.link("get", index=host.ifindex)[0]
            assert link.get("ifname") == host.ifname
            assert link.get("operstate") == "UP"
            lo = ipr.link("get", index=ipr.link_lookup(ifname="lo")[0])[0]
            assert lo["flags"] & 1  # IFF_UP
    assert lab.stack.interfaces[0].peer == f"{lab.peer.ns}/{lab.peer.ifname}"


def test_ping_both_ways(lab):
    forward = ping(lab.stack, lab.peer.ip)
    assert forward.returncode == 0, forward.stderr
    back = ping(lab.peer, lab.stack.ip)
    assert back.returncode == 0, back.stderr


def test_tcp_from_peer_to_kernel_listener_in_stack(lab):
    srv = listen(lab.stack)
    port = srv.getsockname()[1]
    with lab.peer.enter():
        cli_sock = socket.create_connection((lab.stack.ip, port), timeout=5)
    with srv, cli_sock:
        conn, addr = srv.accept()
        with conn:
            assert addr[0] == lab.peer.ip
            cli_sock.sendall(b"hello" * 1000)
            got = b""
            while len(got) < 5000:
                got += conn.recv(65536)
            assert got == b"hello" * 1000


def test_offloads_read_back_off(lab):
    for host in (lab.stack, lab.peer):
        state = host.offloads()
        for name in ("tx-checksumming", "tcp-segmentation-offload",
                     "generic-segmentation-offload", "tx-checksum-ip-generic",
                     "tx-tcp-segmentation", "tx-generic-segmentation"):
            assert state[name] is False, (host.name, name)
    assert lab.stack.offloads()["generic-receive-offload"] is False
    assert lab.stack.offloads()["rx-gro"] is False


def test_ipv6_quiet_by_default(lab):
    out = lab.peer.run(["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"])
    assert out.stdout.strip() == "1"


def test_subprocess_sees_own_sysfs(lab):
    own = lab.peer.run(["ls", "/sys/class/net"]).stdout.split()
    assert sorted(own) == sorted(["lo", lab.peer.ifname])
    # documented limitation: without a private sysfs, /sys is the host's
    host_view = lab.peer.run(["ls", "/sys/class/net"], own_sysfs=False)
    assert lab.peer.ifname not in host_view.stdout.split()


def test_in_netns_restores_on_exception_and_is_per_thread(lab):
    before = os.stat("/proc/thread-self/ns/net").st_ino
    with pytest.raises(ZeroDivisionError):
        with lab.stack.enter():
            assert os.stat("/proc/thread-self/ns/net").st_ino != before
            1 / 0
    assert os.stat("/proc/thread-self/ns/net").st_ino == before

    seen = {}

    def worker():
        with lab.peer.enter():
            seen["inside"] = socket.if_nametoindex(lab.peer.ifname)
            seen["main"] = os.stat(f"/proc/{os.getpid()}/ns/net").st_ino

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"inside": lab.peer.ifindex, "main": before}


def test_missing_namespace_is_an_error():
    with pytest.raises(netns.NetnsError):
        with netns.in_netns("xm-no-such-namespace"):
            pass
    assert not netns.exists("xm-no-such-namespace")  # not created as a side effect


def test_destroy_removes_everything_and_is_idempotent(lab_factory):
    lab = lab_factory()
    sleeper = lab.peer.popen(["sleep", "60"])
    stray = netns.popen(lab.stack.ns, ["sleep", "60"])  # not tracked by lab
    record = os.path.join(RECORD_DIR, lab.name + ".json")
    assert os.path.exists(record)
    lab.destroy()
    assert sleeper.poll() is not None
    assert stray.wait(5) is not None
    assert not any(ns.startswith(lab.name) for ns in netns.list_names())
    assert not os.path.exists(record)
    lab.destroy()  # second time: nothing to do, no error


def test_two_labs_do_not_collide(lab_factory):
    one, two = lab_factory(), lab_factory()
    assert one.name != two.name
    assert not set(one.namespaces) & set(two.namespaces)
    assert one.stack.ifname != two.stack.ifname
    assert one.stack.ip == two.stack.ip  # same subnet, separate worlds
    srv = listen(two.peer)
    port = srv.getsockname()[1]
    with srv:
        assert ping(one.stack, one.peer.ip).returncode == 0
        assert ping(two.stack, two.peer.ip).returncode == 0
        with one.stack.enter():
            probe = socket.socket()
        with probe, pytest.raises(ConnectionRefusedError):
            probe.settimeout(5)
            probe.connect((one.peer.ip, port))  # lab two's listener is unseen


def test_inline_topology(lab_factory):
    lab = lab_factory(inline=True)
    assert (lab.client.ip, lab.server.ip) == ("198.18.1.1", "198.18.1.2")
    assert lab.monitor.ip is None
    assert [i.ip for i in lab.monitor.interfaces] == [None, None]
    assert len({i.ifname for i in lab.monitor.interfaces}) == 2
    assert lab.monitor.interfaces[0].peer.endswith(lab.client.ifname)
    assert lab.monitor.interfaces[1].peer.endswith(lab.server.ifname)
    for iface in lab.monitor.interfaces:
        state = lab.monitor.offloads(iface.ifname)
        assert not state["tx-checksumming"] and not state["rx-gro"]
    # nothing forwards yet: the monitor's own code has to
    assert ping(lab.client, lab.server.ip, wait=1).returncode != 0
    with pytest.raises(LabError):
        lab.stack


def test_load_list_and_destroy_from_another_process(lab_factory):
    lab = lab_factory()
    loaded = Lab.load(lab.name)
    assert loaded.to_json() == lab.to_json()
    assert lab.name in [found.name for found in Lab.list()]
    assert not loaded.stale
    code = ("import sys; from xdpmtcp.lab import Lab; "
            "Lab.load(sys.argv[1]).destroy()")
    subprocess.run([sys.executable, "-c", code, lab.name], check=True,
                   cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=30)
    assert not any(ns.startswith(lab.name) for ns in netns.list_names())
    assert lab.name not in [found.name for found in Lab.list()]
    with pytest.raises(LabError):
        Lab.load(lab.name)


def test_stale_record_detected_and_cleaned(lab_factory):
    lab = lab_factory()
    netns.remove(lab.peer.ns)  # vanishes behind the lab's back
    listed = {found.name: found for found in Lab.list()}
    assert listed[lab.name].stale
    assert listed[lab.name].missing_namespaces() == [lab.peer.ns]
    listed[lab.name].destroy()
    assert not any(ns.startswith(lab.name) for ns in netns.list_names())


def test_corrupt_record_is_stale_and_destroyable(lab_factory):
    lab = lab_factory()
    with open(os.path.join(RECORD_DIR, lab.name + ".json"), "w") as fh:
        fh.write("{not json")
    broken = Lab.load(lab.name)
    assert broken.stale
    broken.destroy()  # finds the namespaces by name
    assert not any(ns.startswith(lab.name) for ns in netns.list_names())


def test_atexit_tears_down_a_forgotten_lab(lab_factory):
    lab_factory()  # make sure the environment is fit (skip/fail otherwise)
    code = "from xdpmtcp.lab import Lab; print(Lab.create(prefix='xmexit').name)"
    out = run_python(code)
    name = out.strip()
    assert name.startswith("xmexit")
    assert not any(ns.startswith(name) for ns in netns.list_names())
    assert not os.path.exists(os.path.join(RECORD_DIR, name + ".json"))


def test_cli_up_status_down(lab_factory, capsys):
    lab_factory()  # prerequisites
    assert cli.main(["lab", "up", "--prefix", "xmcli", "--json"]) == 0
    name = json.loads(capsys.readouterr().out)["name"]
    try:
        assert cli.main(["lab", "status", "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        assert rows[name]["state"] == "ready" and not rows[name]["stale"]
        assert cli.main(["lab", "status"]) == 0
        table = capsys.readouterr().out
        assert table.startswith("NAME") and name in table
        assert cli.main(["lab", "down", name]) == 0
        assert f"destroyed {name}" in capsys.readouterr().out
        assert not any(ns.startswith(name) for ns in netns.list_names())
        assert cli.main(["lab", "down", name]) == 1
        assert cli.main(["lab", "down"]) == 2
    finally:
        try:
            Lab.load(name).destroy()
        except LabError:
            pass


def test_cli_up_describes_the_lab(lab_factory, capsys):
    lab_factory()
    assert cli.main(["lab", "up", "--prefix", "xmcli", "--inline"]) == 0
    text = capsys.readouterr().out
    name = text.split()[1]
    try:
        assert "198.18.1.1/24" in text and "ip netns exec" in text
        assert f"{name}-monitor" in text
    finally:
        Lab.load(name).destroy()


def run_python(code):
    """Run code in a fresh interpreter (its own exit path); stdout."""
    return subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=30).stdout


def test_lab_of_a_killed_owner_is_orphaned(lab_factory):
    lab_factory()
    code = ("import os; from xdpmtcp.lab import Lab; "
            "print(Lab.create(prefix='xmorph').name, flush=True); os._exit(0)")
    out = run_python(code)
    name = out.strip()
    try:
        left = Lab.load(name)  # no atexit ran: the lab is still there
        assert not left.missing_namespaces()
        assert left.orphaned and left.stale
    finally:
        Lab.load(name).destroy()
    assert not any(ns.startswith(name) for ns in netns.list_names())


def test_cli_lab_kept_by_up_is_not_orphaned(lab_factory, capsys):
    lab_factory()
    # `lab up` exits at once; its lab must stay usable and not look stale
    code = ("import sys; from xdpmtcp.lab import cli; "
            "sys.exit(cli.main(['lab', 'up', '--prefix', 'xmcli', '--json']))")
    out = run_python(code)
    name = json.loads(out)["name"]
    try:
        kept = Lab.load(name)
        assert not kept.orphaned and not kept.stale
        assert ping(kept.stack, kept.peer.ip).returncode == 0
    finally:
        Lab.load(name).destroy()
