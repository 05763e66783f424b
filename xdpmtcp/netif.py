"""One interface queue the stack runs on, assembled from the layers below.

Per interface, once (``InterfaceSteering``): the steering program attached
(with its guard), the ephemeral range reserved with the kernel and steered,
the listen ports owned, the SYN answerer.  Per RX queue (``NetIf``): an
AF_XDP port bound into the program's XSKMAP.  Every queue's NetIf of a
process shares the interface's steering (counted), and the worker
processes a supervisor forks (api/supervisor.py) inherit it: only the
process that attached the program ever tears it down.  Everything is undone
by ``close`` (also on exit and SIGINT/SIGTERM).
"""
import os
import socket
import threading

from pyroute2 import IPRoute

from .kernel import PortReservation
from .kernel.channels import rx_queue_count
from .kernel.rss import queue_rss
from .phy import Port
from .tunables import DEFAULTS
from .xdp import AttachGuard, SteeringProgram
from .xdp.syn_answer import SynAnswerGuard


def interface_ipv4(ifname):
    """The interface's IPv4 addresses, in this thread's netns."""
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            raise OSError("no interface %r" % ifname)
        return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=socket.AF_INET, index=idx[0])]


def interface_link(ifname):
    """(MAC as bytes, MTU) of the interface, in this thread's netns."""
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            raise OSError("no interface %r" % ifname)
        link = ipr.link("get", index=idx[0])[0]
        mac = link.get_attr("IFLA_ADDRESS")
        return bytes.fromhex(mac.replace(":", "")), link.get_attr("IFLA_MTU")


def _interface_key(ifname):
    return os.stat("/proc/thread-self/ns/net").st_ino, ifname


class InterfaceSteering:
    """The steering program on one interface and what goes with it, shared
    by every queue the stack serves there."""

    _shared = {}                  # (netns inode, ifname) -> InterfaceSteering
    _lock = threading.Lock()

    def __init__(self, ifname, tunables, force, reserve_ports):
        self.ifname = ifname
        self.tunables = tunables
        self.force = force
        self.reserve_ports = reserve_ports
        self.owner_pid = os.getpid()  # a forked worker inherits us but never tears us down
        self.users = 0
        self.program = self.guard = self.reservation = self.syn_answer = None
        self._listen_users = {}       # (addr, port) -> queues of this process listening

    @classmethod
    def acquire(cls, ifname, tunables=DEFAULTS, force=False, reserve_ports=True):
        """The interface's steering, attached on first use (this thread's netns)."""
        key = _interface_key(ifname)
        with cls._lock:
            st = cls._shared.get(key)
            if st is None or st.program is None:
                st = cls(ifname, tunables, force, reserve_ports)._open()
                cls._shared[key] = st
            st.users += 1
            return st

    @property
    def inherited(self):
        """Attached by another process (a supervisor): used, never torn down."""
        return self.owner_pid != os.getpid()

    def _open(self):
        t = self.tunables
        try:
            self.program = SteeringProgram(t.xdp_max_flows, t.xdp_max_listen, t.xdp_max_queues)
            self.guard = AttachGuard(self.program, self.ifname, t.xdp_mode, self.force).attach()
            if self.reserve_ports:
                self.reservation = PortReservation(*t.ephemeral_ports).reserve()
                # reserved: the kernel opens nothing from these ports
                self.program.own_ephemeral(*t.ephemeral_ports)
        except BaseException:
            self._teardown()
            raise
        return self

    def listen(self, port, addr=None, syn_answer=None):
        key = (addr, port)
        self._listen_users[key] = self._listen_users.get(key, 0) + 1
        self.program.own_listen(port, addr, syn_answer)

    def unlisten(self, port, addr=None):
        key = (addr, port)
        left = self._listen_users.get(key, 0) - 1
        if left > 0:
            self._listen_users[key] = left
            return
        self._listen_users.pop(key, None)
        if not self.inherited:        # other workers may listen there still
            self.program.release_listen(port, addr)

    def answer_syns(self, cookie_key, rate, burst, ttl):
        """The program answers SYNs over the budget (xdp/syn_answer.py); the
        key is the boot's, the same for every engine and worker."""
        if self.syn_answer is None:
            self.syn_answer = SynAnswerGuard(self.program, self.ifname)
            self.syn_answer.start(cookie_key, rate, burst, ttl)

    def check(self, now_ns):
        if self.syn_answer is not None:
            self.syn_answer.check(now_ns)

    def release(self):
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            if self._shared.get(_interface_key(self.ifname)) is self:
                del self._shared[_interface_key(self.ifname)]
        if self.inherited:
            if self.syn_answer is not None:
                self.syn_answer.close()
            return
        self._teardown()

    def _teardown(self):
        if self.syn_answer is not None:
            self.syn_answer.close()
        if self.program is not None:
            for addr, port in list(self._listen_users):
                self.program.release_listen(port, addr)
            self.program.release_ephemeral()
        if self.guard is not None:
            self.guard.detach()
        if self.reservation is not None:
            self.reservation.release()
        if self.program is not None:
            self.program.close()
        self.program = self.guard = self.reservation = self.syn_answer = None
        self._listen_users.clear()


