"""The monitor core's emulated endpoints: state transitions, events and
their order, from crafted segment sequences (no files, no privileges)."""
import pytest

from montraffic import ACK, FIN, PSH, RST, SYN, Conv, Run
from xdpmtcp._core import lib
from xdpmtcp.monitor.core import BOTH, CLI, HK_NULL, HK_RCV, HK_SND, SVR, Ev, TcpState

T = TcpState


def states(run, flow=1):
    return [(pkt, side, hook, T(code).name[4:]) for pkt, name, side, hook, code in run.kinds(flow)
            if name == "STATE"]


def test_handshake_data_close_events_in_documented_order():
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"hello"), c.s(ACK | PSH, b"world!"), c.c(ACK)] + c.close()
    r = Run().feed(frames)
    ev = r.kinds(1, skip=())
    # packet 0 (SYN): sender first (SND), then receiver (RCV)
    assert ev[:6] == [
        (0, "PKT_IN", CLI, HK_SND, 0), (0, "CONN_START", CLI, HK_SND, 0),
        (0, "STATE", CLI, HK_SND, T.TCP_SYN_SENT),
        (0, "PKT_IN", SVR, HK_RCV, 0), (0, "CONN_START", SVR, HK_RCV, 0),
        (0, "STATE", SVR, HK_RCV, T.TCP_SYN_RCVD)]
    assert states(r) == [
        (0, CLI, HK_SND, "SYN_SENT"), (0, SVR, HK_RCV, "SYN_RCVD"),
        (1, CLI, HK_RCV, "ESTABLISHED"),
        (2, SVR, HK_RCV, "ESTABLISHED"),
        (6, CLI, HK_SND, "FIN_WAIT_1"), (6, SVR, HK_RCV, "CLOSE_WAIT"),
        (7, CLI, HK_RCV, "FIN_WAIT_2"),
        (8, SVR, HK_SND, "LAST_ACK"), (8, CLI, HK_RCV, "TIME_WAIT"),
        (9, SVR, HK_RCV, "CLOSED")]
    # data: NEW_DATA at the receiver's RCV hook, DATA drained, CONN_END last
    assert (3, "NEW_DATA", SVR, HK_RCV, 0) in ev
    assert (4, "NEW_DATA", CLI, HK_RCV, 0) in ev
    assert ev[-1] == (9, "CONN_END", BOTH, HK_NULL, lib.XC_MON_END_FIN)
    assert bytes(r.data[(1, SVR)]) == b"hello" and bytes(r.data[(1, CLI)]) == b"world!"
    # DATA of a flow comes before its CONN_END
    names = [n for _, n, *_ in ev]
    assert names.index("DATA") < names.index("CONN_END")
    f = r.ended[1]
    assert (f["cli"]["state"], f["svr"]["state"]) == ("TIME_WAIT", "CLOSED")
    assert f["history"] == "ShADdFaf"
    assert f["end_reason"] == "fin"
    st = r.mon.stats()
    assert st["flows_created"] == st["flows_ended"] == st["end_fin"] == 1
    assert st["flows_live"] == 0


def test_pkt_in_per_hook_and_step_mode_returns_per_packet():
    c = Conv()
    r = Run(step=True).feed(c.handshake() + [c.c(ACK | PSH, b"x")])
    pkt_in = [(e[2], e[3], e[4]) for e in r.of(Ev.PKT_IN)]
    cs, sc = ((CLI, HK_SND), (SVR, HK_RCV)), ((SVR, HK_SND), (CLI, HK_RCV))
    assert pkt_in == [(i, side, hook) for i, dirn in enumerate((cs, sc, cs, cs))
                      for side, hook in dirn]
    assert r.calls == 4                # one call per packet that raised events


def test_simultaneous_close_goes_through_closing():
    c = Conv()
    hs = c.handshake()
    cfin = c.c(FIN | ACK)
    sfin = c.s(FIN | ACK, ack=c.cnxt - 1)      # crosses: does not ack the client's FIN
    r = Run().feed(hs + [cfin, sfin, c.c(ACK), c.s(ACK)])
    assert states(r)[4:] == [
        (3, CLI, HK_SND, "FIN_WAIT_1"), (3, SVR, HK_RCV, "CLOSE_WAIT"),
        (4, SVR, HK_SND, "LAST_ACK"), (4, CLI, HK_RCV, "CLOSING"),
        (5, SVR, HK_RCV, "CLOSED"),
        (6, CLI, HK_RCV, "TIME_WAIT")]
    assert r.ended[1]["end_reason"] == "fin"


def test_rst_answering_syn_is_rejected_connection():
    c = Conv()
    syn = c.c(SYN, ack=0)
    rst = c.s(RST | ACK, seq=0, ack=c.cnxt)
    r = Run().feed([syn, rst])
    assert states(r) == [(0, CLI, HK_SND, "SYN_SENT"), (0, SVR, HK_RCV, "SYN_RCVD"),
                         (1, SVR, HK_SND, "CLOSED"), (1, CLI, HK_RCV, "CLOSED")]
    assert r.ended[1]["end_reason"] == "rst"
    assert r.ended[1]["conn"]["conn_state"] == "REJ"
    assert r.ended[1]["history"] == "Sr"


