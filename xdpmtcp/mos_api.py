"""The mOS dialect of the monitor: ``from xdpmtcp.mos_api import *``.

Flat functions with mOS's names, arguments (C out-pointers become return
values) and constants; errors raise ``OSError(errno, message)`` with the
errno mOS's pages name.  Underneath: the C monitor core
(``xdpmtcp/_core/include/api_mon.h``) run one packet per call when callbacks are
registered (``XC_MON_F_STEP``), so a callback sees the flow exactly as it
is after the packet that raised its event.

Sockets.  ``mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)`` is a
listener: every flow its SYN filter accepts gets an *active* socket
(``MOS_SOCK_MONITOR_STREAM_ACTIVE``) that callbacks receive; callbacks
registered on the listener apply to all its flows, ones registered on an
active socket to that flow only.  ``MOS_SOCK_MONITOR_RAW`` sockets see
every frame (MOS_ON_PKT_IN, hook MOS_NULL), before the flow code.

Events and hooks (mOS's allowed pairs): MOS_NULL is refused for
CONN_START, REXMIT, TCP_STATE_CHANGE, CONN_END; MOS_HK_RCV/MOS_HK_SND are
refused for CONN_NEW_DATA, ORPHAN, ERROR.  Per packet: the sender's
MOS_HK_SND events (PKT_IN, CONN_START, TCP_STATE_CHANGE, REXMIT), then the
receiver's MOS_HK_RCV events (PKT_IN, CONN_START, TCP_STATE_CHANGE), with
CONN_NEW_DATA and ERROR at MOS_NULL, then CONN_END: once at MOS_HK_SND
(side = the last packet's sender, or the client) and once at MOS_HK_RCV
(the other side).  PKT_IN registered at MOS_NULL fires once per packet.
MOS_ON_TIMEOUT is raised for flows that go idle (the core's timeouts) at
MOS_NULL, and by ``mtcp_settimer`` timers.  MOS_ON_ERROR is raised for
buffer outrun (bytes dropped; the next peek returns minus their number),
overlaps with different bytes, capture gaps, memory and fragment caps,
RSTs outside the window and SYNs with another ISN;
``mos_last_error(mctx)`` says which.

User-defined events: ``mtcp_define_event(parent, filter, arg)`` makes an
event that fires, for a socket with callbacks for it, when its parent
fires and ``filter(mctx, sock, side, parent, arg)`` is true;
``mtcp_alloc_event(parent)`` one that only ``mtcp_raise_event`` fires.

Buffers.  MOS_SIDE_CLI's buffer is the client's receive buffer: what the
server sent (mOS's meaning); offsets count from the first byte after the
SYN of that byte stream.  ``tcp_buf_info`` fields are sequence numbers:
``tcpbi_init_seq`` the first byte's, ``tcpbi_last_byte_read`` the next
byte this socket's ``mtcp_peek`` returns, ``tcpbi_next_byte_expected``
the first byte not yet received in order, ``tcpbi_last_byte_received``
one past the highest byte stored (above next_byte_expected while
segments are out of order).

Nothing here exits the process: a bad side, an empty peek, a stale socket
raise the errno instead (mOS called exit()).
"""
import dataclasses
import errno as E
import heapq
import ipaddress
import itertools
import struct
import threading
from typing import Any, Callable, Dict, List, Optional

from ._core import ffi, lib
from .monitor.core import (CLI, HK_NULL, HK_RCV, HK_SND, SVR, Ev, Monitor, TcpState, ip_of,
                           port_of)
from .monitor.filter import Filter, FilterError

# Values shared with the endpoint API (xdpmtcp/api/constants.py), declared once there.
from .api.constants import (AF_INET, MOS_CLIBUF, MOS_CLIOVERLAP, MOS_FRAGINFO_CLIBUF,  # noqa: F401
                            MOS_FRAGINFO_SVRBUF, MOS_INFO_CLIBUF, MOS_INFO_SVRBUF, MOS_STOP_MON,
                            MOS_SVRBUF, MOS_SVROVERLAP, MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR,
                            SO_ERROR, SOL_MONSOCKET, SOL_SOCKET)

# socket types (mtcp_api.h enum socket_type)
MOS_SOCK_UNUSED = 0
MOS_SOCK_STREAM_LISTEN = 1
MOS_SOCK_PROXY_LISTEN = 2
MOS_SOCK_MONITOR_STREAM = 3
MOS_SOCK_STREAM = 4
MOS_SOCK_PROXY = 5
MOS_SOCK_MONITOR_STREAM_ACTIVE = 6
MOS_SOCK_MONITOR_RAW = 7

# hooks and built-in events (mos_api.h)
MOS_NULL = 1 << 29
MOS_HK_RCV = 1 << 30
MOS_HK_SND = 1 << 31
MOS_NULL_EVENT = 0
MOS_ON_PKT_IN = 1 << 0
MOS_ON_CONN_START = 1 << 2
MOS_ON_CONN_NEW_DATA = 1 << 4
MOS_ON_ERROR = 1 << 5
MOS_ON_TIMEOUT = 1 << 6
MOS_ON_TCP_STATE_CHANGE = 1 << 7
MOS_ON_ORPHAN = 1 << 8
MOS_ON_REXMIT = 1 << 9
MOS_ON_CONN_END = 1 << 10
NUM_BEV = 12
BUILTIN_EVENTS = (MOS_ON_PKT_IN, MOS_ON_CONN_START, MOS_ON_CONN_NEW_DATA, MOS_ON_ERROR,
                  MOS_ON_TIMEOUT, MOS_ON_TCP_STATE_CHANGE, MOS_ON_ORPHAN, MOS_ON_REXMIT,
                  MOS_ON_CONN_END)

MOS_SIDE_CLI, MOS_SIDE_SVR, MOS_SIDE_BOTH = 0, 1, 2

MOS_TIMESTAMP = 0x07
MOS_SEQ_REMAP = 0x0b
MOS_FRAG_CLIBUF = 0x0d
MOS_FRAG_SVRBUF = 0x0e

MOS_OVERLAP_POLICY_FIRST = 0
MOS_OVERLAP_POLICY_LAST = 1
# extensions: target-based reassembly as the receiving OS would do it
MOS_OVERLAP_POLICY_LINUX = 2
MOS_OVERLAP_POLICY_BSD = 3
MOS_OVERLAP_POLICY_WINDOWS = 4

