"""The mOS dialect on the pcap path: sockets, callbacks and their hooks,
user-defined events, SOL_MONSOCKET options with every errno the page
names, peek and loss reporting, timers, packet edits."""
import errno
import threading

import pytest

from montraffic import ACK, FIN, PSH, RST, SYN, Conv, write_pcap
from xdpmtcp import mos_api as M
from xdpmtcp._core import lib
from xdpmtcp.phy import PcapSource

S = 1_000_000_000


def ctx_for(tmp_path, frames, name="t.pcap", step_ns=1000, **kw):
    pcap = write_pcap(tmp_path / name, frames, step_ns=step_ns)
    return M.mtcp_create_context(0, pcap=str(pcap), **kw)


def listener(mctx, flt=None):
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    if flt:
        M.mtcp_bind_monitor_filter(mctx, s, flt)
    return s


def simple_flow(c=None, data=b"hello", reply=b"world!"):
    c = c or Conv()
    return c.handshake() + [c.c(ACK | PSH, data), c.s(ACK | PSH, reply), c.c(ACK)] + c.close()


NAMES = {M.MOS_ON_PKT_IN: "PKT_IN", M.MOS_ON_CONN_START: "START",
         M.MOS_ON_CONN_NEW_DATA: "DATA", M.MOS_ON_TCP_STATE_CHANGE: "STATE",
         M.MOS_ON_CONN_END: "END", M.MOS_ON_REXMIT: "REXMIT", M.MOS_ON_ERROR: "ERROR",
         M.MOS_ON_TIMEOUT: "TIMEOUT", M.MOS_ON_ORPHAN: "ORPHAN"}
HOOKS = {M.MOS_HK_SND: "SND", M.MOS_HK_RCV: "RCV", M.MOS_NULL: "NULL"}


def record_all(mctx, sock, log):
    allowed = {M.MOS_NULL: (M.MOS_ON_CONN_NEW_DATA, M.MOS_ON_ERROR, M.MOS_ON_TIMEOUT),
               M.MOS_HK_SND: (M.MOS_ON_CONN_START, M.MOS_ON_TCP_STATE_CHANGE, M.MOS_ON_CONN_END,
                              M.MOS_ON_REXMIT),
               M.MOS_HK_RCV: (M.MOS_ON_CONN_START, M.MOS_ON_TCP_STATE_CHANGE, M.MOS_ON_CONN_END,
                              M.MOS_ON_REXMIT)}
    for hook, evs in allowed.items():
        for ev in evs:
            def cb(m, s, side, e, arg, hook=hook):
                log.append((NAMES[e], HOOKS[hook], side))
            M.mtcp_register_callback(mctx, sock, ev, hook, cb)


def test_events_fire_in_documented_order_with_hooks(tmp_path):
    mctx = ctx_for(tmp_path, simple_flow())
    log = []
    record_all(mctx, listener(mctx), log)
    M.mtcp_app_join(mctx)
    CLI, SVR = M.MOS_SIDE_CLI, M.MOS_SIDE_SVR
    assert log == [
        ("START", "SND", CLI), ("STATE", "SND", CLI),          # SYN: client sent it
        ("START", "RCV", SVR), ("STATE", "RCV", SVR),          # server received it
        ("STATE", "RCV", CLI),                                 # SYN-ACK: client ESTABLISHED
        ("STATE", "RCV", SVR),                                 # ACK: server ESTABLISHED
        ("DATA", "NULL", SVR), ("DATA", "NULL", CLI),          # hello, world!
        ("STATE", "SND", CLI), ("STATE", "RCV", SVR),          # FIN_WAIT_1, CLOSE_WAIT
        ("STATE", "RCV", CLI),                                 # FIN_WAIT_2
        ("STATE", "SND", SVR), ("STATE", "RCV", CLI),          # LAST_ACK, TIME_WAIT
        ("STATE", "RCV", SVR),                                 # CLOSED
        ("END", "SND", CLI), ("END", "RCV", SVR)]


def test_pkt_in_at_each_hook_and_once_at_null(tmp_path):
    frames = simple_flow()
    mctx = ctx_for(tmp_path, frames)
    s = listener(mctx)
    seen = {"SND": 0, "RCV": 0, "NULL": 0}
    for hook in (M.MOS_HK_SND, M.MOS_HK_RCV, M.MOS_NULL):
        M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, hook,
                                 lambda *a, h=HOOKS[hook]: seen.__setitem__(h, seen[h] + 1))
    M.mtcp_app_join(mctx)
    assert seen == {"SND": len(frames), "RCV": len(frames), "NULL": len(frames)}


