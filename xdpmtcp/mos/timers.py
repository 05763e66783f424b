"""mtcp_settimer: one-shot timers on the context's clock (the packets' own
for a capture), run between packets."""
import errno as E
import heapq

from .constants import MOS_ON_TIMEOUT, MOS_SIDE_BOTH, timeval
from .context import ctx_of
from .errors import err
from .sockets import sock_of


def mtcp_settimer(mctx, sock, timeout, cb):
    """cb(mctx, sock, MOS_SIDE_BOTH, MOS_ON_TIMEOUT, None) once, timeout
    (seconds, or a timeval) later on the context's clock (the packets'
    for a capture)."""
    ctx = ctx_of(mctx)
    sock_of(ctx, sock)
    if isinstance(timeout, timeval):
        timeout = timeout.tv_sec + timeout.tv_usec / 1e6
    if timeout < 0 or not callable(cb):
        err(E.EINVAL, "mtcp_settimer: timeout and callback")
    heapq.heappush(ctx.timers, (ctx.clock_ns + int(timeout * 1e9), next(ctx.tseq), sock, cb))
    return 0


def start_clock(ctx, start_ns):
    """The input started at start_ns: timers set before count from it."""
    ctx.timers = [(due + start_ns, seq, sid, cb) for due, seq, sid, cb in ctx.timers]
    heapq.heapify(ctx.timers)
    ctx.clock_ns = start_ns


def run_timers(ctx, now):
    while ctx.timers and ctx.timers[0][0] <= now:
        _, _, sid, cb = heapq.heappop(ctx.timers)
        s = ctx.socks.get(sid)
        if s is not None and not s.closed:
            cb(ctx, sid, MOS_SIDE_BOTH, MOS_ON_TIMEOUT, None)