# mtcp_setlastpkt options
MOS_ETH_HDR = 1 << 0
MOS_IP_HDR = 1 << 1
MOS_TCP_HDR = 1 << 2
MOS_TCP_PAYLOAD = 1 << 3
MOS_UPDATE_IP_CHKSUM = 1 << 4
MOS_UPDATE_TCP_CHKSUM = 1 << 5
MOS_DROP = 1 << 6
MOS_OVERWRITE = 1 << 7
MOS_CHOMP = 1 << 8
MOS_INSERT = 1 << 9

tcpstate = TcpState
TCP_CLOSED, TCP_LISTEN, TCP_SYN_SENT, TCP_SYN_RCVD, TCP_ESTABLISHED = range(5)
TCP_FIN_WAIT_1, TCP_FIN_WAIT_2, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_LAST_ACK, TCP_TIME_WAIT = range(5, 11)


@dataclasses.dataclass
class tcp_ring_fragment:  # noqa: N801 (mOS's name)
    offset: int
    len: int


@dataclasses.dataclass
class tcp_buf_info:  # noqa: N801
    tcpbi_init_seq: int
    tcpbi_last_byte_read: int
    tcpbi_next_byte_expected: int
    tcpbi_last_byte_received: int


@dataclasses.dataclass
class monitor_filter:  # noqa: N801
    stream_syn_filter: Optional[str] = None
    stream_orphan_filter: Optional[str] = None
    raw_pkt_filter: Optional[str] = None


@dataclasses.dataclass
class timeval:  # noqa: N801
    tv_sec: int = 0
    tv_usec: int = 0


@dataclasses.dataclass
class pkt_info:  # noqa: N801
    """The packet an event came with (a copy: see mtcp_setlastpkt)."""
    cur_ts: int            # ms
    in_ifidx: int
    eth_len: int
    ip_len: int
    offset: int            # stream offset of the payload in the receiver's buffer
    payloadlen: int
    seq: int
    ack_seq: int
    window: int
    frame: bytes
    ip_off: int            # where the headers start in frame
    tcp_off: int
    payload_off: int

    @property
    def ethh(self):
        return self.frame[:self.ip_off]

    @property
    def iph(self):
        return self.frame[self.ip_off:self.tcp_off]

    @property
    def tcph(self):
        return self.frame[self.tcp_off:self.payload_off]

    @property
    def payload(self):
        return self.frame[self.payload_off:self.payload_off + self.payloadlen]


def _err(code, what):
    raise OSError(code, "%s: %s" % (what, E.errorcode.get(code, code)))


# ---------------------------------------------------------------- events

class _Ude:
    __slots__ = ("id", "parent", "root", "filter", "arg")

    def __init__(self, id_, parent, root, flt, arg):
        self.id, self.parent, self.root, self.filter, self.arg = id_, parent, root, flt, arg


_udes: Dict[int, _Ude] = {}
_ude_children: Dict[int, List[_Ude]] = {}
_ude_ids = itertools.count(1 << 32)
_ude_lock = threading.Lock()


def _root_of(event):
    if event in BUILTIN_EVENTS:
        return event
    u = _udes.get(event)
    return u.root if u else None


def mtcp_define_event(event, filter, arg=None):  # noqa: A002 (mOS's name)
    """A user-defined event: fires when `event` does and filter(mctx, sock,
    side, event, arg) is true.  Returns its id."""
    if _root_of(event) is None:
        _err(E.EINVAL, "mtcp_define_event: no such event %r" % event)
    if filter is not None and not callable(filter):
        _err(E.EINVAL, "mtcp_define_event: the filter is not callable")
    with _ude_lock:
        u = _Ude(next(_ude_ids), event, _root_of(event), filter, arg)
        _udes[u.id] = u
        _ude_children.setdefault(event, []).append(u)
    return u.id


def mtcp_alloc_event(event):
    """A child event only mtcp_raise_event fires."""
    return mtcp_define_event(event, None, None)


# ---------------------------------------------------------------- sockets

class _Sock:
    def __init__(self, sid, kind, listener=None, flow=None):
        self.id = sid
        self.type = kind
        self.listener = listener          # active: its listener's id
        self.flow = flow                  # active: C flow id
        self.uid = None
        self.callbacks: Dict[tuple, Callable] = {}
        self.uctx = None
        self.syn_filter = Filter(None)
        self.orphan_filter = Filter(None)
        self.raw_filter = Filter(None)
        self.peek = [0, 0]                # active: next offset mtcp_peek returns, per side
        self.stopped = [False, False]
        self.bufs = [None, None]          # listener: buffer size for new flows, per side
        self.overlap = [None, None]
        self.addrs = None                 # active: ((cli ip, port), (svr ip, port))
        self.closed = False


class mctx_t:  # noqa: N801 (mOS's name)
    """One monitoring context (mOS: per core). Create with
    mtcp_create_context(cpu, pcap=..., pcap_out=...)."""

    def __init__(self, cpu, conf):
        self.cpu = cpu
        self.live_input = None        # live port=: opened by mtcp_create_context
        self.conf = dict(conf)
        self.thread = threading.get_ident()
        self.alive = True
        self.socks: Dict[int, _Sock] = {}
        self._ids = itertools.count(0)
        self.max_socks = int(self.conf.get("max_concurrency", 10000))
        self.mon = None
        self.actives: Dict[int, List[_Sock]] = {}        # C flow id -> active sockets
        self.timers = []
        self._tseq = itertools.count()
        self.clock_ns = 0
        self.burst = None
        self.pkt = None                                  # index of the current packet
        self.last_sender = {}                            # pkt -> sender side
        self.verdict = None
        self.injected = []
        self.last_error = None
        self._writer = None

    def _start(self):
        if self.mon is not None:
            return
        overlap = self.conf.get("overlap", "first")
        self.mon = Monitor(max_flows=int(self.conf.get("max_concurrency", 65536)),
                           buf_cap=int(self.conf.get("rcvbuf", 1 << 20)), drain=False,
                           step=True, overlap=overlap,
                           midstream=bool(self.conf.get("midstream", False)),
                           idle_timeout=float(self.conf.get("tcp_timeout", 30)),
                           events=self._event_mask())

    def _event_mask(self):
        m = Ev.CONN_START | Ev.CONN_END
        for s in self.socks.values():
            for (ev, _hook) in s.callbacks:
                root = _root_of(ev) or 0
                m |= {MOS_ON_PKT_IN: Ev.PKT_IN, MOS_ON_CONN_NEW_DATA: Ev.NEW_DATA,
                      MOS_ON_ERROR: Ev.ERROR | Ev.OVERLAP | Ev.GAP, MOS_ON_TIMEOUT: Ev.TIMEOUT,
                      MOS_ON_TCP_STATE_CHANGE: Ev.STATE, MOS_ON_ORPHAN: Ev.ORPHAN,
                      MOS_ON_REXMIT: Ev.REXMIT}.get(root, 0)
        return m

    def _refresh_mask(self):
        if self.mon is not None:
            lib.xc_mon_set_event_mask(self.mon.raw, int(self._event_mask()))


