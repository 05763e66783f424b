"""Python face of the C monitor core (xdpmtcp/_core/include/api_mon.h).

One ``xc_mon_process`` call per burst; the events come back as plain
tuples unpacked in one go (``struct.iter_unpack``), never one C call per
event.  Flow objects are read on demand (connection start/end), not per
packet.
"""
import enum
import ipaddress
import struct
import weakref

from .._core import ffi, lib
from ..storage.ring import POLICIES
from ..tcp.state import TcpState as EngineState
from ..tunables import DEFAULTS

EVENT = struct.Struct("<IIIBBHQQII")
assert EVENT.size == ffi.sizeof("struct xc_mon_event")

CLI, SVR, BOTH, NOSIDE = lib.XC_MON_CLI, lib.XC_MON_SVR, lib.XC_MON_BOTH, lib.XC_MON_NOSIDE
HK_NULL, HK_RCV, HK_SND = lib.XC_MON_HK_NULL, lib.XC_MON_HK_RCV, lib.XC_MON_HK_SND


class Ev(enum.IntFlag):
    PKT_IN = lib.XC_MON_EV_PKT_IN
    CONN_START = lib.XC_MON_EV_CONN_START
    NEW_DATA = lib.XC_MON_EV_NEW_DATA
    ERROR = lib.XC_MON_EV_ERROR
    TIMEOUT = lib.XC_MON_EV_TIMEOUT
    STATE = lib.XC_MON_EV_STATE
    ORPHAN = lib.XC_MON_EV_ORPHAN
    REXMIT = lib.XC_MON_EV_REXMIT
    CONN_END = lib.XC_MON_EV_CONN_END
    DATA = lib.XC_MON_EV_DATA
    GAP = lib.XC_MON_EV_GAP
    OVERLAP = lib.XC_MON_EV_OVERLAP


EV_ALL = lib.XC_MON_EV_ALL


# mOS's enum tcpstate (mos_getsockopt.3): the engine's states with the
# page's TCP_ names, values declared once (api_tcp.h).
TcpState = enum.IntEnum("TcpState", [("TCP_" + s.name, s.value) for s in EngineState],
                        module=__name__)
TcpState.__doc__ = "mOS's enum tcpstate (mos_getsockopt.3), values 0..10."


ERRORS = {lib.XC_MON_ERR_OUTRUN: "outrun", lib.XC_MON_ERR_MEMORY: "memory",
          lib.XC_MON_ERR_FRAGS: "fragments", lib.XC_MON_ERR_BAD_RST: "bad_rst",
          lib.XC_MON_ERR_BAD_SYN: "bad_syn"}
END_REASONS = {lib.XC_MON_END_FIN: "fin", lib.XC_MON_END_RST: "rst",
               lib.XC_MON_END_TIMEOUT: "timeout", lib.XC_MON_END_EVICTED: "evicted",
               lib.XC_MON_END_FLUSH: "end_of_input", lib.XC_MON_END_REUSED: "reused"}
TABLE_POLICIES = {"evict": lib.XC_MON_TABLE_EVICT, "refuse": lib.XC_MON_TABLE_REFUSE}
STAT_FIELDS = [name for name, _ in ffi.typeof("struct xc_mon_stats").fields]
SIDE_COUNTERS = ("pkts", "ip_bytes", "payload_bytes", "rexmit_pkts", "rexmit_bytes",
                 "delivered", "gap_bytes", "unbuffered", "overlaps", "overlap_bytes",
                 "outrun_bytes", "seen_end")


def ip_of(addr_be):
    """A network-order u32 as read through cffi (host integer) -> text."""
    return str(ipaddress.IPv4Address(addr_be.to_bytes(4, "little")))


def flow_ips(f):
    """(client, server) addresses of a flow (struct xc_mon_flow *) as text,
    IPv4 or IPv6."""
    if f.v6:
        return (str(ipaddress.IPv6Address(bytes(f.cli_ip6))),
                str(ipaddress.IPv6Address(bytes(f.svr_ip6))))
    return ip_of(f.cli_addr), ip_of(f.svr_addr)


def endpoint_text(ip, port):
    """'198.18.0.1:80', '[2001:db8::1]:80'."""
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def port_of(port_be):
    return int.from_bytes(port_be.to_bytes(2, "little"), "big")


