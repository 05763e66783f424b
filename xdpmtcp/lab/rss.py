"""RSS for the multi-queue lab's veth: bpf/lab_rss.c on the peer's egress.

A NIC spreads received frames over its RX queues by the Toeplitz hash of
their 4-tuple; veth delivers a frame on the RX queue numbered as the TX
queue the sending kernel picked, which for TCP follows the socket's random
txhash.  The emulator, a tc (clsact) egress program on the peer's end, sets
each IPv4 TCP frame's hash so that the sender's queue pick is the queue RSS
with the given key and the default indirection table would choose: the
stack's end then receives as if a NIC with that key were in front of it.

The program is attached by tc netlink, which holds it: it stays attached
when the process that loaded it exits (`xdpmtcp lab up`), and goes with
the veth when the lab is destroyed.
"""
import ctypes as ct

from pyroute2 import IPRoute

from ..tcp.rss import DEFAULT_TABLE
from ..xdp.bcc_env import BPF_DIR, kernel_headers_note
from . import netns

SOURCE = BPF_DIR / "lab_rss.c"
FUNC_NAME = "lab_rss"
EGRESS_PARENT = 0xFFFFFFF3          # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
FILTER_PRIO = 1


class RssEmulatorError(RuntimeError):
    """The emulator could not be built or attached."""


class RssEmulator:
    """bpf/lab_rss.c built for one key and queue count, attached on the
    egress of ``ifname`` in namespace ``ns``."""

    def __init__(self, ns: str, ifname: str, key: bytes, queues: int,
                 table: int = DEFAULT_TABLE):
        if len(key) < 20:
            raise ValueError("the emulator needs a key of at least 20 bytes")
        if not 1 <= queues <= table:
            raise ValueError("queues %d: want 1..%d" % (queues, table))
        self.ns, self.ifname = ns, ifname
        self.key, self.queues, self.table = bytes(key), queues, table
        self.bpf = None
        self.fn = None

    def build(self) -> "RssEmulator":
        kernel_headers_note()
        from bcc import BPF  # only the multi-queue lab needs BCC
        key = "{%s}" % ",".join("0x%02x" % b for b in self.key)
        try:
            self.bpf = BPF(src_file=str(SOURCE).encode(), cflags=[
                "-w", "-DLAB_KEY=%s" % key, "-DLAB_QUEUES=%d" % self.queues,
                "-DLAB_TABLE=%d" % self.table])
            self.fn = self.bpf.load_func(FUNC_NAME.encode(), BPF.SCHED_CLS)
        except Exception as e:  # BCC raises bare Exceptions
            raise RssEmulatorError("cannot build %s: %s" % (SOURCE.name, e)) from e
        return self

    def attach(self) -> "RssEmulator":
        if self.fn is None:
            self.build()
        with netns.in_netns(self.ns), IPRoute() as ipr:
            index = ipr.link_lookup(ifname=self.ifname)[0]
            ipr.tc("add", "clsact", index)
            ipr.tc("add-filter", "bpf", index, ":1", fd=self.fn.fd, name=self.fn.name,
                   parent=EGRESS_PARENT, prio=FILTER_PRIO, classid=1, direct_action=True)
        return self

    def counters(self) -> dict:
        """{"steered": frames given a hash, "passed": frames left alone}."""
        if self.bpf is None:
            return {}
        c = self.bpf[b"counters"]
        return {"steered": int(c[ct.c_int(0)].value), "passed": int(c[ct.c_int(1)].value)}

    def close(self) -> None:
        """Drop this process's handle; the attached filter stays (tc holds
        it) until detach() or the interface goes."""
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None
            self.fn = None


def attached(ns: str, ifname: str) -> bool:
    """True when a lab_rss filter sits on the egress of ns/ifname."""
    if not netns.exists(ns):
        return False
    with netns.in_netns(ns), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            return False
        try:
            filters = ipr.get_filters(index=found[0], parent=EGRESS_PARENT)
        except Exception:  # no clsact qdisc: nothing attached
            return False
    for f in filters:
        opts = f.get_attr("TCA_OPTIONS")
        name = opts.get_attr("TCA_BPF_NAME") if opts is not None else None
        if name and name.startswith(FUNC_NAME):
            return True
    return False


def detach(ns: str, ifname: str) -> None:
    """Remove the clsact qdisc (and with it the emulator) from ns/ifname;
    nothing to do when either is gone."""
    if not netns.exists(ns):
        return
    with netns.in_netns(ns), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if found:
            try:
                ipr.tc("del", "clsact", found[0])
            except Exception:  # no clsact qdisc there
                pass