_contexts: Dict[int, mctx_t] = {}
_conf: Dict[str, Any] = {}


def _ctx(mctx):
    if not isinstance(mctx, mctx_t) or not (mctx.alive or getattr(mctx, "_running", False)):
        _err(E.EACCES, "invalid context")
    return mctx


def _sock(ctx, sid):
    s = ctx.socks.get(sid) if isinstance(sid, int) else None
    if s is None or s.closed:
        _err(E.EBADF, "socket %r" % (sid,))
    return s


def _side(side, both=False):
    if side in (MOS_SIDE_CLI, MOS_SIDE_SVR) or (both and side == MOS_SIDE_BOTH):
        return side
    _err(E.EINVAL, "invalid side %r" % (side,))


def _same_thread(ctx, what):
    if threading.get_ident() != ctx.thread:
        _err(E.EPERM, "%s from outside the monitor's thread" % what)


# ---------------------------------------------------------------- contexts

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
        ctx.live_input = _open_live(ctx)
    _contexts[id(ctx)] = ctx
    return ctx


def _open_live(ctx):
    from .monitor.source import LiveInput
    return LiveInput(str(ctx.conf["port"]).split(), stop=lambda: not ctx.alive,
                     duration=ctx.conf.get("duration"), backend=ctx.conf.get("backend", "xdp"))


def mtcp_destroy_context(mctx):
    """Ends the context; a running mtcp_app_join returns after its burst."""
    ctx = _ctx(mctx)
    ctx.alive = False
    if not getattr(ctx, "_running", False):
        if ctx.mon is not None:
            ctx.mon.close()
        if ctx.live_input is not None:
            ctx.live_input.close()
            ctx.live_input = None
    _contexts.pop(id(ctx), None)


def mtcp_socket(mctx, domain, type, protocol=0):  # noqa: A002
    ctx = _ctx(mctx)
    if domain != AF_INET:
        _err(E.EAFNOSUPPORT, "mtcp_socket: domain %r" % domain)
    if type not in (MOS_SOCK_MONITOR_STREAM, MOS_SOCK_MONITOR_RAW):
        _err(E.EINVAL, "mtcp_socket: type %r (monitor sockets here)" % type)
    if len(ctx.socks) >= ctx.max_socks:
        _err(E.ENFILE, "mtcp_socket: %d sockets" % ctx.max_socks)
    sid = next(ctx._ids)
    ctx.socks[sid] = _Sock(sid, type)
    return sid


def mtcp_close(mctx, sock):
    ctx = _ctx(mctx)
    s = _sock(ctx, sock)
    s.closed = True
    del ctx.socks[s.id]
    return 0


def mtcp_bind_monitor_filter(mctx, sock, ft):
    """ft: a monitor_filter, or a string (the SYN filter of a stream
    socket, the packet filter of a raw one).  Flow filters take only
    tcp/host/src/dst/net/mask/port/portrange/and/or/not (EINVAL)."""
    ctx = _ctx(mctx)
    s = _sock(ctx, sock)
    if ft is None:
        return 0
    if isinstance(ft, str):
        ft = (monitor_filter(raw_pkt_filter=ft) if s.type == MOS_SOCK_MONITOR_RAW
              else monitor_filter(stream_syn_filter=ft))
    try:
        if s.type == MOS_SOCK_MONITOR_RAW:
            s.raw_filter = Filter(ft.raw_pkt_filter)
        elif s.type == MOS_SOCK_MONITOR_STREAM:
            if ft.stream_syn_filter:
                s.syn_filter = Filter(ft.stream_syn_filter, flow=True)
            if ft.stream_orphan_filter:
                s.orphan_filter = Filter(ft.stream_orphan_filter, flow=True)
        else:
            _err(E.ENOPROTOOPT, "mtcp_bind_monitor_filter: socket type %d" % s.type)
    except FilterError as e:
        raise OSError(E.EINVAL, "mtcp_bind_monitor_filter: %s" % e) from None
    return 0


def _check_pair(event, hook):
    root = _root_of(event)
    if event == MOS_NULL_EVENT or root is None:
        _err(E.EINVAL, "no such event %r" % event)
    if hook == MOS_NULL:
        if root in (MOS_ON_CONN_START, MOS_ON_REXMIT, MOS_ON_TCP_STATE_CHANGE, MOS_ON_CONN_END):
            _err(E.EINVAL, "event %#x cannot be hooked at MOS_NULL" % root)
    elif hook in (MOS_HK_RCV, MOS_HK_SND):
        if root in (MOS_ON_CONN_NEW_DATA, MOS_ON_ORPHAN, MOS_ON_ERROR):
            _err(E.EINVAL, "event %#x is raised at MOS_NULL only" % root)
    else:
        _err(E.EINVAL, "invalid hook %r" % hook)


def mtcp_register_callback(mctx, sock, event, hook, cb):
    """cb(mctx, sock, side, event, filter_arg); cb None unregisters."""
    ctx = _ctx(mctx)
    s = _sock(ctx, sock)
    _check_pair(event, hook)
    if cb is None:
        s.callbacks.pop((event, hook), None)
    elif not callable(cb):
        _err(E.EINVAL, "the callback is not callable")
    else:
        s.callbacks[(event, hook)] = cb
    ctx._refresh_mask()
    return 0


def mtcp_unregister_callback(mctx, sock, event, hook):
    return mtcp_register_callback(mctx, sock, event, hook, None)


def mtcp_raise_event(mctx, event):
    """Fire an allocated event: for the socket whose callback is running
    (with its side), else for every listener (side MOS_SIDE_BOTH)."""
    ctx = _ctx(mctx)
    if event not in _udes:
        _err(E.EINVAL, "mtcp_raise_event: not a user-defined event")
    cur = getattr(ctx, "_in_cb", None)
    targets = [cur] if cur else [(s, MOS_SIDE_BOTH) for s in list(ctx.socks.values())
                                  if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE]
    for s, side in targets:
        _fire(ctx, s, event, None, side, direct=True)
    return 0


