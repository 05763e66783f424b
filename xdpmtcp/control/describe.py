"""What a running endpoint context says about itself on its control
socket: process, namespace, and per interface the XDP program (mode,
counters), the AF_XDP port's gauges, owned ports, the engine's counters and
listeners.  Built on request, in the context's loop (a few dozen C calls
and one bpf() lookup per XDP counter: no per-connection work here)."""
import dataclasses
import os
import sys
import time
from pathlib import Path

from pyroute2.netns import NETNS_RUN_DIR

from ..kernel import runstate
from ..kernel.channels import channels
from ..kernel.rss import rss_summary

NETNS_DIR = Path(NETNS_RUN_DIR)          # where `ip netns` names namespaces


def netns_name():
    """The `ip netns` name of this thread's namespace, or "" (the host's,
    or one without a name)."""
    try:
        here = os.stat("/proc/thread-self/ns/net")
        for entry in NETNS_DIR.iterdir():
            st = entry.stat()
            if (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino):
                return entry.name
    except OSError:
        pass
    return ""


def describe_listener(lst):
    return {"addr": lst.addr or "*", "port": lst.port, "backlog": lst.backlog,
            "pending": lst.pending(), **dataclasses.asdict(lst.stats)}


def describe_interface(engine, netif):
    prog = netif.program
    return {
        "ifname": netif.ifname,
        "queue": netif.queue,
        "channels": channels(netif.ifname),
        "rss": rss_summary(netif.ifname),
        # the key the context predicts queues with, when the rss_key tunable gave it
        "rss_key": (engine.tunables.rss_key or None) if engine.rss is not None else None,
        "xdp_mode": getattr(netif.guard, "mode", None),
        "xdp_prog_id": prog.prog_id if prog is not None else None,
        "addresses": list(netif.addresses),
        "ephemeral_ports": list(prog.ephemeral) if prog is not None and prog.ephemeral else None,
        "owned_ports": sorted({port for _, port in netif.listening}),
        "xdp": prog.counters() if prog is not None else {},
        "port": netif.port.stats() if netif.port is not None else {},
        "engine": engine.c_stats(),
        "python": dataclasses.asdict(engine.stats),
        "listeners": [describe_listener(lst) for lst in engine.listeners.values() if not lst.closed],
    }


class ContextDescription:
    """describe() for a ControlServer: who (computed once) and body(), the
    part that changes (interfaces, counters)."""

    def __init__(self, role, body):
        self.body = body
        self.fixed = {"role": role, "pid": os.getpid(), "argv": sys.argv,
                      "netns": runstate.netns_id(), "netns_name": netns_name(),
                      "started": time.time()}

    def __call__(self):
        out = dict(self.fixed)
        out.update(self.body())
        return out


def endpoint_body(pairs):
    """body() of an endpoint context whose (engine, netif) pairs() lists."""
    return lambda: {"interfaces": [describe_interface(e, n) for e, n in pairs()]}


def monitor_body(run, source):
    """body() of a live monitor (monitor.runner.MonitorRun on a LiveInput)."""
    def body():
        stats = source.stats()
        return {"interfaces": [{"ifname": name, "input": stats.get(name, {}) if isinstance(stats, dict) else {}}
                               for name in source.ifaces],
                "monitor": run.mon.stats(), "connections_ended": run.connections,
                "errors": dict(run.errors), "frames": run.frames}
    return body
