"""One interface the stack runs on, assembled from the layers below:
steering program attached (with its guard), an AF_XDP port bound into the
XSKMAP, owned listen ports, and the ephemeral range reserved with the kernel.
Everything is undone by ``close`` (also on exit and SIGINT/SIGTERM).
"""
import socket

from pyroute2 import IPRoute

from .kernel import PortReservation
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


class NetIf:
    def __init__(self, ifname, queue=0, tunables=DEFAULTS, force=False, reserve_ports=True):
        self.ifname = ifname
        self.queue = queue
        self.tunables = tunables
        self.force = force
        self.reserve_ports = reserve_ports
        self.program = self.guard = self.port = self.reservation = self.syn_answer = None
        self.listening = set()

    def open(self):
        t = self.tunables
        try:
            self.addresses = interface_ipv4(self.ifname)
            self.program = SteeringProgram(t.xdp_max_flows, t.xdp_max_listen, t.xdp_max_queues)
            self.guard = AttachGuard(self.program, self.ifname, t.xdp_mode, self.force).attach()
            self.port = Port.open_xsk(self.ifname, self.queue, t.umem_frames)
            self.program.bind_socket(self.queue, self.port.fd)
            if self.reserve_ports:
                self.reservation = PortReservation(*t.ephemeral_ports).reserve()
                # reserved: the kernel opens nothing from these ports
                self.program.own_ephemeral(*t.ephemeral_ports)
        except BaseException:
            self.close()
            raise
        return self

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
        return out

    def listen(self, port, addr=None, syn_answer=None):
        """Steer (addr, port) to the stack; syn_answer: SteeringProgram.own_listen."""
        self.program.own_listen(port, addr, syn_answer)
        self.listening.add((addr, port))

    def answer_syns(self, cookie_key, rate, burst, ttl):
        """The program answers SYNs over the budget (xdp/syn_answer.py)."""
        if self.syn_answer is not None:       # a new engine on this interface
            self.syn_answer.close()
        self.syn_answer = SynAnswerGuard(self.program, self.ifname)
        self.syn_answer.start(cookie_key, rate, burst, ttl)

    def check(self, now_ns):
        """Periodic checks the engine's batch loop runs (cheap when not due)."""
        if self.syn_answer is not None:
            self.syn_answer.check(now_ns)

    def unlisten(self, port, addr=None):
        self.program.release_listen(port, addr)
        self.listening.discard((addr, port))

    def own_flow(self, local, remote):
        if not self.program.steers_port(local[1]):
            self.program.own_flow(local, remote)

    def release_flow(self, local, remote):
        if self.program is not None and not self.program.steers_port(local[1]):
            self.program.release_flow(local, remote)

    def close(self):
        if self.syn_answer is not None:
            self.syn_answer.close()
        if self.program is not None:
            for addr, port in list(self.listening):
                self.program.release_listen(port, addr)
            self.program.release_ephemeral()
            self.program.unbind_socket(self.queue)
        if self.port is not None:
            self.port.close()
        if self.guard is not None:
            self.guard.detach()
        if self.reservation is not None:
            self.reservation.release()
        if self.program is not None:
            self.program.close()
        self.program = self.guard = self.port = self.reservation = self.syn_answer = None
        self.listening.clear()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