def mtcp_set_uctx(mctx, sock, uctx):
    _sock(_ctx(mctx), sock).uctx = uctx


def mtcp_get_uctx(mctx, sock):
    return _sock(_ctx(mctx), sock).uctx


def mtcp_get_connection_cnt(mctx):
    ctx = _ctx(mctx)
    return ctx.mon.flow_count() if ctx.mon is not None else 0


def _active(ctx, sock, what):
    s = _sock(ctx, sock)
    if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE:
        _err(E.ENOTSOCK, "%s: socket %d is not an active monitor stream socket" % (what, sock))
    f = ctx.mon.flow(s.flow) if ctx.mon is not None else None
    if f is None or int(f.uid) != s.uid:
        _err(E.EBADF, "%s: the flow of socket %d is gone" % (what, sock))
    return s, f


def mtcp_getpeername(mctx, sock, side=MOS_SIDE_BOTH):
    """(ip, port) of the client or server; for MOS_SIDE_BOTH a list
    indexed by side."""
    ctx = _ctx(mctx)
    s, _ = _active(ctx, sock, "mtcp_getpeername")
    _side(side, both=True)
    return list(s.addrs) if side == MOS_SIDE_BOTH else s.addrs[side]


# ---------------------------------------------------------------- buffers

def _seq(f, side, off):
    """Sequence number of offset off in side's buffer (the peer's stream)."""
    return (int(f.side[side ^ 1].iss) + 1 + off) & 0xffffffff


def mtcp_peek(mctx, sock, side, n):
    """Up to n bytes of side's buffer from where this socket stopped; an
    int below zero if bytes were dropped before it could read them (minus
    their number; the next call goes on after them)."""
    ctx = _ctx(mctx)
    _same_thread(ctx, "mtcp_peek")
    s, f = _active(ctx, sock, "mtcp_peek")
    _side(side)
    ring = f.side[side].rcv
    if s.stopped[side] or (ring.cap == 0 and int(f.side[side].buf_want) == 0):
        _err(E.EINVAL, "mtcp_peek: buffering of that side is off")
    pos = s.peek[side]
    if pos < ring.read_off:
        missed = int(ring.read_off) - pos
        s.peek[side] = int(ring.read_off)
        return -missed
    k = max(0, min(int(n), int(ring.next_off) - pos))
    buf = ffi.new("uint8_t[]", max(k, 1))
    got = lib.xc_ring_peek(ffi.addressof(ring), pos, buf, k) if k else 0
    s.peek[side] = pos + got
    _release(ctx, s.flow, side)
    return bytes(ffi.buffer(buf, got))


def mtcp_ppeek(mctx, sock, side, n, off):
    """Up to n bytes at stream offset off (not consuming); minus the bytes
    missed if off is below what the buffer still holds."""
    ctx = _ctx(mctx)
    _same_thread(ctx, "mtcp_ppeek")
    s, f = _active(ctx, sock, "mtcp_ppeek")
    _side(side)
    ring = f.side[side].rcv
    if off < ring.read_off:
        return -(int(ring.read_off) - int(off))
    k = max(0, min(int(n), int(ring.next_off) - int(off)))
    buf = ffi.new("uint8_t[]", max(k, 1))
    got = lib.xc_ring_peek(ffi.addressof(ring), int(off), buf, k) if k else 0
    return bytes(ffi.buffer(buf, got))


def _release(ctx, flow, side):
    """The ring keeps bytes until every active socket of the flow read them."""
    socks = ctx.actives.get(flow, [])
    if not socks:
        return
    f = ctx.mon.flow(flow)
    low = min(s.peek[side] for s in socks)
    ahead = low - int(f.side[side].rcv.read_off)
    if ahead > 0:
        lib.xc_mon_consume(ctx.mon.raw, flow, side, ahead)


def mtcp_getsockopt(mctx, sock, level, optname, buflen=None):
    ctx = _ctx(mctx)
    s = _sock(ctx, sock)
    if level == SOL_SOCKET:
        _err(E.ENOTSOCK, "mtcp_getsockopt: SOL_SOCKET options are for stream sockets")
    if level != SOL_MONSOCKET:
        _err(E.ENOSYS, "mtcp_getsockopt: level %r" % level)
    _same_thread(ctx, "mtcp_getsockopt")
    if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE:
        _err(E.ENOTSOCK, "mtcp_getsockopt: socket %d is not an active monitor socket" % sock)
    sides = {MOS_FRAGINFO_CLIBUF: CLI, MOS_FRAGINFO_SVRBUF: SVR, MOS_INFO_CLIBUF: CLI,
             MOS_INFO_SVRBUF: SVR, MOS_TCP_STATE_CLI: CLI, MOS_TCP_STATE_SVR: SVR}
    if optname not in sides:
        _err(E.ENOSYS, "mtcp_getsockopt: option %r" % optname)
    side = sides[optname]
    s, f = _active(ctx, sock, "mtcp_getsockopt")
    if s.stopped[side]:
        _err(E.EPERM, "mtcp_getsockopt: monitoring of that side was stopped (MOS_STOP_MON)")
    if optname in (MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR):
        st = tcpstate(int(f.side[side].state))
        return struct.pack("<i", st)[:buflen] if buflen is not None else st
    ring = f.side[side].rcv
    if optname in (MOS_INFO_CLIBUF, MOS_INFO_SVRBUF):
        info = tcp_buf_info(_seq(f, side, 0), _seq(f, side, s.peek[side]),
                            _seq(f, side, int(ring.next_off)),
                            _seq(f, side, max(int(ring.high_off), int(ring.next_off))))
        if buflen is not None:
            if buflen < 16:
                _err(E.EINVAL, "mtcp_getsockopt: buffer shorter than tcp_buf_info")
            return struct.pack("<4I", *dataclasses.astuple(info))
        return info
    nmax = int(ring.nfrags) + 1
    out = ffi.new("struct xc_ring_frag[]", nmax)
    n = lib.xc_ring_fragments(ffi.addressof(ring), out, nmax)
    frags = [tcp_ring_fragment(int(out[i].offset), int(out[i].len)) for i in range(n)]
    if buflen is not None:
        if buflen < 16 or buflen % 16:
            _err(E.EINVAL, "mtcp_getsockopt: length not a multiple of tcp_ring_fragment")
        room = buflen // 16
        raw = b"".join(struct.pack("<QI4x", fr.offset, fr.len) for fr in frags[:room])
        if len(frags) < room:
            raw += bytes(16)                     # zero sentinel, as mOS
        return raw
    return frags


