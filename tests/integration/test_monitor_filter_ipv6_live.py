"""IPv6 flows follow the monitor's --filter, live on a veth through its
XDP program (inline between client and server): two kernel-to-kernel
IPv6 transfers from two addresses of the client, `--filter 'host <one of
them>'`: the matching flow is reassembled byte for byte in both
directions; the other's frames are judged not to match in XDP
(xdp_filtered) and forwarded, and it is never a followed flow."""
import hashlib
import json
import subprocess

import pytest

from xdpmtcp.lab.probes import SYSTEM_PYTHON

from test_monitor_inline import finish, ifaces, start_in_monitor, wait_ready
from test_monitor_real_captures import TRANSFER6

pytestmark = pytest.mark.integration

KEPT, DROPPED, SERVER = "2001:db8:7a::1", "2001:db8:7a::3", "2001:db8:7a::2"
SENT, REPLY = 300_000, 100_000

# TRANSFER6's client bound to a source address first
CLIENT_FROM = TRANSFER6.replace(
    "c = socket.create_connection((ip, port), timeout=60)",
    "c = socket.create_connection((ip, port), timeout=60, source_address=(sys.argv[5], 0))")


def transfer(stack, peer, src, port):
    srv = peer.popen([SYSTEM_PYTHON, "-c", TRANSFER6, "server", SERVER, str(port), str(REPLY)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(srv.stdout.readline())["ready"]
    cli = stack.run([SYSTEM_PYTHON, "-c", CLIENT_FROM, "client", SERVER, str(port), str(SENT),
                     src], timeout=90)
    assert cli.returncode == 0, cli.stderr
    out, err = srv.communicate(timeout=60)
    assert srv.returncode == 0, err
    c, s = json.loads(cli.stdout.splitlines()[-1]), json.loads(out.splitlines()[-1])
    assert c["received_sha256"] == s["sent_sha256"] and s["received_sha256"] == c["sent_sha256"]
    return c, s


def test_an_ipv6_host_filter_keeps_one_flow_and_drops_the_other_in_xdp(inline_lab, tmp_path):
    lab = inline_lab
    client, server = lab.host("client"), lab.host("server")
    a, b = ifaces(lab)
    for h in (client, server):      # the lab turns IPv6 off on its interfaces
        h.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=0" % h.ifname], check=True)
    for addr in (KEPT, DROPPED):
        client.run(["ip", "-6", "addr", "add", addr + "/64", "dev", client.ifname, "nodad"],
                   check=True)
    server.run(["ip", "-6", "addr", "add", SERVER + "/64", "dev", server.ifname, "nodad"],
               check=True)
    out_dir = tmp_path / "out"
    p = start_in_monitor(lab, ["-m", "xdpmtcp", "monitor", "--iface", a, "--inline", b, "--json",
                               "--filter", "host " + KEPT, "--streams", str(out_dir),
                               "--duration", "8", "--idle-timeout", "60", "--backend", "xdp"])
    wait_ready(p)
    kept_c, kept_s = transfer(client, server, KEPT, 5001)
    transfer(client, server, DROPPED, 5002)
    lines = finish(p)
    conns = [l for l in lines if l["event"] == "conn"]
    assert [(c["id.orig_h"], c["id.resp_h"], c["id.resp_p"], c["conn_state"]) for c in conns] \
        == [(KEPT, SERVER, 5001, "SF")]
    index = json.load(open(out_dir / "index.json"))
    (flow,) = index["flows"]
    c2s = (out_dir / flow["c2s"]["file"]).read_bytes()
    s2c = (out_dir / flow["s2c"]["file"]).read_bytes()
    assert hashlib.sha256(c2s).hexdigest() == kept_c["sent_sha256"] and len(c2s) == SENT
    assert hashlib.sha256(s2c).hexdigest() == kept_s["sent_sha256"] and len(s2c) == REPLY
    mon = lines[-1]["monitor"]
    # the dropped flow is tracked silently by the core, never followed
    assert mon["flows_ipv6"] == 2 and mon["flows_filtered"] == 1, mon
    # inline, every frame is handed over and forwarded; XDP judged the
    # dropped flow's frames (400 kB: hundreds) as not matching
    st = lines[-1]["input"][a]
    assert st["xdp_redirected"] == st["xdp_seen"] and st["xdp_filtered"] > 100, st
