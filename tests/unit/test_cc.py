"""Congestion control (api_cc.h): NewReno per RFC 5681/3465/6582, CUBIC per
RFC 9438, driven by simulated rounds of ACKs through the C functions."""
import pytest

from xdpmtcp._core import ffi, lib

MSS = 1000
NEWRENO, CUBIC = lib.XC_CC_NEWRENO, lib.XC_CC_CUBIC
SEC = 1_000_000_000
C, BETA = 0.4, 0.7
ALPHA = 3 * (1 - BETA) / (1 + BETA)


def new_cc(algo, iw=10, mss=MSS):
    cc = ffi.new("struct xc_cc *")
    lib.xc_cc_init(cc, algo, mss, iw)
    return cc


def one_round(cc, now_ns, rtt_us, per_ack=MSS):
    """One RTT in which the whole window at its start is acknowledged, in
    ACKs of per_ack bytes spread evenly over the RTT.  The sender refills
    after every ACK, so the flight before each ACK is the current cwnd.
    Returns the time at the end of the round."""
    window = cc.cwnd
    acks = [per_ack] * (window // per_ack)
    if window % per_ack:
        acks.append(window % per_ack)
    step = rtt_us * 1000 / len(acks)
    for i, acked in enumerate(acks):
        lib.xc_cc_on_ack(cc, acked, cc.cwnd, int(now_ns + (i + 1) * step), rtt_us, rtt_us)
    return now_ns + rtt_us * 1000


def w_cubic(t, w_max, k):
    """RFC 9438 eq. 1."""
    return C * (t - k) ** 3 + w_max


# --- initialisation and names ---------------------------------------------

def test_init_defaults():
    cc = new_cc(NEWRENO)
    assert (cc.cwnd, cc.ssthresh, cc.mss) == (10 * MSS, 0x7FFFFFFF, MSS)
    assert cc.ssthresh == lib.XC_CC_SSTHRESH_INF
    assert cc.iw == 10 * MSS and cc.bytes_acked == 0 and cc.loss_events == 0


@pytest.mark.parametrize("mss,expect", [(1460, 14600), (536, 5360), (9000, 18000), (4000, 14600)])
def test_init_rfc6928_window_when_caller_passes_zero(mss, expect):
    # min(10*MSS, max(2*MSS, 14600))
    assert new_cc(NEWRENO, iw=0, mss=mss).cwnd == expect


def test_init_unknown_algo_and_zero_mss_fall_back():
    cc = new_cc(77, mss=0)
    assert cc.algo == NEWRENO and cc.mss == lib.XC_CC_DEFAULT_MSS


def test_names_round_trip():
    assert lib.xc_cc_count() == lib.XC_CC_COUNT == 2
    names = [ffi.string(lib.xc_cc_name(i)).decode() for i in range(lib.xc_cc_count())]
    assert names == ["newreno", "cubic"]
    for i, name in enumerate(names):
        assert lib.xc_cc_by_name(name.encode()) == i
    assert lib.xc_cc_name(lib.xc_cc_count()) == ffi.NULL
    assert lib.xc_cc_name(0xFFFFFFFF) == ffi.NULL
    assert lib.xc_cc_by_name(b"vegas") == -1
    assert lib.xc_cc_by_name(b"CUBIC") == -1
    assert lib.xc_cc_by_name(ffi.NULL) == -1


# --- slow start --------------------------------------------------------------

@pytest.mark.parametrize("algo", [NEWRENO, CUBIC])
@pytest.mark.parametrize("per_ack", [MSS, 2 * MSS])   # every segment / delayed ACKs
def test_slow_start_doubles_per_rtt(algo, per_ack):
    cc = new_cc(algo)
    now = SEC
    for r in range(1, 6):
        now = one_round(cc, now, 50_000, per_ack)
        assert cc.cwnd == 10 * MSS * 2 ** r


def test_slow_start_abc_limit_l2():
    # RFC 3465: a stretch ACK of 10 segments grows cwnd by at most 2*SMSS.
    cc = new_cc(NEWRENO)
    lib.xc_cc_on_ack(cc, 10 * MSS, 10 * MSS, SEC, 0, 0)
    assert cc.cwnd == 12 * MSS
    lib.xc_cc_on_ack(cc, 300, 12 * MSS, SEC, 0, 0)       # small ACKs count their bytes
    assert cc.cwnd == 12 * MSS + 300


def test_slow_start_stops_at_ssthresh_and_hands_over_the_rest():
    cc = new_cc(NEWRENO)
    cc.cwnd, cc.ssthresh = 14 * MSS, 15 * MSS
    lib.xc_cc_on_ack(cc, 2 * MSS, 14 * MSS, SEC, 0, 0)
    assert cc.cwnd == 15 * MSS and cc.bytes_acked == MSS


def test_no_growth_when_application_limited():
    cc = new_cc(NEWRENO)
    lib.xc_cc_on_ack(cc, MSS, 4 * MSS, SEC, 0, 0)        # 4 of 10 in flight: not using cwnd
    assert cc.cwnd == 10 * MSS and cc.app_limited_acks == 1
    lib.xc_cc_on_ack(cc, MSS, 5 * MSS, SEC, 0, 0)        # half the window counts as used
    assert cc.cwnd == 11 * MSS
    lib.xc_cc_on_ack(cc, MSS, 0, SEC, 0, 0)              # 0 = flight not known: no check
    assert cc.cwnd == 12 * MSS


def test_cwnd_capped():
    cc = new_cc(NEWRENO)
    cc.cwnd = lib.XC_CC_CWND_MAX - 500
    lib.xc_cc_on_ack(cc, 2 * MSS, 0xFFFFFFFF, SEC, 0, 0)
    assert cc.cwnd == lib.XC_CC_CWND_MAX


# --- NewReno congestion avoidance and reductions -----------------------------

@pytest.mark.parametrize("per_ack", [MSS, 2 * MSS, 100])
def test_newreno_congestion_avoidance_one_mss_per_rtt(per_ack):
    cc = new_cc(NEWRENO)
    cc.cwnd = cc.ssthresh = 50 * MSS
    now = SEC
    for r in range(1, 21):
        now = one_round(cc, now, 20_000, per_ack)
        assert cc.cwnd == (50 + r) * MSS


def test_newreno_stretch_ack_in_ca_adds_at_most_one_mss():
    cc = new_cc(NEWRENO)
    cc.cwnd = cc.ssthresh = 10 * MSS
    lib.xc_cc_on_ack(cc, 35 * MSS, 40 * MSS, SEC, 0, 0)
    assert cc.cwnd == 11 * MSS and cc.bytes_acked < cc.cwnd


def test_newreno_loss_halves_flight():
    cc = new_cc(NEWRENO)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 100 * MSS, SEC)
    assert (cc.ssthresh, cc.cwnd, cc.loss_events) == (50 * MSS, 50 * MSS, 1)
    lib.xc_cc_on_loss(cc, 3 * MSS, SEC)                   # floor: 2*SMSS
    assert (cc.ssthresh, cc.cwnd, cc.loss_events) == (2 * MSS, 2 * MSS, 2)