def test_hook_pairs_are_mos_ones():
    mctx = M.mtcp_create_context(0)
    s = listener(mctx)
    cb = lambda *a: None  # noqa: E731
    for ev in (M.MOS_ON_CONN_START, M.MOS_ON_REXMIT, M.MOS_ON_TCP_STATE_CHANGE, M.MOS_ON_CONN_END):
        with pytest.raises(OSError) as e:
            M.mtcp_register_callback(mctx, s, ev, M.MOS_NULL, cb)
        assert e.value.errno == errno.EINVAL
    for ev in (M.MOS_ON_CONN_NEW_DATA, M.MOS_ON_ORPHAN, M.MOS_ON_ERROR):
        for hook in (M.MOS_HK_RCV, M.MOS_HK_SND):
            with pytest.raises(OSError):
                M.mtcp_register_callback(mctx, s, ev, hook, cb)
    for bad in (0, M.MOS_ON_PKT_IN | M.MOS_ON_CONN_START, 1 << 40):
        with pytest.raises(OSError):
            M.mtcp_register_callback(mctx, s, bad, M.MOS_HK_SND, cb)
    with pytest.raises(OSError):
        M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, 12345, cb)
    assert M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_NULL, cb) == 0
    assert M.mtcp_register_callback(mctx, s, M.MOS_ON_TIMEOUT, M.MOS_HK_SND, cb) == 0
    assert M.mtcp_unregister_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_NULL) == 0
    with pytest.raises(OSError) as e:
        M.mtcp_register_callback(mctx, 99, M.MOS_ON_PKT_IN, M.MOS_NULL, cb)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        M.mtcp_register_callback(object(), s, M.MOS_ON_PKT_IN, M.MOS_NULL, cb)
    assert e.value.errno == errno.EACCES


def test_user_defined_event_filter_gates_its_callbacks(tmp_path):
    a, b = Conv(cport=1111), Conv(cport=2222)
    frames = simple_flow(a) + simple_flow(b)
    mctx = ctx_for(tmp_path, frames)
    s = listener(mctx)

    def is_syn(m, sock, side, ev, arg):
        p = M.mtcp_getlastpkt(m, sock, side)
        return bool(p.tcph[13] & SYN) and not p.tcph[13] & ACK and arg == "tag"
    syn_ev = M.mtcp_define_event(M.MOS_ON_PKT_IN, is_syn, "tag")
    port_ev = M.mtcp_define_event(syn_ev, lambda m, sock, side, ev, arg:
                                  M.mtcp_getpeername(m, sock, M.MOS_SIDE_CLI)[1] == 2222)
    hits, deep = [], []
    M.mtcp_register_callback(mctx, s, syn_ev, M.MOS_HK_SND,
                             lambda m, sock, side, ev, arg: hits.append((ev, arg, side)))
    M.mtcp_register_callback(mctx, s, port_ev, M.MOS_HK_SND,
                             lambda m, sock, side, ev, arg: deep.append(sock))
    M.mtcp_app_join(mctx)
    assert hits == [(syn_ev, "tag", M.MOS_SIDE_CLI)] * 2       # one SYN per flow, not all packets
    assert len(deep) == 1                                       # a child filters further
    with pytest.raises(OSError):
        M.mtcp_define_event(12345 << 40, is_syn)
    with pytest.raises(OSError):
        M.mtcp_register_callback(mctx, s, syn_ev, M.MOS_NULL - 1, lambda *a: None)


def test_alloc_and_raise_event(tmp_path):
    mctx = ctx_for(tmp_path, simple_flow())
    s = listener(mctx)
    mine = M.mtcp_alloc_event(M.MOS_ON_CONN_NEW_DATA)
    got = []
    M.mtcp_register_callback(mctx, s, mine, M.MOS_NULL, lambda m, sock, side, ev, arg:
                             got.append((sock, side)))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_NEW_DATA, M.MOS_NULL,
                             lambda m, sock, side, ev, arg: M.mtcp_raise_event(m, mine))
    M.mtcp_app_join(mctx)
    assert [side for _, side in got] == [M.MOS_SIDE_SVR, M.MOS_SIDE_CLI]
    with pytest.raises(OSError):
        M.mtcp_raise_event(mctx, M.MOS_ON_PKT_IN)


