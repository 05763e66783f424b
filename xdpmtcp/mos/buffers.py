"""Reading a flow's reassembly buffers: mtcp_peek (consuming, per socket),
mtcp_ppeek (at an offset).  The ring keeps bytes until every active socket
of the flow read them.

MOS_SIDE_CLI's buffer is the client's receive buffer: what the server sent
(mOS's meaning); offsets count from the first byte after the SYN of that
byte stream."""
import errno as E

from .._core import ffi, lib
from .context import check_side, ctx_of, same_thread
from .errors import err
from .sockets import active_of


def seq_at(f, side, off):
    """Sequence number of offset off in side's buffer (the peer's stream)."""
    return (int(f.side[side ^ 1].iss) + 1 + off) & 0xffffffff


def _read(ring, off, n):
    k = max(0, min(int(n), int(ring.next_off) - int(off)))
    buf = ffi.new("uint8_t[]", max(k, 1))
    got = lib.xc_ring_peek(ffi.addressof(ring), int(off), buf, k) if k else 0
    return bytes(ffi.buffer(buf, got))


def mtcp_peek(mctx, sock, side, n):
    """Up to n bytes of side's buffer from where this socket stopped; an
    int below zero if bytes were dropped before it could read them (minus
    their number; the next call goes on after them)."""
    ctx = ctx_of(mctx)
    same_thread(ctx, "mtcp_peek")
    s, f = active_of(ctx, sock, "mtcp_peek")
    check_side(side)
    ring = f.side[side].rcv
    if s.stopped[side] or (ring.cap == 0 and int(f.side[side].buf_want) == 0):
        err(E.EINVAL, "mtcp_peek: buffering of that side is off")
    pos = s.peek[side]
    if pos < ring.read_off:
        missed = int(ring.read_off) - pos
        s.peek[side] = int(ring.read_off)
        return -missed
    data = _read(ring, pos, n)
    s.peek[side] = pos + len(data)
    _release(ctx, s.flow, side)
    return data


def mtcp_ppeek(mctx, sock, side, n, off):
    """Up to n bytes at stream offset off (not consuming); minus the bytes
    missed if off is below what the buffer still holds."""
    ctx = ctx_of(mctx)
    same_thread(ctx, "mtcp_ppeek")
    s, f = active_of(ctx, sock, "mtcp_ppeek")
    check_side(side)
    ring = f.side[side].rcv
    if off < ring.read_off:
        return -(int(ring.read_off) - int(off))
    return _read(ring, off, n)


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
