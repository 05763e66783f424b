"""Dispatch: the C core's event tuples turned into mOS callbacks.  A flow's
active sockets are made at its first event (one per listener whose SYN
filter takes it); per packet the sender's MOS_HK_SND events come first,
then the receiver's MOS_HK_RCV ones; CONN_END fires once per side."""
import ipaddress

from .._core import lib
from ..monitor.core import (CLI, END_REASONS, ERRORS, HK_NULL, HK_RCV, HK_SND, SVR, Ev, flow_ips,
                            port_of)
from .constants import (MOS_HK_RCV, MOS_HK_SND, MOS_NULL, MOS_ON_CONN_END, MOS_ON_CONN_NEW_DATA,
                        MOS_ON_CONN_START, MOS_ON_ERROR, MOS_ON_ORPHAN, MOS_ON_PKT_IN,
                        MOS_ON_REXMIT, MOS_ON_TCP_STATE_CHANGE, MOS_ON_TIMEOUT, MOS_SIDE_BOTH,
                        MOS_SOCK_MONITOR_RAW, MOS_SOCK_MONITOR_STREAM,
                        MOS_SOCK_MONITOR_STREAM_ACTIVE)
from .context import ctx_of
from .events import fire, root_of
from .packets import current_frame, layout
from .sockets import Sock, active_of
from .timers import run_timers


def mos_last_error(mctx):
    """What the MOS_ON_ERROR being dispatched is about: a dict with kind
    (outrun, memory, fragments, bad_rst, bad_syn, overlap, gap), side,
    offset and bytes."""
    return ctx_of(mctx).last_error


def mos_end_reason(mctx, sock):
    """An extension: why the flow of an active socket ended, in its
    MOS_ON_CONN_END callback (fin, rst, timeout, evicted, end_of_input,
    reused); None while it is open."""
    ctx = ctx_of(mctx)
    _, f = active_of(ctx, sock, "mos_end_reason")
    return END_REASONS.get(int(f.end_reason)) if int(f.status) == lib.XC_MON_FS_ENDED else None


_C2MOS = {Ev.PKT_IN: MOS_ON_PKT_IN, Ev.CONN_START: MOS_ON_CONN_START,
          Ev.NEW_DATA: MOS_ON_CONN_NEW_DATA, Ev.ERROR: MOS_ON_ERROR, Ev.OVERLAP: MOS_ON_ERROR,
          Ev.GAP: MOS_ON_ERROR, Ev.TIMEOUT: MOS_ON_TIMEOUT, Ev.STATE: MOS_ON_TCP_STATE_CHANGE,
          Ev.ORPHAN: MOS_ON_ORPHAN, Ev.REXMIT: MOS_ON_REXMIT, Ev.CONN_END: MOS_ON_CONN_END}
_HOOK = {HK_SND: MOS_HK_SND, HK_RCV: MOS_HK_RCV, HK_NULL: MOS_NULL}
_NULL_ONLY = (MOS_ON_CONN_NEW_DATA, MOS_ON_ERROR, MOS_ON_ORPHAN, MOS_ON_TIMEOUT)


def _actives_of(ctx, flow_id):
    """The flow's active sockets, made at its first event: one per listener
    the C core chose for it (flow.listeners, by their SYN filters)."""
    socks = ctx.actives.get(flow_id)
    if socks is not None:
        return socks
    f = ctx.mon.flow(flow_id)
    cli_ip, svr_ip = flow_ips(f)
    cli, svr = (cli_ip, port_of(f.cli_port)), (svr_ip, port_of(f.svr_port))
    chosen = int(f.listeners)
    socks = []
    for ls in ctx.listeners():
        if ls.closed or not chosen >> ls.slot & 1:
            continue
        sid = next(ctx.ids)
        a = Sock(sid, MOS_SOCK_MONITOR_STREAM_ACTIVE, listener=ls.id, flow=flow_id)
        a.uid = int(f.uid)
        a.addrs = (cli, svr)
        ctx.socks[sid] = a
        socks.append(a)
        for sd in (CLI, SVR):
            if ls.bufs[sd] is not None:
                lib.xc_mon_set_buf(ctx.mon.raw, flow_id, sd, ls.bufs[sd])
            if ls.overlap[sd] is not None:
                lib.xc_mon_set_overlap(ctx.mon.raw, flow_id, sd, ls.overlap[sd])
    ctx.actives[flow_id] = socks
    if socks:
        ctx.watch_flow(flow_id)
    return socks


def _error_of(kind, code, side, arg, val):
    what = ERRORS.get(code, "error") if kind == Ev.ERROR else \
        ("overlap" if kind == Ev.OVERLAP else "gap")
    return {"kind": what, "side": side, "offset": arg, "bytes": val}


def dispatch(ctx, events):
    """One list of the core's event tuples, in order."""
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
            ctx.last_error = _error_of(kind, code, side, arg, val)
        for s in list(socks):
            if kind == Ev.CONN_END:
                snd = ctx.last_sender.get(pkt, CLI) if ctx.pkt is not None else CLI
                if not s.stopped[snd]:
                    fire(ctx, s, ev, MOS_HK_SND, snd)
                if not s.stopped[snd ^ 1]:
                    fire(ctx, s, ev, MOS_HK_RCV, snd ^ 1)
                continue
            sd = side if side in (CLI, SVR) else MOS_SIDE_BOTH
            if sd != MOS_SIDE_BOTH and s.stopped[sd]:
                continue
            if ev in _NULL_ONLY:
                fire(ctx, s, ev, MOS_NULL, sd)
            else:
                fire(ctx, s, ev, _HOOK[hook], sd)
                if ev == MOS_ON_PKT_IN and hook == HK_SND:
                    fire(ctx, s, ev, MOS_NULL, sd)
        if kind == Ev.CONN_END:
            for s in ctx.actives.pop(flow, []):
                s.closed = True
                ctx.socks.pop(s.id, None)
        run_timers(ctx, ctx.clock_ns)
    ctx.pkt = None


def _orphan(ctx):
    kind, lay = layout(current_frame(ctx))
    if kind != 0:
        return
    saddr, daddr = _addr(lay.saddr), _addr(lay.daddr)
    for ls in list(ctx.socks.values()):
        if ls.type == MOS_SOCK_MONITOR_STREAM and not ls.closed and \
                ls.orphan_filter(saddr, lay.sport, daddr, lay.dport):
            fire(ctx, ls, MOS_ON_ORPHAN, MOS_NULL, MOS_SIDE_BOTH)


def _addr(be32):
    return ipaddress.IPv4Address(be32.to_bytes(4, "little"))


def raw_sockets(ctx, burst):
    """MOS_ON_PKT_IN of the raw sockets whose packet filter takes a frame:
    the filters run in C over the burst, Python is called per match."""
    raws = [s for s in ctx.socks.values() if s.type == MOS_SOCK_MONITOR_RAW and
            any(k[0] == MOS_ON_PKT_IN or root_of(k[0]) == MOS_ON_PKT_IN for k in s.callbacks)]
    if not raws:
        return
    raw = burst.raw
    hits = [s.raw_filter.match_burst(burst) for s in raws]
    for i in range(raw.n):
        ctx.pkt = i
        ctx.clock_ns = max(ctx.clock_ns, int(raw.pkts[i].ts_ns))
        for s, hit in zip(raws, hits):
            if hit[i]:
                fire(ctx, s, MOS_ON_PKT_IN, MOS_NULL, MOS_SIDE_BOTH)
    ctx.pkt = None