# ---------------------------------------------------------------- SOL_MONSOCKET

def ooo_flow():
    c = Conv()
    frames = c.handshake()
    base = c.cnxt
    frames += [c.c(ACK | PSH, b"a" * 100, seq=base), c.c(ACK | PSH, b"c" * 100, seq=base + 200),
               c.c(ACK | PSH, b"e" * 100, seq=base + 400), c.c(ACK | PSH, b"b" * 100, seq=base + 100),
               c.c(ACK | PSH, b"d" * 100, seq=base + 300)]
    c.cnxt = base + 500
    return c, frames + c.close()


def test_fraginfo_shows_the_holes_before_they_fill_and_info_is_sequence_numbers(tmp_path):
    c, frames = ooo_flow()
    mctx = ctx_for(tmp_path, frames)
    s = listener(mctx)
    snaps = []

    def after_packet(m, sock, side, ev, arg):
        if side != M.MOS_SIDE_SVR:
            return
        snaps.append((M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_FRAGINFO_SVRBUF),
                      M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_INFO_SVRBUF)))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_HK_RCV, after_packet)
    M.mtcp_app_join(mctx)
    F = M.tcp_ring_fragment
    frags = [f for f, _ in snaps[2:7]]
    assert frags == [[F(0, 100)], [F(0, 100), F(200, 100)],
                     [F(0, 100), F(200, 100), F(400, 100)],
                     [F(0, 300), F(400, 100)], [F(0, 500)]]
    info = snaps[3][1]
    base = c.ciss + 1
    assert info == M.tcp_buf_info(tcpbi_init_seq=base, tcpbi_last_byte_read=base,
                                  tcpbi_next_byte_expected=base + 100,
                                  tcpbi_last_byte_received=base + 300)


def test_every_option_and_errno(tmp_path):
    c, frames = ooo_flow()
    mctx = ctx_for(tmp_path, frames)
    s = listener(mctx)
    out = {}

    def check(m, sock, side, ev, arg):
        if out:
            return
        g = lambda opt, *a: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, opt, *a)  # noqa: E731
        out["cli_state"] = g(M.MOS_TCP_STATE_CLI)
        out["svr_state"] = g(M.MOS_TCP_STATE_SVR)
        out["state_raw"] = g(M.MOS_TCP_STATE_CLI, 4)
        out["frags_raw"] = g(M.MOS_FRAGINFO_SVRBUF, 64)
        out["info_raw"] = g(M.MOS_INFO_SVRBUF, 16)
        out["cli_frags"] = g(M.MOS_FRAGINFO_CLIBUF)
        out["cli_info"] = g(M.MOS_INFO_CLIBUF)
        errs = {}
        for name, call in [
            ("bad ctx", lambda: M.mtcp_getsockopt(None, sock, M.SOL_MONSOCKET, M.MOS_TCP_STATE_CLI)),
            ("bad sock", lambda: M.mtcp_getsockopt(m, 9999, M.SOL_MONSOCKET, M.MOS_TCP_STATE_CLI)),
            ("listener", lambda: M.mtcp_getsockopt(m, s, M.SOL_MONSOCKET, M.MOS_TCP_STATE_CLI)),
            ("sol_socket", lambda: M.mtcp_getsockopt(m, sock, M.SOL_SOCKET, M.SO_ERROR)),
            ("level", lambda: M.mtcp_getsockopt(m, sock, 6, 1)),
            ("optname", lambda: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, 0x55)),
            ("suppressed", lambda: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_TIMESTAMP)),
            ("set get-only", lambda: M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET,
                                                        M.MOS_TCP_STATE_CLI, 1)),
            ("frag len", lambda: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET,
                                                    M.MOS_FRAGINFO_SVRBUF, 10)),
        ]:
            with pytest.raises(OSError) as e:
                call()
            errs[name] = e.value.errno
        out["errs"] = errs
        # another thread: EPERM
        box = []
        t = threading.Thread(target=lambda: box.append(_errno_of(
            lambda: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_TCP_STATE_CLI))))
        t.start()
        t.join()
        out["thread"] = box[0]
        # stopped side: EPERM
        M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_STOP_MON, M.MOS_SIDE_CLI)
        out["stopped"] = _errno_of(lambda: M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET,
                                                             M.MOS_INFO_CLIBUF))
        out["svr_ok"] = M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_TCP_STATE_SVR)
        out["sock"] = sock
    M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_HK_RCV,
                             lambda m, sock, side, ev, arg:
                             check(m, sock, side, ev, arg) if side == 1 and
                             M.mtcp_getsockopt(m, sock, M.SOL_MONSOCKET,
                                               M.MOS_FRAGINFO_SVRBUF)[1:] else None)
    M.mtcp_app_join(mctx)
    T = M.tcpstate
    assert (out["cli_state"], out["svr_state"]) == (T.TCP_ESTABLISHED, T.TCP_ESTABLISHED)
    assert out["state_raw"] == b"\x04\0\0\0"
    assert out["frags_raw"] == (bytes.fromhex("0000000000000000" "64000000" "00000000")
                                + bytes.fromhex("c800000000000000" "64000000" "00000000")
                                + bytes(16))
    assert len(out["info_raw"]) == 16
    assert out["cli_frags"] == []
    assert out["errs"] == {"bad ctx": errno.EACCES, "bad sock": errno.EBADF,
                           "listener": errno.ENOTSOCK, "sol_socket": errno.ENOTSOCK,
                           "level": errno.ENOSYS, "optname": errno.ENOSYS,
                           "suppressed": errno.ENOSYS, "set get-only": errno.ENOSYS,
                           "frag len": errno.EINVAL}
    assert out["thread"] == errno.EPERM and out["stopped"] == errno.EPERM
    assert out["svr_ok"] == T.TCP_ESTABLISHED
    # the flow ended: its socket is gone
    assert _errno_of(lambda: M.mtcp_getsockopt(mctx, out["sock"], M.SOL_MONSOCKET,
                                               M.MOS_TCP_STATE_CLI)) == errno.EBADF