def test_newreno_uses_flight_not_cwnd():
    cc = new_cc(NEWRENO)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 60 * MSS, SEC)
    assert cc.ssthresh == 30 * MSS


@pytest.mark.parametrize("algo,factor", [(NEWRENO, 0.5), (CUBIC, 0.7)])
def test_rto_one_mss(algo, factor):
    cc = new_cc(algo)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_rto(cc, 80 * MSS, SEC)
    assert cc.cwnd == MSS
    # NewReno halves the flight (RFC 5681 eq. 4); CUBIC cuts cwnd, as Linux
    assert cc.ssthresh == int((80 if algo == NEWRENO else 100) * MSS * factor)
    assert (cc.loss_events, cc.rto_events) == (1, 1)
    # then slow start back to ssthresh
    now = SEC
    while cc.cwnd < cc.ssthresh:
        now = one_round(cc, now, 10_000)
    assert cc.cwnd >= cc.ssthresh


@pytest.mark.parametrize("algo", [NEWRENO, CUBIC])
def test_recovery_exit_no_burst(algo):
    cc = new_cc(algo)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 100 * MSS, SEC)
    ss = cc.ssthresh
    cc.cwnd = ss + 20 * MSS                               # engine's inflation
    lib.xc_cc_on_recovery_exit(cc, 5 * MSS, 2 * SEC)      # RFC 6582 step 6 option 1
    assert cc.cwnd == 6 * MSS and cc.ssthresh == ss
    cc.cwnd = ss + 20 * MSS
    lib.xc_cc_on_recovery_exit(cc, 90 * MSS, 2 * SEC)
    assert cc.cwnd == ss
    lib.xc_cc_on_recovery_exit(cc, 0, 2 * SEC)            # at least mss + mss
    assert cc.cwnd == 2 * MSS


