"""Guest-side tests: they run inside the test VM (`make vm-test`,
tools/vm/vm), where tools/vm/guest-init sets XDPMTCP_VM_GUEST=1 and
describes the NIC under test in XDPMTCP_VM_* variables.  Anywhere else
they are not collected at all (not skipped): `make test` never sees them.

The NIC under test (a virtio-net, native XDP) sits in the guest's root
namespace, named "guest" (ip netns attach) so the lab helpers can drive
it; its peer is the host's kernel on the other end of a tap, reached
through hostpeer.py on the control NIC (HostPeer below).
"""
import base64
import json
import os
import socket
import threading

import pytest

IN_GUEST = os.environ.get("XDPMTCP_VM_GUEST") == "1"
if not IN_GUEST:
    collect_ignore_glob = ["test_*.py"]


class HostPeer:
    """The host side of the guest's taps: runs the kernel peer's tools
    (curl, ping, nc) there and serves files (tools/vm/hostpeer.py)."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))

    def ask(self, timeout=60, **request):
        with socket.create_connection(self.address, 10) as s:
            s.settimeout(timeout + 10)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer = json.loads(data)
        if "error" in answer:
            raise RuntimeError("host peer: %s" % answer["error"])
        return answer

    def run(self, *argv, timeout=30):
        """{"rc", "stdout", "stderr"} of a peer tool run on the host side."""
        return self.ask(timeout=timeout, run=list(argv))

    def write(self, name, data):
        self.ask(write=name, data=base64.b64encode(data).decode())

    def serve_http(self, port, addr=None):
        self.ask(serve_http=port, addr=addr or os.environ["XDPMTCP_VM_HOST_ADDR"])

    def stop_http(self, port):
        self.ask(stop_http=port)


@pytest.fixture(scope="session")
def hostpeer():
    return HostPeer(os.environ["XDPMTCP_VM_HOSTPEER"])


@pytest.fixture(scope="session")
def guest():
    """The NIC under test as a lab Host (its namespace is the guest's root)."""
    from xdpmtcp.lab.topology import Host
    return Host(name="guest", ns=os.environ["XDPMTCP_VM_NS"], ifname=os.environ["XDPMTCP_VM_IF"],
                ip=os.environ["XDPMTCP_VM_ADDR"], prefixlen=24)


@pytest.fixture(scope="session")
def host_addr():
    return os.environ["XDPMTCP_VM_HOST_ADDR"]


@pytest.fixture
def fact():
    """Record a line for the run's summary (the host prints facts.txt)."""
    def note(line):
        print(line)
        with open(os.environ["XDPMTCP_VM_FACTS"], "a") as f:
            f.write(line + "\n")
    return note


@pytest.fixture
def kernel_server():
    """kernel_server(port, banner): a kernel TCP listener on the guest's
    address that sends banner to each client and closes (an SSH-like
    service the kernel keeps while the stack runs); stopped after the test."""
    made = []

    def start(port, banner):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((os.environ["XDPMTCP_VM_ADDR"], port))
        ls.listen(8)
        ls.settimeout(0.2)
        stop = threading.Event()
        served = []

        def loop():
            while not stop.is_set():
                try:
                    c, peer = ls.accept()
                except socket.timeout:
                    continue
                with c:
                    c.sendall(banner)
                served.append(peer)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        made.append((stop, t, ls))
        return served
    yield start
    for stop, t, ls in made:
        stop.set()
        t.join(2)
        ls.close()