def test_rst_outside_window_is_ignored_and_reported():
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"abc"), c.s(ACK)]
    bad = c.c(RST, seq=c.cnxt + 10_000_000)
    good = c.c(RST | ACK)
    r = Run().feed(frames + [bad])
    errs = r.of(Ev.ERROR)
    assert [(e[3], e[5]) for e in errs] == [(SVR, lib.XC_MON_ERR_BAD_RST)]
    assert r.mon.stats()["rst_ignored"] == 1 and not r.ended
    r.feed([good])
    assert r.ended[1]["end_reason"] == "rst"
    assert r.ended[1]["history"] == "ShADaR"


def test_retransmissions_of_syn_data_and_fin():
    c = Conv()
    syn = c.c(SYN, ack=0)
    frames = [syn, syn, c.s(SYN | ACK), c.c(ACK)]
    d1 = c.c(ACK | PSH, b"0123456789")
    frames += [d1, d1, c.c(ACK | PSH, b"234", seq=c.cnxt - 8)]
    fin = c.c(FIN | ACK)
    frames += [fin, fin]
    r = Run().feed(frames)
    rx = [(e[2], e[3], e[4], e[6], e[7]) for e in r.of(Ev.REXMIT)]
    base = c.ciss + 1
    assert rx == [(1, CLI, HK_SND, c.ciss, 0),       # SYN again: arg = its seq
                  (5, CLI, HK_SND, 0, 10),           # whole segment: arg = stream offset
                  (6, CLI, HK_SND, 2, 3),            # part of it
                  (8, CLI, HK_SND, base + 10, 0)]    # FIN again: arg = its seq
    f = r.mon.flow(1)
    assert (f.side[CLI].rexmit_pkts, f.side[CLI].rexmit_bytes) == (4, 13)
    assert bytes(r.data[(1, SVR)]) == b"0123456789"
    assert r.mon.flow(1).side[SVR].rcv.stats.bytes_dup == 13


def test_missed_synack_is_inferred_from_the_third_ack():
    c = Conv()
    syn = c.c(SYN, ack=0)
    c.s(SYN | ACK)                      # not captured
    r = Run().feed([syn, c.c(ACK), c.s(ACK | PSH, b"hi"), c.c(ACK | PSH, b"yo")])
    st = states(r)
    assert (1, CLI, HK_SND, "ESTABLISHED") in st
    assert bytes(r.data[(1, CLI)]) == b"hi" and bytes(r.data[(1, SVR)]) == b"yo"
    f = r.mon.flow(1)
    assert f.side[SVR].sflags & lib.XC_MON_SF_ISN_GUESSED
    assert f.side[SVR].iss == c.siss


def test_fin_after_a_capture_gap_is_taken_when_acknowledged():
    c = Conv()
    frames = c.handshake()
    c.c(ACK | PSH, b"lost")              # the capture lacks it
    fin = c.c(FIN | ACK)
    ack = c.s(ACK)                       # the server got everything and the FIN
    r = Run().feed(frames + [fin, ack])
    st = states(r)
    assert (3, CLI, HK_SND, "FIN_WAIT_1") in st
    assert not any(pkt == 3 and side == SVR for pkt, side, _, _ in st)   # FIN out of order
    assert (4, SVR, HK_SND, "CLOSE_WAIT") in st                          # proven by its ACK
    assert (4, CLI, HK_RCV, "FIN_WAIT_2") in st
    r.flush()
    assert r.gaps[(1, SVR)] == [(0, 4)]                                   # trailing gap


def test_wrapping_sequence_numbers():
    c = Conv(ciss=0xFFFFFFF0, siss=0xFFFFFFFE)
    payload = bytes(range(256)) * 4
    frames = c.handshake()
    for i in range(0, len(payload), 100):
        frames.append(c.c(ACK | PSH, payload[i:i + 100]))
        frames.append(c.s(ACK | PSH, payload[i:i + 7]))
    frames += c.close()
    r = Run().feed(frames)
    assert bytes(r.data[(1, SVR)]) == payload
    assert bytes(r.data[(1, CLI)]) == b"".join(payload[i:i + 7] for i in range(0, len(payload), 100))
    assert r.ended[1]["end_reason"] == "fin"


def test_history_logs_t_g_w_at_powers_of_ten():
    c = Conv()
    frames = c.handshake()
    d = c.c(ACK | PSH, b"x")
    frames += [d] * 11 + [c.s(ACK, wnd=0)]
    r = Run().feed(frames)
    h = r.mon.flow(1).history
    from xdpmtcp._core import ffi
    assert ffi.string(h).decode() == "ShADTTaw"
