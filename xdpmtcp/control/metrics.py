"""Prometheus metrics of a running context (prometheus-client): the
counters and gauges its control socket describes, names prefixed
`xdpmtcp_`, labelled by interface.

The HTTP server is prometheus-client's thread; it never reads the C engine.
The context's loop refreshes a copy of its description every PERIOD_NS
(a housekeeping task), and a scrape turns the latest copy into metrics."""
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import CollectorRegistry

PERIOD_NS = 1_000_000_000
# values that go up and down; every other number is a counter
GAUGES = {
    "engine": {"tcbs", "tcb_size", "buffer_bytes", "buffer_capacity", "buffer_cached", "buffer_peak"},
    "port": {"tx_in_flight"},
    "xdp": {"syn_answer_stopped"},
}
HELP = {
    "xdp": "XDP steering program: frames by verdict and SYN answering",
    "port": "AF_XDP port",
    "engine": "TCP engine (C): %s",
    "python": "TCP engine, Python slow path",
}


def families(desc):
    """Metric families from a ContextDescription() dict."""
    info = InfoMetricFamily("xdpmtcp_context", "a running xdpmtcp context",
                            labels=["iface", "queue", "xdp_mode", "role", "netns"])
    out = {}

    def add(part, name, iface, value, extra=None):
        gauge = name in GAUGES.get(part, ())
        key = (part, name)
        fam = out.get(key)
        if fam is None:
            metric = "xdpmtcp_%s_%s" % (part, name)
            labels = ["iface"] + sorted(extra or {})
            doc = "%s (%s)" % (HELP.get(part, part).replace(": %s", ""), name)
            fam = out[key] = (GaugeMetricFamily(metric, doc, labels=labels) if gauge
                              else CounterMetricFamily(metric, doc, labels=labels))
        fam.add_metric([iface] + [str(extra[k]) for k in sorted(extra or {})], value)

    for itf in desc.get("interfaces", []):
        iface = itf["ifname"]
        info.add_metric([iface, str(itf.get("queue")), str(itf.get("xdp_mode")), desc.get("role", ""),
                         desc.get("netns_name", "")], {"pid": str(desc.get("pid", ""))})
        for part in ("xdp", "port", "engine", "python"):
            for name, value in itf.get(part, {}).items():
                if isinstance(value, (int, float)):
                    add(part, name, iface, value)
        for lst in itf.get("listeners", []):
            where = {"addr": lst["addr"], "port": lst["port"]}
            for name, value in lst.items():
                if name not in ("addr", "port", "backlog") and isinstance(value, (int, float)):
                    add("listener", name if name != "pending" else "accept_queue", iface, value, where)
    yield info
    yield from out.values()


class MetricsExporter:
    """Serves the latest description on addr:port; refresh(now) is the
    housekeeping task that takes a new one."""

    def __init__(self, describe, addr, port):
        # not self.describe: a registry calls a collector's describe()
        self._context = describe
        self.latest = {}
        self._due = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.server, self.thread = start_http_server(port, addr=addr, registry=self.registry)
        self.port = self.server.server_port

    def collect(self):               # prometheus-client's thread
        return families(self.latest)

    def refresh(self, now_ns):       # the context's loop
        if now_ns >= self._due:
            self.latest = self._context()
            self._due = now_ns + PERIOD_NS
        return self._due

    def close(self):
        self.server.shutdown()
        self.server.server_close()
