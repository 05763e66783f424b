"""Publishing a running endpoint context on its control socket: one call
for the long-running verbs and mtcp_create_context."""
import atexit
import errno

from ..phy import PcapTap
from .describe import ContextDescription, endpoint_body, monitor_body
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
        nifs = [n for n in self.netifs() if n.port is not None]
        for nif in nifs:
            busy = nif.port.installed(PcapTap)
            if busy:       # the C port has one pcap slot
                raise OSError("the port already writes %s (--pcap)" % busy[0].path)
        for k, nif in enumerate(nifs):
            tap = PcapTap(path if k == 0 else "%s.%s" % (path, nif.ifname), max_bytes)
            nif.port.add(tap)
            self.taps.append((nif.port, tap))
        return "capturing to %s" % ", ".join(t.path for _, t in self.taps)


class Published:
    """What publish_endpoint opened: the control socket and, with
    metrics_port set, the metrics endpoint.  close() undoes both."""

    def __init__(self, server, metrics):
        self.server = server
        self.metrics = metrics

    def close(self):
        atexit.unregister(self.close)      # the exit hook would keep the context alive
        self.server.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None


def publish_endpoint(role, pairs):
    """Open the control socket of a context whose engines and interfaces
    pairs() lists (and its metrics endpoint when the tunables ask), both
    fed by the first engine's housekeeping.  Returns a Published (close()
    it; an exit closes it too)."""
    engines = lambda: [e for e, _ in pairs()]
    netifs = lambda: [n for _, n in pairs()]
    ifnames = [n.ifname for n in netifs()]
    describe = ContextDescription(role, endpoint_body(pairs))
    server = ControlServer(ifnames, describe, engines, capture=PortCapture(netifs)).open()
    first = engines()[0]
    first.housekeeping.add(server.service)
    metrics = None
    t = first.tunables
    if t.metrics_port:
        from .metrics import MetricsExporter     # prometheus-client only when asked
        lo, hi = t.ephemeral_ports
        if lo <= t.metrics_port <= hi:
            server.close()
            raise OSError(errno.EINVAL, "metrics port %d is in the stack's ephemeral range %d-%d "
                          "(XDP steers it to the stack, not the kernel)" % (t.metrics_port, lo, hi))
        try:
            metrics = MetricsExporter(describe, t.metrics_addr, t.metrics_port)
        except OSError as e:
            server.close()
            raise OSError(e.errno, "metrics on %s:%d: %s" % (t.metrics_addr, t.metrics_port, e.strerror)) from None
        first.housekeeping.add(metrics.refresh)
    published = Published(server, metrics)
    atexit.register(published.close)
    return published


def publish_monitor(run, source):
    """Open the control socket of a live monitor (a MonitorRun reading a
    LiveInput): `xdpmtcp trace` shows its flows, both sides' states.
    Serviced between bursts.  Returns a Published (close() it)."""
    from .monitor_rows import flow_rows
    server = ControlServer(source.ifaces, ContextDescription("monitor", monitor_body(run, source)),
                           flows=lambda: flow_rows(run.mon)).open()
    run.housekeeping.add(server.service)
    published = Published(server, None)
    atexit.register(published.close)
    return published
