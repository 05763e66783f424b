"""Publishing a running endpoint context on its control socket: one call
for the long-running verbs and mtcp_create_context."""
import atexit

from ..phy import PcapTap
from .describe import ContextDescription
from .server import ControlServer


class PortCapture:
    """Capture on demand (`xdpmtcp trace --pcap`): every frame the ports
    receive and send, to path (path.IFNAME for the second interface on)."""

    def __init__(self, netifs):
        self.netifs = netifs          # callable: [NetIf]
        self.taps = []                # [(port, PcapTap)] this channel started

    def __call__(self, path, max_bytes=0):
        if path is None:
            done = [tap.path for _, tap in self.taps]
            for port, tap in self.taps:
                port.remove(tap)
            self.taps = []
            return "stopped: %s" % (", ".join(done) or "nothing was being captured")
        if self.taps:
            raise OSError("already capturing to %s" % ", ".join(t.path for _, t in self.taps))
        ports = [n.port for n in self.netifs() if n.port is not None]
        for port in ports:
            busy = port.installed(PcapTap)
            if busy:       # the C port has one pcap slot
                raise OSError("the port already writes %s (--pcap)" % busy[0].path)
        for k, port in enumerate(ports):
            tap = PcapTap(path if k == 0 else "%s.%s" % (path, self.netifs()[k].ifname), max_bytes)
            port.add(tap)
            self.taps.append((port, tap))
        return "capturing to %s" % ", ".join(t.path for _, t in self.taps)


def publish_endpoint(role, pairs):
    """Open the control socket of a context whose engines and interfaces
    pairs() lists, serviced by the first engine's housekeeping.  Returns
    the server (close() it; an exit closes it too)."""
    engines = lambda: [e for e, _ in pairs()]
    netifs = lambda: [n for _, n in pairs()]
    ifnames = [n.ifname for n in netifs()]
    server = ControlServer(ifnames, ContextDescription(role, pairs), engines,
                           capture=PortCapture(netifs)).open()
    first = engines()[0]
    first.housekeeping.append(server.service)
    atexit.register(server.close)
    return server
