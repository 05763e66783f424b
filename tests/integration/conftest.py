import shutil
import socket
import threading

import pytest

from xdpmtcp.lab.fixtures import require
from xdpmtcp.netif import NetIf
from xdpmtcp.responder import EchoResponder




def bpf_problem():
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "BCC (python3-bpfcc) is not importable"
    return None


@pytest.fixture
def netif(lab):
    """The stack's interface in the lab, XDP attached and AF_XDP bound."""
    problem = bpf_problem()
    require(problem is None, problem or "")
    with lab.stack.enter():
        nif = NetIf(lab.stack.ifname).open()
    yield nif
    with lab.stack.enter():
        nif.close()


@pytest.fixture
def responder(netif):
    """Echo responder on tcp/8080, running in a thread until the test ends."""
    netif.listen(8080)
    seen = []
    r = EchoResponder(netif, 8080, on_segment=seen.append)
    r.seen = seen
    stop = threading.Event()
    t = threading.Thread(target=r.run, kwargs={"stop": stop}, daemon=True)
    t.start()
    yield r
    stop.set()
    t.join(5)


@pytest.fixture
def need_tool():
    def check(name):
        require(shutil.which(name) is not None, "%s is not installed" % name)
    return check