def _int_value(value, what):
    if isinstance(value, bytes):
        if len(value) != 4:
            _err(E.EINVAL, "%s: an int is 4 bytes" % what)
        value = struct.unpack("<i", value)[0]
    if not isinstance(value, int) or isinstance(value, bool):
        _err(E.EINVAL, "%s: expected an int" % what)
    return value


def mtcp_setsockopt(mctx, sock, level, optname, value):
    ctx = _ctx(mctx)
    s = _sock(ctx, sock)
    if level == SOL_SOCKET:
        _err(E.ENOTSOCK, "mtcp_setsockopt: SOL_SOCKET options are for stream sockets")
    if level != SOL_MONSOCKET:
        _err(E.ENOSYS, "mtcp_setsockopt: level %r" % level)
    _same_thread(ctx, "mtcp_setsockopt")
    if optname in (MOS_FRAGINFO_CLIBUF, MOS_FRAGINFO_SVRBUF, MOS_INFO_CLIBUF, MOS_INFO_SVRBUF,
                   MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR):
        _err(E.ENOSYS, "mtcp_setsockopt: option %r can only be read" % optname)
    if optname not in (MOS_CLIBUF, MOS_SVRBUF, MOS_STOP_MON, MOS_CLIOVERLAP, MOS_SVROVERLAP):
        _err(E.ENOSYS, "mtcp_setsockopt: option %r" % optname)
    v = _int_value(value, "mtcp_setsockopt")
    side = CLI if optname in (MOS_CLIBUF, MOS_CLIOVERLAP) else SVR
    if s.type == MOS_SOCK_MONITOR_STREAM and optname != MOS_STOP_MON:
        # a listener: the setting applies to the flows it gets from now on
        if optname in (MOS_CLIBUF, MOS_SVRBUF):
            if v < 0:
                _err(E.EINVAL, "mtcp_setsockopt: buffer size %d" % v)
            s.bufs[side] = v
        else:
            if v not in (0, 1, 2, 3, 4):
                _err(E.EINVAL, "mtcp_setsockopt: overlap policy %d" % v)
            s.overlap[side] = v
        return 0
    s, f = _active(ctx, sock, "mtcp_setsockopt")
    if optname == MOS_STOP_MON:
        _side(v, both=True)
        for sd in ((CLI, SVR) if v == MOS_SIDE_BOTH else (v,)):
            s.stopped[sd] = True
        others = [o for o in ctx.actives.get(s.flow, []) if o is not s]
        for sd in (CLI, SVR):
            if all(o.stopped[sd] for o in others + [s]):
                lib.xc_mon_stop(ctx.mon.raw, s.flow, sd)
        return 0
    if s.stopped[side]:
        _err(E.EPERM, "mtcp_setsockopt: monitoring of that side was stopped")
    if optname in (MOS_CLIBUF, MOS_SVRBUF):
        if v < 0 or lib.xc_mon_set_buf(ctx.mon.raw, s.flow, side, v) < 0:
            _err(E.EINVAL, "mtcp_setsockopt: buffer size %d (does the data fit?)" % v)
        return 0
    if v not in (0, 1, 2, 3, 4) or lib.xc_mon_set_overlap(ctx.mon.raw, s.flow, side, v) < 0:
        _err(E.EINVAL, "mtcp_setsockopt: overlap policy %d" % v)
    return 0


# ---------------------------------------------------------------- packets

def _frame_view(ctx):
    if ctx.burst is None or ctx.pkt is None:
        _err(E.ENODATA, "no packet is being processed")
    raw = ctx.burst.raw
    p = raw.pkts[ctx.pkt]
    return raw, p


def _parse(frame):
    l2 = 14
    et = struct.unpack_from("!H", frame, 12)[0]
    while et in (0x8100, 0x88a8) and len(frame) >= l2 + 4:
        et = struct.unpack_from("!H", frame, l2 + 2)[0]
        l2 += 4
    ihl = (frame[l2] & 15) * 4
    tot = struct.unpack_from("!H", frame, l2 + 2)[0]
    tcp = l2 + ihl
    doff = (frame[tcp + 12] >> 4) * 4 if len(frame) > tcp + 12 else 20
    return l2, tcp, tcp + doff, tot


