"""Contexts: mtcp_init's configuration, mctx_t (one monitoring context,
mOS: per core), its creation and end, and the checks every call makes
first (a live context, a side, the monitor's own thread)."""
import errno as E
import itertools
import threading
from typing import Any, Dict, List

from .._core import ffi, lib
from ..monitor.core import Ev, Monitor
from ..tunables import DEFAULTS
from .constants import (MOS_SIDE_BOTH, MOS_SIDE_CLI, MOS_SIDE_SVR, MOS_SOCK_MONITOR_STREAM,
                        MOS_SOCK_MONITOR_STREAM_ACTIVE)
from .errors import err
from .events import core_event_mask


class mctx_t:  # noqa: N801 (mOS's name)
    """One monitoring context (mOS: per core). Create with
    mtcp_create_context(cpu, pcap=..., pcap_out=...)."""

    def __init__(self, cpu, conf):
        self.cpu = cpu
        self.live_input = None        # live port=: opened by mtcp_create_context
        self.conf = dict(conf)
        self.thread = threading.get_ident()
        self.alive = True
        self.running = False          # inside mtcp_app_join
        self.socks: Dict[int, Any] = {}
        self.ids = itertools.count(0)
        self.max_socks = int(self.conf.get("max_concurrency", DEFAULTS.max_concurrency))
        self.mon = None
        self.actives: Dict[int, List[Any]] = {}         # C flow id -> active sockets
        self.timers = []
        self.tseq = itertools.count()
        self.clock_ns = 0
        self.source = None
        self.burst = None
        self.single = None                               # one-frame burst (raw sockets)
        self.pkt = None                                  # index of the current packet
        self.last_sender = {}                            # pkt -> sender side
        self.verdict = None
        self.injected = []
        self.last_error = None
        self.in_cb = None                                # (socket, side) of the running callback

    def start(self):
        if self.mon is not None:
            return
        overlap = self.conf.get("overlap", "first")
        self.mon = Monitor(max_flows=int(self.conf.get("max_concurrency", DEFAULTS.monitor_max_flows)),
                           buf_cap=int(self.conf.get("rcvbuf", DEFAULTS.monitor_buf)), drain=False,
                           step=True, overlap=overlap,
                           midstream=bool(self.conf.get("midstream", False)),
                           idle_timeout=float(self.conf.get("tcp_timeout",
                                                            DEFAULTS.monitor_idle_timeout)),
                           events=0)
        lib.xc_mon_listen_only(self.mon.raw)
        self.sync_core()

    # -- what the C core knows of the sockets: it raises a flow's events only
    #    when a callback of its listeners or its own sockets wants them
    #    (api_mon.h: xc_mon_listen), so Python is called for nothing else

    def listeners(self):
        return [s for s in self.socks.values() if s.type == MOS_SOCK_MONITOR_STREAM]

    def sync_core(self):
        """Listeners (slot, SYN filter, events) and the event mask, in C."""
        if self.mon is None:
            return
        listeners = self.listeners()
        mask = 0
        for ls in listeners:
            events = core_event_mask([ls])
            if ls.bufs != [None, None] or ls.overlap != [None, None]:
                events |= Ev.CONN_START        # its flows get its settings from the start
            prog = ls.syn_filter.compiled().raw if ls.syn_filter.tree is not None else ffi.NULL
            if lib.xc_mon_listen(self.mon.raw, ls.slot, prog, int(events)) < 0:
                raise ValueError("the core refused listener %d" % ls.id)
            mask |= events
        mask |= core_event_mask(s for s in self.socks.values()
                                if s.type == MOS_SOCK_MONITOR_STREAM_ACTIVE)
        if listeners:
            mask |= Ev.CONN_END                # active sockets end with their flow
        lib.xc_mon_set_event_mask(self.mon.raw, int(mask))

    def watch_flow(self, flow):
        """The flow's own sockets' events, and its end (the sockets go)."""
        own = core_event_mask(self.actives.get(flow, ())) | Ev.CONN_END
        lib.xc_mon_flow_events(self.mon.raw, flow, int(own))

    def take_slot(self):
        used = {s.slot for s in self.listeners()}
        free = [i for i in range(lib.XC_MON_MAX_LISTENERS) if i not in used]
        if not free:
            err(E.ENFILE, "mtcp_socket: %d listeners in one context" % lib.XC_MON_MAX_LISTENERS)
        return free[0]

    def release_slot(self, slot):
        if self.mon is not None:
            lib.xc_mon_unlisten(self.mon.raw, slot)
            self.sync_core()