def _errno_of(call):
    try:
        call()
    except OSError as e:
        return e.errno
    return None


def test_setsockopt_buffers_overlap_and_stop(tmp_path):
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"x" * 100)]
    over = c.c(ACK | PSH, b"Y" * 100, seq=c.cnxt - 100)          # same bytes range, new content
    frames += [over, c.s(ACK | PSH, b"r" * 10), c.c(ACK)] + c.close()
    mctx = ctx_for(tmp_path, frames)
    s = listener(mctx)
    M.mtcp_setsockopt(mctx, s, M.SOL_MONSOCKET, M.MOS_SVROVERLAP, M.MOS_OVERLAP_POLICY_LAST)
    M.mtcp_setsockopt(mctx, s, M.SOL_MONSOCKET, M.MOS_CLIBUF, 0)    # no client buffer
    got, errs = {}, []

    def on_pkt(m, sock, side, ev, arg):
        if side == M.MOS_SIDE_SVR and M.mtcp_getlastpkt(m, sock, side).payload:   # the reply
            got["ppeek"] = M.mtcp_ppeek(m, sock, M.MOS_SIDE_SVR, 5, 0)
            got["svr"] = M.mtcp_peek(m, sock, M.MOS_SIDE_SVR, 1000)
            got["ppeek_after"] = M.mtcp_ppeek(m, sock, M.MOS_SIDE_SVR, 5, 0)
            got["cli"] = _errno_of(lambda: M.mtcp_peek(m, sock, M.MOS_SIDE_CLI, 10))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_HK_SND, on_pkt)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_ERROR, M.MOS_NULL,
                             lambda m, sock, side, ev, arg: errs.append(M.mos_last_error(m)))

    def on_start(m, sock, side, ev, arg):
        for bad in (-1, b"\1\2"):
            got.setdefault("bad", []).append(_errno_of(lambda: M.mtcp_setsockopt(
                m, sock, M.SOL_MONSOCKET, M.MOS_SVRBUF, bad)))
        got["bad"].append(_errno_of(lambda: M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET,
                                                               M.MOS_CLIOVERLAP, 9)))
        got["bad"].append(_errno_of(lambda: M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET,
                                                               M.MOS_STOP_MON, 7)))
        M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_SVRBUF, 65536)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, on_start)
    M.mtcp_app_join(mctx)
    assert got["bad"] == [errno.EINVAL] * 4
    assert got["svr"] == b"Y" * 100 and got["ppeek"] == b"YYYYY"   # LAST: new bytes won
    assert got["ppeek_after"] == -100                               # consumed by the peek
    assert got["cli"] == errno.EINVAL                                # buffering off
    assert [e["kind"] for e in errs] == ["overlap"] and errs[0]["bytes"] == 100


