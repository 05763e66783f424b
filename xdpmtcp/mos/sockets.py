"""Monitor sockets: listeners (MOS_SOCK_MONITOR_STREAM), the active socket
each flow a listener's SYN filter accepts gets, raw sockets; their filters
(mtcp_bind_monitor_filter), callbacks and user context."""
import errno as E
from typing import Callable, Dict

from ..monitor.filter import Filter, FilterError
from .constants import (AF_INET, MOS_SIDE_BOTH, MOS_SOCK_MONITOR_RAW, MOS_SOCK_MONITOR_STREAM,
                        MOS_SOCK_MONITOR_STREAM_ACTIVE, monitor_filter)
from .context import check_side, ctx_of
from .errors import err
from .events import check_pair, fire, udes


_EVERYTHING = Filter(None)      # the filter of a socket none was bound to (shared)


class Sock:
    def __init__(self, sid, kind, listener=None, flow=None):
        self.id = sid
        self.type = kind
        self.listener = listener          # active: its listener's id
        self.flow = flow                  # active: C flow id
        self.uid = None
        self.callbacks: Dict[tuple, Callable] = {}
        self.uctx = None
        self.syn_filter = self.orphan_filter = self.raw_filter = _EVERYTHING
        self.peek = [0, 0]                # active: next offset mtcp_peek returns, per side
        self.stopped = [False, False]
        self.bufs = [None, None]          # listener: buffer size for new flows, per side
        self.overlap = [None, None]
        self.addrs = None                 # active: ((cli ip, port), (svr ip, port))
        self.slot = None                  # listener: its slot in the C core (xc_mon_listen)
        self.closed = False


def sock_of(ctx, sid):
    """An open socket of ctx (EBADF)."""
    s = ctx.socks.get(sid) if isinstance(sid, int) else None
    if s is None or s.closed:
        err(E.EBADF, "socket %r" % (sid,))
    return s


def active_of(ctx, sock, what):
    """An active monitor socket whose flow is still there, and the flow."""
    s = sock_of(ctx, sock)
    if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE:
        err(E.ENOTSOCK, "%s: socket %d is not an active monitor stream socket" % (what, sock))
    f = ctx.mon.flow(s.flow) if ctx.mon is not None else None
    if f is None or int(f.uid) != s.uid:
        err(E.EBADF, "%s: the flow of socket %d is gone" % (what, sock))
    return s, f


def mtcp_socket(mctx, domain, type, protocol=0):  # noqa: A002
    ctx = ctx_of(mctx)
    if domain != AF_INET:
        err(E.EAFNOSUPPORT, "mtcp_socket: domain %r" % domain)
    if type not in (MOS_SOCK_MONITOR_STREAM, MOS_SOCK_MONITOR_RAW):
        err(E.EINVAL, "mtcp_socket: type %r (monitor sockets here)" % type)
    if len(ctx.socks) >= ctx.max_socks:
        err(E.ENFILE, "mtcp_socket: %d sockets" % ctx.max_socks)
    slot = ctx.take_slot() if type == MOS_SOCK_MONITOR_STREAM else None
    sid = next(ctx.ids)
    ctx.socks[sid] = Sock(sid, type)
    ctx.socks[sid].slot = slot
    ctx.sync_core()
    return sid


def mtcp_close(mctx, sock):
    ctx = ctx_of(mctx)
    s = sock_of(ctx, sock)
    s.closed = True
    del ctx.socks[s.id]
    if s.slot is not None:
        ctx.release_slot(s.slot)
    return 0


def mtcp_bind_monitor_filter(mctx, sock, ft):
    """ft: a monitor_filter, or a string (the SYN filter of a stream
    socket, the packet filter of a raw one).  Flow filters take only
    tcp/host/src/dst/net/mask/port/portrange/and/or/not (EINVAL)."""
    ctx = ctx_of(mctx)
    s = sock_of(ctx, sock)
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
            err(E.ENOPROTOOPT, "mtcp_bind_monitor_filter: socket type %d" % s.type)
    except FilterError as e:
        raise OSError(E.EINVAL, "mtcp_bind_monitor_filter: %s" % e) from None
    ctx.sync_core()
    return 0


def mtcp_register_callback(mctx, sock, event, hook, cb):
    """cb(mctx, sock, side, event, filter_arg); cb None unregisters."""
    ctx = ctx_of(mctx)
    s = sock_of(ctx, sock)
    check_pair(event, hook)
    if cb is None:
        s.callbacks.pop((event, hook), None)
    elif not callable(cb):
        err(E.EINVAL, "the callback is not callable")
    else:
        s.callbacks[(event, hook)] = cb
    if s.type == MOS_SOCK_MONITOR_STREAM_ACTIVE and ctx.mon is not None:
        ctx.watch_flow(s.flow)
    ctx.sync_core()
    return 0


def mtcp_unregister_callback(mctx, sock, event, hook):
    return mtcp_register_callback(mctx, sock, event, hook, None)


def mtcp_raise_event(mctx, event):
    """Fire an allocated event: for the socket whose callback is running
    (with its side), else for every listener (side MOS_SIDE_BOTH)."""
    ctx = ctx_of(mctx)
    if event not in udes:
        err(E.EINVAL, "mtcp_raise_event: not a user-defined event")
    cur = ctx.in_cb
    targets = [cur] if cur else [(s, MOS_SIDE_BOTH) for s in list(ctx.socks.values())
                                  if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE]
    for s, side in targets:
        fire(ctx, s, event, None, side, direct=True)
    return 0


def mtcp_set_uctx(mctx, sock, uctx):
    sock_of(ctx_of(mctx), sock).uctx = uctx


def mtcp_get_uctx(mctx, sock):
    return sock_of(ctx_of(mctx), sock).uctx


def mtcp_get_connection_cnt(mctx):
    ctx = ctx_of(mctx)
    return ctx.mon.flow_count() if ctx.mon is not None else 0


def mtcp_getpeername(mctx, sock, side=MOS_SIDE_BOTH):
    """(ip, port) of the client or server; for MOS_SIDE_BOTH a list
    indexed by side."""
    ctx = ctx_of(mctx)
    s, _ = active_of(ctx, sock, "mtcp_getpeername")
    check_side(side, both=True)
    return list(s.addrs) if side == MOS_SIDE_BOTH else s.addrs[side]
