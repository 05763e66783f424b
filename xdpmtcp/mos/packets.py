"""Raw packets: the frame an event came with (mtcp_getlastpkt), changing
it in place (mtcp_setlastpkt: what an inline monitor forwards) and sending
new ones (mtcp_sendpkt)."""
import errno as E
import struct

from .._core import ffi, lib
from ..monitor.core import CLI
from .constants import (MOS_CHOMP, MOS_DROP, MOS_ETH_HDR, MOS_INSERT, MOS_IP_HDR, MOS_OVERWRITE,
                        MOS_SIDE_CLI, MOS_SOCK_MONITOR_STREAM_ACTIVE, MOS_TCP_HDR, MOS_TCP_PAYLOAD,
                        MOS_UPDATE_IP_CHKSUM, MOS_UPDATE_TCP_CHKSUM, pkt_info)
from .context import ctx_of, same_thread
from .errors import err
from .sockets import sock_of


def frame_view(ctx):
    """The burst and packet record being processed (ENODATA outside)."""
    if ctx.burst is None or ctx.pkt is None:
        err(E.ENODATA, "no packet is being processed")
    raw = ctx.burst.raw
    return raw, raw.pkts[ctx.pkt]


def current_frame(ctx):
    raw, p = frame_view(ctx)
    return bytes(ffi.buffer(raw.data + p.off, p.len))


def layout(frame):
    """The frame's parts, read by the C core's parser (struct
    xc_mon_pkt_layout) and its result: 0 TCP, 1 other IPv4, -1 neither."""
    lay = ffi.new("struct xc_mon_pkt_layout *")
    r = lib.xc_mon_pkt_layout(ffi.from_buffer(frame), len(frame), lay)
    return r, lay


def mtcp_getlastpkt(mctx, sock, side=MOS_SIDE_CLI):
    """A copy of the packet the running event came with (pkt_info)."""
    ctx = ctx_of(mctx)
    same_thread(ctx, "mtcp_getlastpkt")
    sock_of(ctx, sock)
    raw, p = frame_view(ctx)
    frame = bytes(ffi.buffer(raw.data + p.off, p.len))
    _, lay = layout(frame)
    seq = lay.seq
    off = 0
    s = ctx.socks.get(sock)
    if s is not None and s.type == MOS_SOCK_MONITOR_STREAM_ACTIVE and ctx.mon is not None:
        f = ctx.mon.flow(s.flow)
        sender = ctx.last_sender.get(ctx.pkt, CLI)
        if f is not None:
            base = (int(f.side[sender].iss) + 1) & 0xffffffff
            off = (seq - base) & 0xffffffff
    return pkt_info(cur_ts=int(p.ts_ns // 1_000_000) & 0xffffffff, in_ifidx=0,
                    eth_len=len(frame), ip_len=lay.ip_len, offset=off,
                    payloadlen=lay.payload_len, seq=seq, ack_seq=lay.ack, window=lay.window,
                    frame=frame, ip_off=lay.ip_off, tcp_off=lay.l4_off,
                    payload_off=lay.payload_off)


def mtcp_setlastpkt(mctx, sock, side, offset, data, option):
    """Change the packet being processed (inline: what is forwarded).
    MOS_DROP; MOS_OVERWRITE of bytes at offset in MOS_ETH_HDR, MOS_IP_HDR,
    MOS_TCP_HDR or MOS_TCP_PAYLOAD; MOS_CHOMP (data: the byte count, or
    bytes whose length is used) and MOS_INSERT in the payload; the IPv4
    total length follows, MOS_UPDATE_IP_CHKSUM / MOS_UPDATE_TCP_CHKSUM
    recompute the checksums."""
    ctx = ctx_of(mctx)
    same_thread(ctx, "mtcp_setlastpkt")
    sock_of(ctx, sock)
    raw, p = frame_view(ctx)
    if option & MOS_DROP:
        ctx.verdict[ctx.pkt] = 0
        return 0
    frame = bytearray(ffi.buffer(raw.data + p.off, p.len))
    kind, lay = layout(frame)
    if kind != 0:
        err(E.EINVAL, "mtcp_setlastpkt: the packet is not a TCP segment")
    l2, tcp, pay, tot = lay.ip_off, lay.l4_off, lay.payload_off, lay.ip_len
    bases = {MOS_ETH_HDR: (0, l2), MOS_IP_HDR: (l2, tcp), MOS_TCP_HDR: (tcp, pay),
             MOS_TCP_PAYLOAD: (pay, l2 + tot)}
    parts = [b for b in bases if option & b]
    if len(parts) != 1:
        err(E.EINVAL, "mtcp_setlastpkt: name exactly one header or the payload")
    start, end = bases[parts[0]]
    at = start + int(offset)
    if option & MOS_OVERWRITE:
        if at < start or at + len(data) > end:
            err(E.EINVAL, "mtcp_setlastpkt: overwrite outside that part")
        frame[at:at + len(data)] = data
    elif option & (MOS_CHOMP | MOS_INSERT):
        if parts[0] != MOS_TCP_PAYLOAD or at < start or at > end:
            err(E.EINVAL, "mtcp_setlastpkt: CHOMP and INSERT work on the payload")
        if option & MOS_CHOMP:
            n = data if isinstance(data, int) else len(data)
            if at + n > end:
                err(E.EINVAL, "mtcp_setlastpkt: chomp past the payload")
            del frame[at:at + n]
            tot -= n
        else:
            if len(frame) + len(data) > lib.XC_FRAME_MAX:
                err(E.EMSGSIZE, "mtcp_setlastpkt: the frame would exceed %d bytes"
                    % lib.XC_FRAME_MAX)
            frame[at:at] = data
            tot += len(data)
        struct.pack_into("!H", frame, l2 + 2, tot)
    else:
        err(E.EINVAL, "mtcp_setlastpkt: no operation (DROP, OVERWRITE, CHOMP, INSERT)")
    which = (lib.XC_MON_CSUM_IP if option & MOS_UPDATE_IP_CHKSUM or option & (MOS_CHOMP | MOS_INSERT)
             else 0) | (lib.XC_MON_CSUM_TCP if option & MOS_UPDATE_TCP_CHKSUM else 0)
    if which and lib.xc_mon_pkt_csum(ffi.from_buffer(frame), len(frame), which) < 0:
        err(E.EINVAL, "mtcp_setlastpkt: the edited frame is no whole TCP segment")
    ffi.memmove(raw.data + p.off, bytes(frame), len(frame))
    p.len = len(frame)
    return 0


def mtcp_sendpkt(mctx, sock, pkt):
    """Send a frame (pkt_info or bytes) out of the inline path.  Offline
    (pcap_out) it is written after the packet being processed."""
    ctx = ctx_of(mctx)
    same_thread(ctx, "mtcp_sendpkt")
    sock_of(ctx, sock)
    frame = pkt.frame if isinstance(pkt, pkt_info) else bytes(pkt)
    src = ctx.source
    if not ctx.conf.get("pcap_out") and not (src is not None and src.inline):
        err(E.ENOSYS, "mtcp_sendpkt: no inline output (inline ports, or pcap_out offline)")
    ctx.injected.append((ctx.pkt, frame))
    return 0