@pytest.mark.parametrize("algo", [NEWRENO, CUBIC])
def test_idle_restart_window(algo):
    cc = new_cc(algo)
    cc.cwnd, cc.ssthresh = 100 * MSS, 40 * MSS
    lib.xc_cc_on_idle(cc, SEC)
    assert cc.cwnd == 10 * MSS and cc.ssthresh == 75 * MSS
    cc.cwnd, cc.ssthresh = 6 * MSS, 4 * MSS               # below the restart window: kept
    lib.xc_cc_on_idle(cc, SEC)
    assert cc.cwnd == 6 * MSS and cc.ssthresh == 4500


# --- CUBIC -------------------------------------------------------------------

def cubic_after_loss(w, now=SEC, rtt_us=100_000):
    """A CUBIC flow at w segments that just lost and left recovery."""
    cc = new_cc(CUBIC)
    cc.cwnd = w * MSS
    lib.xc_cc_on_loss(cc, w * MSS, now)
    lib.xc_cc_on_recovery_exit(cc, cc.cwnd, now)
    return cc


def test_cubic_loss_multiplies_by_beta():
    cc = new_cc(CUBIC)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 100 * MSS, SEC)
    assert (cc.ssthresh, cc.cwnd) == (70 * MSS, 70 * MSS)
    assert cc.w_max == pytest.approx(100) and cc.cwnd_prior == pytest.approx(100)
    cc.cwnd = 2 * MSS
    lib.xc_cc_on_loss(cc, 2 * MSS, SEC)
    assert cc.cwnd == 2 * MSS                             # at least 2 MSS


def test_cubic_cuts_cwnd_not_the_flight():
    """RFC 9438 §4.6 allows cwnd for flight_size where cwnd cannot grow
    unused (the application-limited check): Linux's choice. A loss found
    while the last recovery still holds the flight low is not cut twice."""
    cc = new_cc(CUBIC)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 40 * MSS, SEC)
    assert cc.ssthresh == 70 * MSS


def test_cubic_epoch_starts_at_recovery_exit_with_rfc_k():
    cc = cubic_after_loss(1000)
    assert cc.epoch_valid and cc.epoch_start_ns == SEC
    assert cc.cwnd_epoch == pytest.approx(700)
    assert cc.k == pytest.approx((300 / C) ** (1 / 3), rel=1e-12)   # RFC 9438 eq. 2
    assert cc.w_est == pytest.approx(700)


