"""mtcp_app_join: the context's run loop over its input (a capture file or
live interfaces), a burst at a time; inline, what the callbacks let through
is forwarded (or, offline, written to pcap_out)."""
import errno as E

from .._core import ffi
from ..phy.pcap import PcapWriter
from .constants import MOS_SOCK_MONITOR_RAW
from .context import ctx_of, open_live
from .dispatch import dispatch, raw_sockets
from .errors import err
from .timers import run_timers, start_clock


def mtcp_app_join(mctx):
    """Run the context's input: a capture file (pcap=...) to its end, or
    live interfaces (port="IF" standalone, port="IF1 IF2" inline) until
    mtcp_destroy_context or `duration` seconds.  Callbacks run as their
    events come; flows still open at the end get MOS_ON_CONN_END.  Inline,
    every frame is forwarded out of the other interface unless a callback
    dropped it (MOS_DROP), as edited (mtcp_setlastpkt)."""
    from ..monitor.source import PcapInput
    ctx = ctx_of(mctx)
    if ctx.conf.get("pcap"):
        source = PcapInput(ctx.conf["pcap"], burst=256)
    elif ctx.conf.get("port"):
        source = ctx.live_input or open_live(ctx)
        ctx.live_input = None
    else:
        err(E.EINVAL, "mtcp_app_join: no input (give pcap=FILE or port=IF [IF2])")
    ctx.start()
    ctx.sync_core()
    ctx.source = source
    out = PcapWriter(ctx.conf["pcap_out"]) if ctx.conf.get("pcap_out") else None
    ctx.running = True
    try:
        with source:
            for burst, now in source.bursts():
                if ctx.clock_ns == 0 and (len(burst) or now):
                    # timers set before the input started count from its start
                    start_clock(ctx, now or int(burst.raw.pkts[0].ts_ns))
                if now:
                    ctx.clock_ns = max(ctx.clock_ns, now)
                verdict = _process_burst(ctx, burst, now)
                if len(burst):                     # the packets' clock, events or not
                    ctx.clock_ns = max(ctx.clock_ns, int(burst.raw.pkts[len(burst) - 1].ts_ns))
                run_timers(ctx, ctx.clock_ns)
                source.after(burst, verdict)
                if source.inline:
                    for _, frame in ctx.injected:
                        source.send(frame, 1 - source.port_index)
                if out is not None:
                    _write_forwarded(ctx, burst, out)
            ctx.burst = None
            for events in ctx.mon.flush():
                dispatch(ctx, events)
    finally:
        ctx.running = False
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
            dispatch(ctx, events)
        return ctx.verdict
    from ..monitor.source import Burst
    if ctx.single is None:
        ctx.single = Burst(1)
    single = ctx.single
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
        raw_sockets(ctx, single)
        for events in ctx.mon.feed(single, now):
            dispatch(ctx, events)
        ffi.memmove(raw.data + p.off, one.data, q.len)     # edits go out
        p.len = q.len
        verdict[i] = ctx.verdict[0]
        injected += [(i, f) for _, f in ctx.injected]
    ctx.burst = burst
    ctx.injected = injected
    ctx.verdict = verdict
    return verdict


def _write_forwarded(ctx, burst, out):
    """The burst as forwarded: what the verdicts let through, in C, with
    the frames callbacks injected (mtcp_sendpkt) after the packet they
    were sent at."""
    at = 0
    for i, frame in sorted(ctx.injected, key=lambda x: x[0] if x[0] is not None else -1):
        end = 0 if i is None else i + 1
        if end > at:
            out.write_burst(burst, ctx.verdict, at, end)
            at = end
        ts = int(burst.raw.pkts[i].ts_ns) if i is not None else ctx.clock_ns
        out.write(frame, ts)
    out.write_burst(burst, ctx.verdict, at)