def mtcp_getlastpkt(mctx, sock, side=MOS_SIDE_CLI):
    """A copy of the packet the running event came with (pkt_info)."""
    ctx = _ctx(mctx)
    _same_thread(ctx, "mtcp_getlastpkt")
    _sock(ctx, sock)
    raw, p = _frame_view(ctx)
    frame = bytes(ffi.buffer(raw.data + p.off, p.len))
    l2, tcp, pay, tot = _parse(frame)
    seq, ack = struct.unpack_from("!II", frame, tcp + 4)
    wnd = struct.unpack_from("!H", frame, tcp + 14)[0]
    plen = max(0, min(tot - (pay - l2), len(frame) - pay))
    off = 0
    s = ctx.socks.get(sock)
    if s is not None and s.type == MOS_SOCK_MONITOR_STREAM_ACTIVE and ctx.mon is not None:
        f = ctx.mon.flow(s.flow)
        sender = ctx.last_sender.get(ctx.pkt, CLI)
        if f is not None:
            base = (int(f.side[sender].iss) + 1) & 0xffffffff
            off = (seq - base) & 0xffffffff
    return pkt_info(cur_ts=int(p.ts_ns // 1_000_000) & 0xffffffff, in_ifidx=0,
                    eth_len=len(frame), ip_len=tot, offset=off, payloadlen=plen, seq=seq,
                    ack_seq=ack, window=wnd, frame=frame, ip_off=l2, tcp_off=tcp,
                    payload_off=pay)


def _csum(data):
    return lib.xc_inet_csum(data, len(data))


def mtcp_setlastpkt(mctx, sock, side, offset, data, option):
    """Change the packet being processed (inline: what is forwarded).
    MOS_DROP; MOS_OVERWRITE of bytes at offset in MOS_ETH_HDR, MOS_IP_HDR,
    MOS_TCP_HDR or MOS_TCP_PAYLOAD; MOS_CHOMP (data: the byte count, or
    bytes whose length is used) and MOS_INSERT in the payload; the IPv4
    total length follows, MOS_UPDATE_IP_CHKSUM / MOS_UPDATE_TCP_CHKSUM
    recompute the checksums."""
    ctx = _ctx(mctx)
    _same_thread(ctx, "mtcp_setlastpkt")
    _sock(ctx, sock)
    raw, p = _frame_view(ctx)
    if option & MOS_DROP:
        ctx.verdict[ctx.pkt] = 0
        return 0
    frame = bytearray(ffi.buffer(raw.data + p.off, p.len))
    l2, tcp, pay, tot = _parse(frame)
    bases = {MOS_ETH_HDR: (0, l2), MOS_IP_HDR: (l2, tcp), MOS_TCP_HDR: (tcp, pay),
             MOS_TCP_PAYLOAD: (pay, l2 + tot)}
    parts = [b for b in bases if option & b]
    if len(parts) != 1:
        _err(E.EINVAL, "mtcp_setlastpkt: name exactly one header or the payload")
    start, end = bases[parts[0]]
    at = start + int(offset)
    if option & MOS_OVERWRITE:
        if at < start or at + len(data) > end:
            _err(E.EINVAL, "mtcp_setlastpkt: overwrite outside that part")
        frame[at:at + len(data)] = data
    elif option & (MOS_CHOMP | MOS_INSERT):
        if parts[0] != MOS_TCP_PAYLOAD or at < start or at > end:
            _err(E.EINVAL, "mtcp_setlastpkt: CHOMP and INSERT work on the payload")
        if option & MOS_CHOMP:
            n = data if isinstance(data, int) else len(data)
            if at + n > end:
                _err(E.EINVAL, "mtcp_setlastpkt: chomp past the payload")
            del frame[at:at + n]
            tot -= n
        else:
            if len(frame) + len(data) > lib.XC_FRAME_MAX:
                _err(E.EMSGSIZE, "mtcp_setlastpkt: the frame would exceed %d bytes"
                     % lib.XC_FRAME_MAX)
            frame[at:at] = data
            tot += len(data)
        struct.pack_into("!H", frame, l2 + 2, tot)
    else:
        _err(E.EINVAL, "mtcp_setlastpkt: no operation (DROP, OVERWRITE, CHOMP, INSERT)")
    if option & MOS_UPDATE_IP_CHKSUM or option & (MOS_CHOMP | MOS_INSERT):
        struct.pack_into("!H", frame, l2 + 10, 0)
        struct.pack_into("=H", frame, l2 + 10, _csum(bytes(frame[l2:tcp])))
    if option & MOS_UPDATE_TCP_CHKSUM:
        seg = bytes(frame[tcp:l2 + tot])
        pseudo = bytes(frame[l2 + 12:l2 + 20]) + struct.pack("!BBH", 0, 6, len(seg))
        seg = seg[:16] + b"\0\0" + seg[18:]
        struct.pack_into("=H", frame, tcp + 16, _csum(pseudo + seg))
    ffi.memmove(raw.data + p.off, bytes(frame), len(frame))
    p.len = len(frame)
    return 0


def mtcp_sendpkt(mctx, sock, pkt):
    """Send a frame (pkt_info or bytes) out of the inline path.  Offline
    (pcap_out) it is written after the packet being processed."""
    ctx = _ctx(mctx)
    _same_thread(ctx, "mtcp_sendpkt")
    _sock(ctx, sock)
    frame = pkt.frame if isinstance(pkt, pkt_info) else bytes(pkt)
    src = getattr(ctx, "source", None)
    if not ctx.conf.get("pcap_out") and not (src is not None and src.inline):
        _err(E.ENOSYS, "mtcp_sendpkt: no inline output (inline ports, or pcap_out offline)")
    ctx.injected.append((ctx.pkt, frame))
    return 0


# ---------------------------------------------------------------- timers

def mtcp_settimer(mctx, sock, timeout, cb):
    """cb(mctx, sock, MOS_SIDE_BOTH, MOS_ON_TIMEOUT, None) once, timeout
    (seconds, or a timeval) later on the context's clock (the packets'
    for a capture)."""
    ctx = _ctx(mctx)
    _sock(ctx, sock)
    if isinstance(timeout, timeval):
        timeout = timeout.tv_sec + timeout.tv_usec / 1e6
    if timeout < 0 or not callable(cb):
        _err(E.EINVAL, "mtcp_settimer: timeout and callback")
    heapq.heappush(ctx.timers, (ctx.clock_ns + int(timeout * 1e9), next(ctx._tseq), sock, cb))
    return 0


def _run_timers(ctx, now):
    while ctx.timers and ctx.timers[0][0] <= now:
        _, _, sid, cb = heapq.heappop(ctx.timers)
        s = ctx.socks.get(sid)
        if s is not None and not s.closed:
            cb(ctx, sid, MOS_SIDE_BOTH, MOS_ON_TIMEOUT, None)


# ---------------------------------------------------------------- dispatch

def mos_last_error(mctx):
    """What the MOS_ON_ERROR being dispatched is about: a dict with kind
    (outrun, memory, fragments, bad_rst, bad_syn, overlap, gap), side,
    offset and bytes."""
    return _ctx(mctx).last_error


_ERR_KINDS = {lib.XC_MON_ERR_OUTRUN: "outrun", lib.XC_MON_ERR_MEMORY: "memory",
              lib.XC_MON_ERR_FRAGS: "fragments", lib.XC_MON_ERR_BAD_RST: "bad_rst",
              lib.XC_MON_ERR_BAD_SYN: "bad_syn"}
_C2MOS = {Ev.PKT_IN: MOS_ON_PKT_IN, Ev.CONN_START: MOS_ON_CONN_START,
          Ev.NEW_DATA: MOS_ON_CONN_NEW_DATA, Ev.ERROR: MOS_ON_ERROR, Ev.OVERLAP: MOS_ON_ERROR,
          Ev.GAP: MOS_ON_ERROR, Ev.TIMEOUT: MOS_ON_TIMEOUT, Ev.STATE: MOS_ON_TCP_STATE_CHANGE,
          Ev.ORPHAN: MOS_ON_ORPHAN, Ev.REXMIT: MOS_ON_REXMIT, Ev.CONN_END: MOS_ON_CONN_END}
_HOOK = {HK_SND: MOS_HK_SND, HK_RCV: MOS_HK_RCV, HK_NULL: MOS_NULL}
_NULL_ONLY = (MOS_ON_CONN_NEW_DATA, MOS_ON_ERROR, MOS_ON_ORPHAN, MOS_ON_TIMEOUT)


def _callbacks(ctx, s, event, hook):
    out = []
    cb = s.callbacks.get((event, hook))
    if cb:
        out.append(cb)
    if s.listener is not None:
        ls = ctx.socks.get(s.listener)
        if ls is not None:
            cb = ls.callbacks.get((event, hook))
            if cb:
                out.append(cb)
    return out


def _subtree(event):
    out, todo = set(), [event]
    while todo:
        e = todo.pop()
        out.add(e)
        todo.extend(u.id for u in _ude_children.get(e, ()))
    return out


def _wants(ctx, s, ude):
    """Does s (or its listener) have a callback for ude or an event built
    on it?  Filters of events nobody listens to are not run."""
    tree = _subtree(ude)
    owners = [s] + ([ctx.socks[s.listener]] if s.listener in ctx.socks else [])
    return any(ev in tree for o in owners for (ev, _h) in o.callbacks)


def _fire(ctx, s, event, hook, side, arg=None, direct=False):
    """Callbacks of s (and its listener) for event at hook, then the
    user-defined events built on it whose filters pass."""
    hooks = (MOS_NULL, MOS_HK_SND, MOS_HK_RCV) if direct else (hook,)
    prev = getattr(ctx, "_in_cb", None)
    ctx._in_cb = (s, side)
    try:
        for h in hooks:
            for cb in _callbacks(ctx, s, event, h):
                cb(ctx, s.id, side, event, arg)
        for u in _ude_children.get(event, ()):
            if u.filter is None or not _wants(ctx, s, u.id):
                continue
            if u.filter(ctx, s.id, side, event, u.arg):
                _fire(ctx, s, u.id, hook, side, u.arg, direct)
    finally:
        ctx._in_cb = prev


def _actives_of(ctx, flow_id):
    socks = ctx.actives.get(flow_id)
    if socks is not None:
        return socks
    f = ctx.mon.flow(flow_id)
    cli = (ip_of(f.cli_addr), port_of(f.cli_port))
    svr = (ip_of(f.svr_addr), port_of(f.svr_port))
    socks = []
    for ls in list(ctx.socks.values()):
        if ls.type != MOS_SOCK_MONITOR_STREAM or ls.closed:
            continue
        if not ls.syn_filter(cli[0], cli[1], svr[0], svr[1]):
            continue
        sid = next(ctx._ids)
        a = _Sock(sid, MOS_SOCK_MONITOR_STREAM_ACTIVE, listener=ls.id, flow=flow_id)
        a.uid = int(f.uid)
        a.addrs = (cli, svr)
        a.uctx = None
        ctx.socks[sid] = a
        socks.append(a)
        for sd in (CLI, SVR):
            if ls.bufs[sd] is not None:
                lib.xc_mon_set_buf(ctx.mon.raw, flow_id, sd, ls.bufs[sd])
            if ls.overlap[sd] is not None:
                lib.xc_mon_set_overlap(ctx.mon.raw, flow_id, sd, ls.overlap[sd])
    if not socks:
        lib.xc_mon_stop(ctx.mon.raw, flow_id, 2)      # nobody watches it
    ctx.actives[flow_id] = socks
    return socks


def _dispatch(ctx, events):
    for kind, flow, pkt, side, hook, code, arg, val, _pos, _ in events:
        ctx.pkt = None if pkt == lib.XC_MON_NO_PKT else pkt
        if ctx.pkt is not None:
            ctx.clock_ns = max(ctx.clock_ns, int(ctx.burst.raw.pkts[pkt].ts_ns))
        ev = _C2MOS.get(kind)
        if ev is None:
            continue
        if kind == Ev.ORPHAN:
            _orphan(ctx)
            continue
        if kind == Ev.PKT_IN and hook == HK_SND:
            ctx.last_sender[pkt] = side
        socks = _actives_of(ctx, flow)
        if kind in (Ev.ERROR, Ev.OVERLAP, Ev.GAP):
            ctx.last_error = {"kind": _ERR_KINDS.get(code, "error") if kind == Ev.ERROR else
                              ("overlap" if kind == Ev.OVERLAP else "gap"),
                              "side": side, "offset": arg, "bytes": val}
        for s in list(socks):
            if kind == Ev.CONN_END:
                snd = ctx.last_sender.get(pkt, CLI) if ctx.pkt is not None else CLI
                if not s.stopped[snd]:
                    _fire(ctx, s, ev, MOS_HK_SND, snd)
                if not s.stopped[snd ^ 1]:
                    _fire(ctx, s, ev, MOS_HK_RCV, snd ^ 1)
                continue
            sd = side if side in (CLI, SVR) else MOS_SIDE_BOTH
            if sd != MOS_SIDE_BOTH and s.stopped[sd]:
                continue
            if ev in _NULL_ONLY:
                _fire(ctx, s, ev, MOS_NULL, sd)
            else:
                _fire(ctx, s, ev, _HOOK[hook], sd)
                if ev == MOS_ON_PKT_IN and hook == HK_SND:
                    _fire(ctx, s, ev, MOS_NULL, sd)
        if kind == Ev.CONN_END:
            for s in ctx.actives.pop(flow, []):
                s.closed = True
                ctx.socks.pop(s.id, None)
        _run_timers(ctx, ctx.clock_ns)
    ctx.pkt = None


def _orphan(ctx):
    raw, p = _frame_view(ctx)
    frame = bytes(ffi.buffer(raw.data + p.off, p.len))
    l2, tcp, _, _ = _parse(frame)
    saddr = ipaddress.IPv4Address(frame[l2 + 12:l2 + 16])
    daddr = ipaddress.IPv4Address(frame[l2 + 16:l2 + 20])
    sport, dport = struct.unpack_from("!HH", frame, tcp)
    for ls in list(ctx.socks.values()):
        if ls.type == MOS_SOCK_MONITOR_STREAM and not ls.closed and \
                ls.orphan_filter(saddr, sport, daddr, dport):
            _fire(ctx, ls, MOS_ON_ORPHAN, MOS_NULL, MOS_SIDE_BOTH)


def _raw_sockets(ctx, burst):
    raws = [s for s in ctx.socks.values() if s.type == MOS_SOCK_MONITOR_RAW and
            any(k[0] == MOS_ON_PKT_IN or _root_of(k[0]) == MOS_ON_PKT_IN for k in s.callbacks)]
    if not raws:
        return
    raw = burst.raw
    for i in range(raw.n):
        p = raw.pkts[i]
        ctx.pkt = i
        ctx.clock_ns = max(ctx.clock_ns, int(p.ts_ns))
        frame = bytes(ffi.buffer(raw.data + p.off, p.len))
        try:
            l2, tcp, _, _ = _parse(frame)
            proto = frame[l2 + 9]
            saddr = ipaddress.IPv4Address(frame[l2 + 12:l2 + 16])
            daddr = ipaddress.IPv4Address(frame[l2 + 16:l2 + 20])
            sport, dport = struct.unpack_from("!HH", frame, tcp) if proto in (6, 17) else (0, 0)
        except (struct.error, IndexError, ValueError):
            continue
        for s in raws:
            if s.raw_filter(saddr, sport, daddr, dport, proto):
                _fire(ctx, s, MOS_ON_PKT_IN, MOS_NULL, MOS_SIDE_BOTH)
    ctx.pkt = None


class _PcapOut:
    """What an inline monitor forwards, written as a pcap (offline runs)."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))

    def write(self, ts_ns, frame):
        self.f.write(struct.pack("<IIII", ts_ns // 10**9, ts_ns % 10**9, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def mtcp_app_join(mctx):
    """Run the context's input: a capture file (pcap=...) to its end, or
    live interfaces (port="IF" standalone, port="IF1 IF2" inline) until
    mtcp_destroy_context or `duration` seconds.  Callbacks run as their
    events come; flows still open at the end get MOS_ON_CONN_END.  Inline,
    every frame is forwarded out of the other interface unless a callback
    dropped it (MOS_DROP), as edited (mtcp_setlastpkt)."""
    from .monitor.source import PcapInput
    ctx = _ctx(mctx)
    if ctx.conf.get("pcap"):
        source = PcapInput(ctx.conf["pcap"], burst=256)
    elif ctx.conf.get("port"):
        source = ctx.live_input or _open_live(ctx)
        ctx.live_input = None
    else:
        _err(E.EINVAL, "mtcp_app_join: no input (give pcap=FILE or port=IF [IF2])")
    ctx._start()
    ctx._refresh_mask()
    ctx.source = source
    out = _PcapOut(ctx.conf["pcap_out"]) if ctx.conf.get("pcap_out") else None
    ctx._running = True
    try:
        with source:
            for burst, now in source.bursts():
                if ctx.clock_ns == 0 and (len(burst) or now):
                    # timers set before the input started count from its start
                    start = now or int(burst.raw.pkts[0].ts_ns)
                    ctx.timers = [(due + start, seq, sid, cb) for due, seq, sid, cb in ctx.timers]
                    heapq.heapify(ctx.timers)
                    ctx.clock_ns = start
                if now:
                    ctx.clock_ns = max(ctx.clock_ns, now)
                verdict = _process_burst(ctx, burst, now)
                _run_timers(ctx, ctx.clock_ns)
                source.after(burst, verdict)
                if source.inline:
                    for _, frame in ctx.injected:
                        source.send(frame, 1 - source.port_index)
                if out is not None:
                    _write_forwarded(ctx, burst, out)
            ctx.burst = None
            for events in ctx.mon.flush():
                _dispatch(ctx, events)
    finally:
        ctx._running = False
        ctx.burst = None
        if out is not None:
            out.close()
    return 0


def _process_burst(ctx, burst, now):
    """Callbacks for one burst; returns its verdicts (0 = dropped).  With
    raw sockets listening, frames go one at a time (raw callbacks, which
    may edit a frame, run before the flow code sees it, and after it saw
    the frame before), else the whole burst in one call (the core still
    returns after every packet that raised an event)."""
    ctx.injected = []
    raws = [s for s in ctx.socks.values() if s.type == MOS_SOCK_MONITOR_RAW and s.callbacks]
    if not raws:
        ctx.burst = burst
        ctx.verdict = bytearray(b"\1" * len(burst))
        ctx.last_sender = {}
        for events in ctx.mon.feed(burst, now):
            _dispatch(ctx, events)
        return ctx.verdict
    from .monitor.source import Burst
    single = getattr(ctx, "_single", None) or Burst(1)
    ctx._single = single
    raw, one = burst.raw, single.raw
    verdict = bytearray(b"\1" * len(burst))
    injected = []
    for i in range(raw.n):
        p, q = raw.pkts + i, one.pkts
        ffi.memmove(one.data, raw.data + p.off, p.len)
        q.off, q.len, q.flow_hash, q.payload_len = 0, p.len, p.flow_hash, p.payload_len
        q.seg_class, q.owner, q.ts_ns = p.seg_class, p.owner, p.ts_ns
        one.n = 1
        ctx.burst = single
        ctx.verdict = bytearray(b"\1")
        ctx.last_sender = {}
        ctx.injected = []
        _raw_sockets(ctx, single)
        for events in ctx.mon.feed(single, now):
            _dispatch(ctx, events)
        ffi.memmove(raw.data + p.off, one.data, q.len)     # edits go out
        p.len = q.len
        verdict[i] = ctx.verdict[0]
        injected += [(i, f) for _, f in ctx.injected]
    ctx.burst = burst
    ctx.injected = injected
    ctx.verdict = verdict
    return verdict


def _write_forwarded(ctx, burst, out):
    raw = burst.raw
    extra = {}
    for at, frame in ctx.injected:
        extra.setdefault(at, []).append(frame)
    for i in range(raw.n):
        p = raw.pkts[i]
        if ctx.verdict[i]:
            out.write(int(p.ts_ns), bytes(ffi.buffer(raw.data + p.off, p.len)))
        for frame in extra.get(i, ()):
            out.write(int(p.ts_ns), frame)


__all__ = [n for n in dir() if n.startswith(("mtcp_", "MOS_", "TCP_", "SOL_", "AF_", "SO_"))] + [
    "tcpstate", "tcp_buf_info", "tcp_ring_fragment", "monitor_filter", "pkt_info", "timeval",
    "mctx_t", "mos_last_error", "NUM_BEV"]