def test_cubic_follows_w_cubic():
    rtt_us = 100_000
    rtt = rtt_us / 1e6
    cc = cubic_after_loss(1000)
    k, t0, now = cc.k, SEC, SEC
    trace = []
    while (now - t0) / SEC < k + 5:
        now = one_round(cc, now, rtt_us, per_ack=2 * MSS)
        t = (now - t0) / SEC
        w = cc.cwnd / MSS
        trace.append((t, w))
        lo, hi = w_cubic(t - rtt, 1000, k), w_cubic(t + rtt, 1000, k)
        assert lo - 2 <= w <= hi + 2, (t, w, lo, hi)
    # concave then convex: growth per RTT shrinks to ~0 at K, then grows again
    steps = [(t, b - a) for (t, a), (_, b) in zip(trace, trace[1:])]
    before = [d for t, d in steps if t < k - 0.5]
    after = [d for t, d in steps if t > k + 0.5]
    assert before[0] > before[len(before) // 2] > before[-1] >= 0
    assert after[0] < after[len(after) // 2] < after[-1]
    plateau = [w for t, w in trace if abs(t - k) < 0.3]
    assert all(abs(w - 1000) < 5 for w in plateau)
    assert trace[-1][1] == pytest.approx(w_cubic(trace[-1][0], 1000, k), rel=0.02)


def test_cubic_growth_bounded_by_one_and_a_half_per_rtt():
    # Far past K the cubic target runs away; cwnd may grow at most 1.5x per RTT.
    now = 100 * SEC
    cc = cubic_after_loss(100, now)
    cc.epoch_start_ns -= 60 * SEC
    for _ in range(3):
        before = cc.cwnd
        now = one_round(cc, now, 100_000)
        assert cc.cwnd <= before * 1.5 + MSS


def test_cubic_reno_friendly_region_at_small_rtt():
    # At 1 ms RTT Reno's AIMD(alpha, beta) outgrows the cubic curve: W_est
    # rules, alpha_cubic ~0.53 per RTT up to cwnd_prior, 1 per RTT after.
    rtt_us = 1000
    cc = cubic_after_loss(100)
    k, now = cc.k, SEC
    for n in range(1, 301):
        now = one_round(cc, now, rtt_us, per_ack=cc.cwnd // 4)
        if n in (20, 50, 150, 300):
            reno = 70 + ALPHA * n if 70 + ALPHA * n < 100 else 100 + (n - 30 / ALPHA)
            assert cc.cwnd / MSS == pytest.approx(reno, rel=0.03), n
            assert cc.cwnd / MSS > w_cubic((now - SEC) / SEC, 100, k) + 5
    assert cc.w_est == pytest.approx(cc.cwnd / MSS, rel=0.01)


def test_cubic_fast_convergence():
    cc = cubic_after_loss(100)                            # W_max = 100
    cc.cwnd = 90 * MSS                                    # lost again below W_max
    lib.xc_cc_on_loss(cc, 90 * MSS, 2 * SEC)
    assert cc.w_max == pytest.approx(90 * (1 + BETA) / 2)
    assert cc.cwnd == 63 * MSS and cc.cwnd_prior == pytest.approx(90)
    lib.xc_cc_on_recovery_exit(cc, 63 * MSS, 2 * SEC)
    assert cc.k == pytest.approx(((76.5 - 63) / C) ** (1 / 3))

    off = cubic_after_loss(100)
    off.fast_convergence = 0
    off.cwnd = 90 * MSS
    lib.xc_cc_on_loss(off, 90 * MSS, 2 * SEC)
    assert off.w_max == pytest.approx(90)

    up = cubic_after_loss(100)                            # lost above W_max: plain
    up.cwnd = 120 * MSS
    lib.xc_cc_on_loss(up, 120 * MSS, 2 * SEC)
    assert up.w_max == pytest.approx(120)


def test_cubic_after_rto_k_zero_at_next_epoch():
    cc = cubic_after_loss(100)
    cc.cwnd = 80 * MSS
    lib.xc_cc_on_rto(cc, 80 * MSS, 2 * SEC)
    assert cc.cwnd == MSS and cc.ssthresh == 56 * MSS and not cc.epoch_valid
    now = 2 * SEC
    while not cc.epoch_valid:
        now = one_round(cc, now, 10_000)
    assert cc.k == 0 and cc.w_max == pytest.approx(cc.cwnd_epoch)
    assert cc.cwnd_epoch == pytest.approx(56)


def test_cubic_epoch_starts_in_ca_when_exit_leaves_slow_start():
    cc = new_cc(CUBIC)
    cc.cwnd = 100 * MSS
    lib.xc_cc_on_loss(cc, 100 * MSS, SEC)
    lib.xc_cc_on_recovery_exit(cc, 10 * MSS, SEC)          # cwnd 11 < ssthresh 70
    assert not cc.epoch_valid
    now = SEC
    while cc.cwnd < cc.ssthresh:
        now = one_round(cc, now, 10_000)
    now = one_round(cc, now, 10_000)
    assert cc.epoch_valid and cc.cwnd_epoch == pytest.approx(70)
    assert cc.k == pytest.approx((30 / C) ** (1 / 3))


def test_cubic_app_limited_time_is_not_counted():
    cc = cubic_after_loss(100)
    lib.xc_cc_on_ack(cc, MSS, cc.cwnd, SEC + 10_000_000, 10_000, 10_000)
    start = cc.epoch_start_ns
    cwnd = cc.cwnd
    # 2 s of ACKs with little in flight: no growth, the epoch slides along
    lib.xc_cc_on_ack(cc, MSS, 10 * MSS, SEC + 2_010_000_000, 10_000, 10_000)
    assert cc.cwnd == cwnd
    assert cc.epoch_start_ns == start + 2 * SEC


def test_cubic_idle_ends_epoch():
    cc = cubic_after_loss(100)
    lib.xc_cc_on_idle(cc, 5 * SEC)
    assert not cc.epoch_valid and cc.cwnd == 10 * MSS