_contexts: Dict[int, mctx_t] = {}
_conf: Dict[str, Any] = {}


def ctx_of(mctx):
    """The context, if it is one still alive (EACCES, as mos_getsockopt.3)."""
    if not isinstance(mctx, mctx_t) or not (mctx.alive or mctx.running):
        err(E.EACCES, "invalid context")
    return mctx


def check_side(side, both=False):
    if side in (MOS_SIDE_CLI, MOS_SIDE_SVR) or (both and side == MOS_SIDE_BOTH):
        return side
    err(E.EINVAL, "invalid side %r" % (side,))


def same_thread(ctx, what):
    if threading.get_ident() != ctx.thread:
        err(E.EPERM, "%s from outside the monitor's thread" % what)


_CONF_KEYS = {"pcap": str, "pcap_out": str, "port": str, "duration": float, "backend": str,
              "num_cores": int,
              "max_concurrency": int, "max_num_buffers": int, "rcvbuf": int, "sndbuf": int,
              "tcp_timeout": float, "tcp_timewait": float, "stat_print": str,
              "midstream": int, "overlap": str}


def mtcp_init(config_path=None):
    """Read an mtcp.conf-style file (KEY = VALUE lines, # comments).  Keys:
    pcap (input file), pcap_out (write what an inline monitor forwards),
    port (interface: live input, not yet), max_concurrency (flows),
    rcvbuf (bytes per side), tcp_timeout (s), midstream (0/1), overlap
    (first|last|linux|bsd|windows), and mTCP's other keys (accepted)."""
    _conf.clear()
    if config_path is None:
        return 0
    with open(config_path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, sep, value = (x.strip() for x in line.partition("="))
            if not sep or key not in _CONF_KEYS:
                raise ValueError("%s:%d: unknown setting %r" % (config_path, n, key))
            try:
                _conf[key] = _CONF_KEYS[key](value)
            except ValueError:
                raise ValueError("%s:%d: bad value %r for %s" % (config_path, n, value, key)) \
                    from None
    return 0


def mtcp_destroy():
    for ctx in list(_contexts.values()):
        mtcp_destroy_context(ctx)
    _conf.clear()


def mtcp_create_context(cpu=0, **overrides):
    """A context; keyword overrides take the config keys (pcap=...)."""
    conf = dict(_conf)
    conf.update(overrides)
    ctx = mctx_t(cpu, conf)
    if conf.get("port") and not conf.get("pcap"):
        # live: attach now, as mOS starts a context's I/O here, so that once
        # this returns the interface's frames already reach the context
        ctx.live_input = open_live(ctx)
    _contexts[id(ctx)] = ctx
    return ctx


def open_live(ctx):
    from ..monitor.source import LiveInput
    return LiveInput(str(ctx.conf["port"]).split(), stop=lambda: not ctx.alive,
                     duration=ctx.conf.get("duration"), backend=ctx.conf.get("backend", "xdp"))


def mtcp_destroy_context(mctx):
    """Ends the context; a running mtcp_app_join returns after its burst."""
    ctx = ctx_of(mctx)
    ctx.alive = False
    if not ctx.running:
        if ctx.mon is not None:
            ctx.mon.close()
        if ctx.live_input is not None:
            ctx.live_input.close()
            ctx.live_input = None
    _contexts.pop(id(ctx), None)