def test_stop_mon_silences_a_side(tmp_path):
    mctx = ctx_for(tmp_path, simple_flow())
    s = listener(mctx)
    log = []
    record_all(mctx, s, log)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_RCV, lambda m, sock, side, ev, arg:
                             M.mtcp_setsockopt(m, sock, M.SOL_MONSOCKET, M.MOS_STOP_MON,
                                               M.MOS_SIDE_BOTH))
    M.mtcp_app_join(mctx)
    assert log == [("START", "SND", 0), ("STATE", "SND", 0)]        # nothing after the stop


def test_peek_reports_lost_bytes_and_error_fires_first(tmp_path):
    c = Conv()
    frames = c.handshake()
    data = bytes(range(256)) * 256                                   # 64 KiB
    for i in range(0, len(data), 1000):
        frames.append(c.c(ACK | PSH, data[i:i + 1000]))
    frames += c.close()
    mctx = ctx_for(tmp_path, frames, rcvbuf=16384)
    s = listener(mctx)
    order, reads = [], []

    def on_data(m, sock, side, ev, arg):
        if len(order) < 60:                                         # do not read for a while
            order.append("data")
            return
        r = M.mtcp_peek(m, sock, side, 1 << 20)
        reads.append(r)
        if isinstance(r, int):                                      # lost: read on after them
            reads.append(M.mtcp_peek(m, sock, side, 1 << 20))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_NEW_DATA, M.MOS_NULL, on_data)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_ERROR, M.MOS_NULL, lambda m, sock, side, ev, arg:
                             order.append(M.mos_last_error(m)["kind"]))
    M.mtcp_app_join(mctx)
    assert "outrun" in order
    assert order.index("outrun") < len(order)
    lost = -reads[0]
    assert lost > 0 and isinstance(reads[0], int)
    assert all(isinstance(r, bytes) for r in reads[1:])            # reading keeps up now
    rest = b"".join(reads[1:])
    assert data[lost:] == rest
    with pytest.raises(OSError) as e:
        M.mtcp_peek(mctx, 0, 5, 10)
    assert e.value.errno in (errno.EINVAL, errno.ENOTSOCK)


# ---------------------------------------------------------------- the rest

def test_peername_count_uctx_timers_and_timeout(tmp_path):
    a, b = Conv(cport=3001), Conv(cport=3002)
    frames = a.handshake() + [a.c(ACK | PSH, b"a")]
    frames += b.handshake() + [b.c(ACK | PSH, b"b")]
    pcap_frames = frames
    ts_step = 4 * S                                                 # 4 s between packets
    mctx = ctx_for(tmp_path, pcap_frames, step_ns=ts_step, tcp_timeout=10)
    s = listener(mctx)
    seen = {}

    def start(m, sock, side, ev, arg):
        seen.setdefault("peers", []).append(M.mtcp_getpeername(m, sock, M.MOS_SIDE_BOTH))
        seen.setdefault("cnt", []).append(M.mtcp_get_connection_cnt(m))
        M.mtcp_set_uctx(m, sock, {"n": len(seen["peers"])})
        M.mtcp_settimer(m, sock, M.timeval(5, 0), lambda m2, sk, sd, e, ar:
                        seen.setdefault("timer", []).append((sk, e, M.mtcp_get_uctx(m2, sk)["n"])))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, start)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_TIMEOUT, M.MOS_NULL, lambda m, sock, side, ev, arg:
                             seen.setdefault("timeout", []).append(sock))
    M.mtcp_app_join(mctx)
    assert seen["peers"] == [[("198.18.0.1", 3001), ("198.18.0.2", 80)],
                             [("198.18.0.1", 3002), ("198.18.0.2", 80)]]
    assert seen["cnt"] == [1, 2]
    assert [t[1:] for t in seen["timer"]] == [(M.MOS_ON_TIMEOUT, 1), (M.MOS_ON_TIMEOUT, 2)][:len(seen["timer"])]
    assert len(seen["timer"]) >= 1
    assert len(seen["timeout"]) == 1                                  # flow a went idle > 10 s