class NetIf:
    def __init__(self, ifname, queue=0, tunables=DEFAULTS, force=False, reserve_ports=True):
        self.ifname = ifname
        self.queue = queue
        self.tunables = tunables
        self.force = force
        self.reserve_ports = reserve_ports
        self.steering = self.port = None
        self.listening = set()
        self.queues, self.rss = 1, None   # RX queues; RssMap for the choice of source ports
        self.remarks = []             # one-line remarks about the queues for the user

    def open(self):
        try:
            self.addresses = interface_ipv4(self.ifname)
            self.queues = rx_queue_count(self.ifname)
            self.rss, note = queue_rss(self.ifname, self.queues, self.tunables.rss_key, self.queue)
            if note:
                self.remarks.append(note)
            self.steering = InterfaceSteering.acquire(self.ifname, self.tunables, self.force,
                                                      self.reserve_ports)
            self.port = Port.open_xsk(self.ifname, self.queue, self.tunables.umem_frames)
            self.program.bind_socket(self.queue, self.port.fd)
        except BaseException:
            self.close()
            raise
        return self

    # the interface's parts, as the layers above and the status tools read them
    @property
    def program(self):
        return self.steering.program if self.steering is not None else None

    @property
    def guard(self):
        return self.steering.guard if self.steering is not None else None

    @property
    def reservation(self):
        return self.steering.reservation if self.steering is not None else None

    @property
    def notes(self):
        """One-line remarks for the user (kernel headers, replaced programs,
        reserved ports a dead stack left)."""
        out = []
        if self.program is not None and self.program.headers_note:
            out.append(self.program.headers_note)
        if self.program is not None and self.program.metadata_note:
            out.append(self.program.metadata_note)
        if self.guard is not None:
            out.extend(self.guard.notes)
        if self.reservation is not None:
            out.extend(self.reservation.notes)
        return out + self.remarks

    def listen(self, port, addr=None, syn_answer=None):
        """Steer (addr, port) to the stack; syn_answer: SteeringProgram.own_listen."""
        self.steering.listen(port, addr, syn_answer)
        self.listening.add((addr, port))

    def answer_syns(self, cookie_key, rate, burst, ttl):
        self.steering.answer_syns(cookie_key, rate, burst, ttl)

    def check(self, now_ns):
        """Periodic checks the engine's batch loop runs (cheap when not due)."""
        self.steering.check(now_ns)

    def unlisten(self, port, addr=None):
        self.steering.unlisten(port, addr)
        self.listening.discard((addr, port))

    def own_flow(self, local, remote):
        if not self.program.steers_port(local[1]):
            self.program.own_flow(local, remote)

    def release_flow(self, local, remote):
        if self.program is not None and not self.program.steers_port(local[1]):
            self.program.release_flow(local, remote)

    def close(self):
        if self.steering is not None:
            for addr, port in list(self.listening):
                self.steering.unlisten(port, addr)
            if self.program is not None:
                self.program.unbind_socket(self.queue)
        if self.port is not None:
            self.port.close()
        if self.steering is not None:
            self.steering.release()
        self.steering = self.port = None
        self.listening.clear()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