class Monitor:
    """The C core with its configuration; see api_mon.h for every knob.

    ``feed(burst)`` yields one list of event tuples per C call (several when
    the core stops early for room); handle each list before asking for the
    next: DATA events point into ``out()``, which the next call reuses, and
    a flow that ended is freed by the next call.
    """

    def __init__(self, *, max_flows=DEFAULTS.monitor_max_flows, table_policy="evict",
                 buf_cap=DEFAULTS.monitor_buf, frag_cap=256, mem_max=DEFAULTS.monitor_mem_max,
                 overlap="first", midstream=False, drain=True, out_cap=40 << 20, events=EV_ALL,
                 idle_timeout=DEFAULTS.monitor_idle_timeout,
                 close_timeout=DEFAULTS.monitor_close_timeout, linger=2.0, verify_csum=False,
                 step=False, ack_gaps=True):
        cfg = ffi.new("struct xc_mon_config *")
        lib.xc_mon_config_default(cfg)
        cfg.max_flows = max_flows
        cfg.table_policy = TABLE_POLICIES[table_policy]
        cfg.buf_cap = buf_cap
        cfg.frag_cap = frag_cap
        cfg.mem_max = mem_max
        cfg.overlap = POLICIES[overlap] if isinstance(overlap, str) else int(overlap)
        cfg.flags = ((lib.XC_MON_F_MIDSTREAM if midstream else 0)
                     | (lib.XC_MON_F_DRAIN if drain else 0)
                     | (lib.XC_MON_F_VERIFY_CSUM if verify_csum else 0)
                     | (lib.XC_MON_F_STEP if step else 0)
                     | (0 if ack_gaps else lib.XC_MON_F_NO_ACK_GAPS))
        cfg.event_mask = int(events)
        cfg.out_cap = out_cap if drain else 0
        cfg.idle_timeout_ns = int(idle_timeout * 1e9)
        cfg.close_timeout_ns = int(close_timeout * 1e9)
        cfg.linger_ns = int(linger * 1e9)
        raw = lib.xc_mon_new(cfg)
        if raw == ffi.NULL:
            raise ValueError("impossible monitor configuration (or out of memory)")
        self._m = raw
        self._fin = weakref.finalize(self, lib.xc_mon_free, raw)
        self.config = cfg
        self.nev = max(8192, 2 * lib.xc_mon_events_min(raw))
        self._ev = ffi.new("struct xc_mon_event[]", self.nev)
        self._evbuf = ffi.buffer(self._ev)
        outp = lib.xc_mon_out(raw)
        self._out = (memoryview(ffi.buffer(outp, cfg.out_cap))
                     if outp != ffi.NULL else memoryview(b""))

    @property
    def raw(self):
        return self._m

    def close(self):
        self._fin()

    def _unpack(self, n):
        return list(EVENT.iter_unpack(self._evbuf[:n * EVENT.size])) if n else []

    def _calls(self, call):
        while True:
            n = call()
            if n < 0:
                raise ValueError("monitor call failed")
            yield self._unpack(n)
            if not lib.xc_mon_busy(self._m):
                return

    def feed(self, burst, now_ns=0):
        """Run one burst through the core; yields lists of event tuples
        (kind, flow, pkt, side, hook, code, arg, val, pos, pad)."""
        return self._calls(lambda: lib.xc_mon_process(self._m, burst.raw, self._ev,
                                                      self.nev, now_ns))

    def expire(self, now_ns=0):
        return self._calls(lambda: lib.xc_mon_expire(self._m, self._ev, self.nev, now_ns))

    def flush(self):
        """End every live flow (end of input); yields event lists."""
        return self._calls(lambda: lib.xc_mon_flush(self._m, self._ev, self.nev))

    def out(self, pos, n):
        """The bytes of a DATA event (valid until the next call)."""
        return self._out[pos:pos + n]

    def set_filter(self, flt):
        """Follow only flows a monitor.filter.Filter accepts (the packet
        filter VM in C, once per flow); None removes it."""
        prog = None if flt is None or flt.tree is None else flt.compiled()
        if lib.xc_mon_set_filter(self._m, ffi.NULL if prog is None else prog.raw) < 0:
            raise ValueError("the core refused the filter program")

    def flow(self, flow_id):
        p = lib.xc_mon_flow_get(self._m, flow_id)
        return None if p == ffi.NULL else p

    def lookup(self, a1, p1, a2, p2):
        """The flow of a 4-tuple (text addresses, IPv4 or IPv6, int ports),
        either direction."""
        a1, a2 = ipaddress.ip_address(a1), ipaddress.ip_address(a2)

        def be16(p):
            return int.from_bytes(p.to_bytes(2, "big"), "little")
        if a1.version != a2.version:
            return None
        if a1.version == 6:
            p = lib.xc_mon_lookup6(self._m, a1.packed, be16(p1), a2.packed, be16(p2))
        else:
            p = lib.xc_mon_lookup(self._m, int.from_bytes(a1.packed, "little"), be16(p1),
                                  int.from_bytes(a2.packed, "little"), be16(p2))
        return None if p == ffi.NULL else p

    def flow_count(self):
        return lib.xc_mon_flow_count(self._m)

    def stats(self):
        s = ffi.new("struct xc_mon_stats *")
        lib.xc_mon_get_stats(self._m, s)
        return {name: getattr(s, name) for name in STAT_FIELDS}


def side_summary(side):
    """Counters and state of one emulated endpoint (struct xc_mon_side)."""
    d = {name: int(getattr(side, name)) for name in SIDE_COUNTERS}
    d["state"] = TcpState(side.state).name[4:]
    d["sflags"] = int(side.sflags)
    d["ring"] = {"read_off": int(side.rcv.read_off), "next_off": int(side.rcv.next_off),
                 "cap": int(side.rcv.cap), "overlap_conflicts": int(side.rcv.stats.overlap_conflicts)}
    return d


def flow_summary(f):
    """A snapshot of a flow (struct xc_mon_flow *) as plain Python."""
    return {
        "id": int(f.id), "uid": int(f.uid),
        "client": (flow_ips(f)[0], port_of(f.cli_port)),
        "server": (flow_ips(f)[1], port_of(f.svr_port)),
        "first_ns": int(f.first_ns), "last_ns": int(f.last_ns),
        "history": ffi.string(f.history).decode(),
        "midstream": bool(f.fflags & lib.XC_MON_FF_MIDSTREAM),
        "roles_guessed": bool(f.fflags & lib.XC_MON_FF_ROLES_GUESSED),
        "end_reason": END_REASONS.get(int(f.end_reason)),
        "cli": side_summary(f.side[CLI]),
        "svr": side_summary(f.side[SVR]),
    }