def test_syn_filter_orphans_and_raw_sockets(tmp_path):
    a, b = Conv(cport=4001, sport=80), Conv(cport=4002, sport=8080)
    o = Conv(cport=4003)
    o.handshake()
    frames = simple_flow(a) + simple_flow(b) + [o.c(ACK | PSH, b"orphan")]
    mctx = ctx_for(tmp_path, frames)
    web = listener(mctx, M.monitor_filter(stream_syn_filter="tcp and dst port 80",
                                          stream_orphan_filter="src port 4003"))
    raw = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_RAW, 0)
    M.mtcp_bind_monitor_filter(mctx, raw, "tcp and port 8080")
    starts, orphans, raws = [], [], []
    M.mtcp_register_callback(mctx, web, M.MOS_ON_CONN_START, M.MOS_HK_SND, lambda m, sock, *a:
                             starts.append(M.mtcp_getpeername(m, sock, M.MOS_SIDE_SVR)))
    M.mtcp_register_callback(mctx, web, M.MOS_ON_ORPHAN, M.MOS_NULL, lambda m, sock, side, *a:
                             orphans.append(M.mtcp_getlastpkt(m, sock, side).payload))
    M.mtcp_register_callback(mctx, raw, M.MOS_ON_PKT_IN, M.MOS_NULL, lambda m, sock, *a:
                             raws.append(M.mtcp_getlastpkt(m, sock).seq))
    M.mtcp_app_join(mctx)
    assert starts == [("198.18.0.2", 80)]
    assert orphans == [b"orphan"]
    assert len(raws) == len(simple_flow(Conv()))
    for bad in ("not tcp", "udp", "tcp and bogus 3", "port 99999"):
        with pytest.raises(OSError) as e:
            M.mtcp_bind_monitor_filter(mctx, web, bad)
        assert e.value.errno == errno.EINVAL


def test_setlastpkt_drop_overwrite_chomp_insert_to_pcap_out(tmp_path):
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"GET /secret HTTP/1.0\r\n\r\n"), c.s(ACK)] + c.close()
    out = tmp_path / "out.pcap"
    mctx = ctx_for(tmp_path, frames, pcap_out=str(out))
    s = listener(mctx)

    def edit(m, sock, side, ev, arg):
        p = M.mtcp_getlastpkt(m, sock, side)
        if p.payload.startswith(b"GET"):
            M.mtcp_setlastpkt(m, sock, side, 5, b"public", M.MOS_TCP_PAYLOAD | M.MOS_OVERWRITE |
                              M.MOS_UPDATE_TCP_CHKSUM)
            M.mtcp_setlastpkt(m, sock, side, 0, 4, M.MOS_TCP_PAYLOAD | M.MOS_CHOMP |
                              M.MOS_UPDATE_TCP_CHKSUM)
            M.mtcp_setlastpkt(m, sock, side, 0, b"HEAD ", M.MOS_TCP_PAYLOAD | M.MOS_INSERT |
                              M.MOS_UPDATE_TCP_CHKSUM)
            M.mtcp_setlastpkt(m, sock, side, 16, bytes([10, 9, 8, 7]), M.MOS_IP_HDR |
                              M.MOS_OVERWRITE | M.MOS_UPDATE_IP_CHKSUM | M.MOS_UPDATE_TCP_CHKSUM)
        elif p.tcph[13] & FIN and side == M.MOS_SIDE_SVR:
            M.mtcp_setlastpkt(m, sock, side, 0, None, M.MOS_DROP)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_HK_SND, edit)
    M.mtcp_app_join(mctx)
    with PcapSource(str(out)) as src:
        got = [fr.data for fr in src.frames()]
    assert len(got) == len(frames) - 1                           # the server's FIN dropped
    edited = got[3]
    assert lib.xc_frame_verify(edited, len(edited)) == lib.XC_FRAME_OK
    assert edited[54:] == b"HEAD /public HTTP/1.0\r\n\r\n"
    assert edited[30:34] == bytes([10, 9, 8, 7])
    assert all(lib.xc_frame_verify(f, len(f)) == lib.XC_FRAME_OK for f in got)
