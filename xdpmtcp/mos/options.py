"""mtcp_getsockopt / mtcp_setsockopt at SOL_MONSOCKET: buffer and state
information, buffer sizes, overlap policies, MOS_STOP_MON.  On a listener
the settings apply to the flows it gets from then on."""
import dataclasses
import errno as E
import struct

from .._core import ffi, lib
from ..monitor.core import CLI, SVR
from .buffers import seq_at
from .constants import (MOS_CLIBUF, MOS_CLIOVERLAP, MOS_FRAGINFO_CLIBUF, MOS_FRAGINFO_SVRBUF,
                        MOS_INFO_CLIBUF, MOS_INFO_SVRBUF, MOS_SIDE_BOTH, MOS_SOCK_MONITOR_STREAM,
                        MOS_SOCK_MONITOR_STREAM_ACTIVE, MOS_STOP_MON, MOS_SVRBUF, MOS_SVROVERLAP,
                        MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR, SOL_MONSOCKET, SOL_SOCKET,
                        tcp_buf_info, tcp_ring_fragment, tcpstate)
from .context import check_side, ctx_of, same_thread
from .errors import err
from .sockets import active_of, sock_of

_READ_ONLY = {MOS_FRAGINFO_CLIBUF: CLI, MOS_FRAGINFO_SVRBUF: SVR, MOS_INFO_CLIBUF: CLI,
              MOS_INFO_SVRBUF: SVR, MOS_TCP_STATE_CLI: CLI, MOS_TCP_STATE_SVR: SVR}
_POLICIES = (0, 1, 2, 3, 4)       # MOS_OVERLAP_POLICY_*


def _level(s, level, what):
    if level == SOL_SOCKET:
        err(E.ENOTSOCK, "%s: SOL_SOCKET options are for stream sockets" % what)
    if level != SOL_MONSOCKET:
        err(E.ENOSYS, "%s: level %r" % (what, level))


def mtcp_getsockopt(mctx, sock, level, optname, buflen=None):
    ctx = ctx_of(mctx)
    s = sock_of(ctx, sock)
    _level(s, level, "mtcp_getsockopt")
    same_thread(ctx, "mtcp_getsockopt")
    if s.type != MOS_SOCK_MONITOR_STREAM_ACTIVE:
        err(E.ENOTSOCK, "mtcp_getsockopt: socket %d is not an active monitor socket" % sock)
    if optname not in _READ_ONLY:
        err(E.ENOSYS, "mtcp_getsockopt: option %r" % optname)
    side = _READ_ONLY[optname]
    s, f = active_of(ctx, sock, "mtcp_getsockopt")
    if s.stopped[side]:
        err(E.EPERM, "mtcp_getsockopt: monitoring of that side was stopped (MOS_STOP_MON)")
    if optname in (MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR):
        st = tcpstate(int(f.side[side].state))
        return struct.pack("<i", st)[:buflen] if buflen is not None else st
    ring = f.side[side].rcv
    if optname in (MOS_INFO_CLIBUF, MOS_INFO_SVRBUF):
        info = tcp_buf_info(seq_at(f, side, 0), seq_at(f, side, s.peek[side]),
                            seq_at(f, side, int(ring.next_off)),
                            seq_at(f, side, max(int(ring.high_off), int(ring.next_off))))
        if buflen is not None:
            if buflen < 16:
                err(E.EINVAL, "mtcp_getsockopt: buffer shorter than tcp_buf_info")
            return struct.pack("<4I", *dataclasses.astuple(info))
        return info
    nmax = int(ring.nfrags) + 1
    out = ffi.new("struct xc_ring_frag[]", nmax)
    n = lib.xc_ring_fragments(ffi.addressof(ring), out, nmax)
    frags = [tcp_ring_fragment(int(out[i].offset), int(out[i].len)) for i in range(n)]
    if buflen is not None:
        if buflen < 16 or buflen % 16:
            err(E.EINVAL, "mtcp_getsockopt: length not a multiple of tcp_ring_fragment")
        room = buflen // 16
        raw = b"".join(struct.pack("<QI4x", fr.offset, fr.len) for fr in frags[:room])
        if len(frags) < room:
            raw += bytes(16)                     # zero sentinel, as mOS
        return raw
    return frags


def _int_value(value, what):
    if isinstance(value, bytes):
        if len(value) != 4:
            err(E.EINVAL, "%s: an int is 4 bytes" % what)
        value = struct.unpack("<i", value)[0]
    if not isinstance(value, int) or isinstance(value, bool):
        err(E.EINVAL, "%s: expected an int" % what)
    return value


def mtcp_setsockopt(mctx, sock, level, optname, value):
    ctx = ctx_of(mctx)
    s = sock_of(ctx, sock)
    _level(s, level, "mtcp_setsockopt")
    same_thread(ctx, "mtcp_setsockopt")
    if optname in _READ_ONLY:
        err(E.ENOSYS, "mtcp_setsockopt: option %r can only be read" % optname)
    if optname not in (MOS_CLIBUF, MOS_SVRBUF, MOS_STOP_MON, MOS_CLIOVERLAP, MOS_SVROVERLAP):
        err(E.ENOSYS, "mtcp_setsockopt: option %r" % optname)
    v = _int_value(value, "mtcp_setsockopt")
    side = CLI if optname in (MOS_CLIBUF, MOS_CLIOVERLAP) else SVR
    if s.type == MOS_SOCK_MONITOR_STREAM and optname != MOS_STOP_MON:
        # a listener: the setting applies to the flows it gets from now on
        if optname in (MOS_CLIBUF, MOS_SVRBUF):
            if v < 0:
                err(E.EINVAL, "mtcp_setsockopt: buffer size %d" % v)
            s.bufs[side] = v
        else:
            if v not in _POLICIES:
                err(E.EINVAL, "mtcp_setsockopt: overlap policy %d" % v)
            s.overlap[side] = v
        ctx.sync_core()
        return 0
    s, f = active_of(ctx, sock, "mtcp_setsockopt")
    if optname == MOS_STOP_MON:
        check_side(v, both=True)
        for sd in ((CLI, SVR) if v == MOS_SIDE_BOTH else (v,)):
            s.stopped[sd] = True
        others = [o for o in ctx.actives.get(s.flow, []) if o is not s]
        for sd in (CLI, SVR):
            if all(o.stopped[sd] for o in others + [s]):
                lib.xc_mon_stop(ctx.mon.raw, s.flow, sd)
        return 0
    if s.stopped[side]:
        err(E.EPERM, "mtcp_setsockopt: monitoring of that side was stopped")
    if optname in (MOS_CLIBUF, MOS_SVRBUF):
        if v < 0 or lib.xc_mon_set_buf(ctx.mon.raw, s.flow, side, v) < 0:
            err(E.EINVAL, "mtcp_setsockopt: buffer size %d (does the data fit?)" % v)
        return 0
    if v not in _POLICIES or lib.xc_mon_set_overlap(ctx.mon.raw, s.flow, side, v) < 0:
        err(E.EINVAL, "mtcp_setsockopt: overlap policy %d" % v)
    return 0
