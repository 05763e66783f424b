"""The sender's map of the flight (api_sent.h): entries per segment, SACKs
and cumulative ACKs, the pipe, RACK's walk in transmit order, lost
segments and their retransmissions, D-SACK recognition, the cap, and all
of it across sequence-number wraparound."""
import pytest

from xdpmtcp._core import ffi, lib

MSS = 1000
M32 = 1 << 32
BASES = [0, M32 - 2500]          # plain, and wrapping inside the flight


class Map:
    def __init__(self, base):
        self.base = base
        self.m = ffi.new("struct xc_sent_map *")
        lib.xc_sent_init(self.m, base)

    def s(self, off):
        return (self.base + off) % M32

    def send(self, off, length, at_ns):
        want = -(-length // MSS)
        assert lib.xc_sent_reserve(self.m, want) >= want
        lib.xc_sent_append(self.m, self.s(off), length, MSS, at_ns)

    def news(self, now_ns=0, min_rtt_us=0, orig_limit=None):
        n = ffi.new("struct xc_sent_news *")
        n.now_ns, n.min_rtt_us = now_ns, min_rtt_us
        n.orig_limit = self.s(orig_limit) if orig_limit is not None else self.m.una
        return n

    def sack(self, start, end, n):
        lib.xc_sent_sack(self.m, self.s(start), self.s(end), n)

    def ack(self, off, n):
        lib.xc_sent_ack(self.m, self.s(off), n)

    def pipe(self):
        return lib.xc_sent_pipe(self.m)

    def next_lost(self, most=10 * MSS):
        seq, length = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        if not lib.xc_sent_next_lost(self.m, most, seq, length):
            return None
        return ((seq[0] - self.base) % M32, length[0])

    def overdue(self, xmit_ns, end, wait_ns, now_ns):
        nxt, lr = ffi.new("uint64_t *"), ffi.new("uint32_t *")
        marked = lib.xc_sent_mark_overdue(self.m, xmit_ns, self.s(end), wait_ns, now_ns, nxt, lr)
        return marked, nxt[0], lr[0]

    def close(self):
        lib.xc_sent_free(self.m)


@pytest.fixture(params=BASES, ids=["plain", "wrapping"])
def sm(request):
    m = Map(request.param)
    yield m
    m.close()


def test_one_entry_per_segment_and_the_pipe(sm):
    sm.send(0, 10 * MSS, 1000)                  # a super-segment: ten entries
    sm.send(10 * MSS, 300, 2000)                # a short tail
    assert sm.m.n == 11 and lib.xc_sent_end(sm.m) == sm.s(10 * MSS + 300)
    assert sm.pipe() == 10 * MSS + 300
    n = sm.news()
    sm.sack(3 * MSS, 5 * MSS, n)
    assert n.newly_sacked == n.delivered == 2 * MSS and sm.m.sacked == 2 * MSS
    assert sm.pipe() == 8 * MSS + 300
    n = sm.news()
    sm.ack(2 * MSS, n)
    assert n.newly_acked == 2 * MSS and sm.m.n == 9 and sm.m.una == sm.s(2 * MSS)


def test_a_block_covering_part_of_a_segment_sacks_nothing_of_it(sm):
    sm.send(0, 4 * MSS, 1000)
    n = sm.news()
    sm.sack(MSS + 10, 3 * MSS, n)               # all of entry 2, part of entry 1
    assert n.newly_sacked == MSS and sm.m.sacked == MSS


def test_partial_ack_trims_the_head(sm):
    sm.send(0, 2 * MSS, 1000)
    n = sm.news()
    sm.ack(400, n)
    assert n.newly_acked == 400 and sm.m.n == 2 and sm.pipe() == 2 * MSS - 400


def test_ack_of_everything_frees_the_storage(sm):
    sm.send(0, 3 * MSS, 1000)
    sm.ack(3 * MSS, sm.news())
    assert sm.m.n == 0 and sm.m.seg == ffi.NULL and sm.pipe() == 0
    sm.send(3 * MSS, MSS, 2000)                 # and it starts again where it was
    assert sm.m.una == sm.s(3 * MSS) and sm.pipe() == MSS


def test_rack_marks_only_what_left_before_the_delivered_one_and_is_overdue(sm):
    for i in range(4):
        sm.send(i * MSS, MSS, 1000 + i * 100)   # left at 1000, 1100, 1200, 1300 ns
    n = sm.news(now_ns=5000)
    sm.sack(2 * MSS, 3 * MSS, n)                # the third is delivered
    assert n.newest_valid and n.newest_xmit_ns == 1200
    # wait 3950 ns: the first (1000 + 3950 <= 5000) is overdue, the second not yet
    marked, nxt, _ = sm.overdue(1200, 3 * MSS, 3950, 5000)
    assert marked == 1 and nxt == 1100 + 3950
    assert sm.m.lost == MSS and sm.pipe() == 2 * MSS   # 4 sent - 1 sacked - 1 lost
    assert sm.next_lost() == (0, MSS)
    marked, nxt, _ = sm.overdue(1200, 3 * MSS, 3950, 5050)
    assert marked == 1 and nxt == 0             # the fourth left after the third: never judged
    assert sm.next_lost() == (0, 2 * MSS)       # the two lost ones go as one run


def test_a_lost_retransmission_is_found_and_resent_again(sm):
    sm.send(0, 3 * MSS, 1000)
    lib.xc_sent_mark_all_lost(sm.m)
    assert sm.m.lost == 3 * MSS and sm.pipe() == 0
    assert sm.next_lost(MSS) == (0, MSS)
    lib.xc_sent_retransmitted(sm.m, sm.s(0), MSS, 2000)
    assert sm.m.retrans == MSS and sm.pipe() == MSS and sm.next_lost(MSS) == (MSS, MSS)
    lib.xc_sent_retransmitted(sm.m, sm.s(MSS), MSS, 3000)
    n = sm.news(now_ns=9000)
    sm.sack(MSS, 2 * MSS, n)                    # the second retransmission arrives ...
    marked, _, lost_retrans = sm.overdue(n.newest_xmit_ns, n.newest_end - sm.base, 1000, 9000)
    assert marked == 1 and lost_retrans == 1    # ... so the first one's is lost
    assert sm.m.retrans == 0 and sm.next_lost() == (0, MSS)


def test_ambiguous_deliveries_do_not_move_rack(sm):
    sm.send(0, 2 * MSS, 1000)
    lib.xc_sent_mark_all_lost(sm.m)
    lib.xc_sent_retransmitted(sm.m, sm.s(0), MSS, 50_000)
    n = sm.news(now_ns=50_500, min_rtt_us=10)   # 0.5 µs after the resend: the original's ACK
    sm.ack(MSS, n)
    assert not n.newest_valid and not n.rtt_valid
    n = sm.news(now_ns=90_000, min_rtt_us=10)
    sm.sack(MSS, 2 * MSS, n)                    # never resent: a sure RTT
    assert n.newest_valid and n.rtt_valid and n.rtt_xmit_ns == 1000


def test_a_probe_counts_even_when_quicker_than_min_rtt(sm):
    sm.send(0, 3 * MSS, 1000)
    lib.xc_sent_probed(sm.m, 40_000)
    n = sm.news(now_ns=40_100, min_rtt_us=50)
    sm.sack(2 * MSS, 3 * MSS, n)
    assert n.newest_valid and n.newest_xmit_ns == 40_000


def test_reordering_is_a_never_resent_segment_delivered_below_fack(sm):
    sm.send(0, 3 * MSS, 1000)
    n = sm.news(now_ns=2000)
    sm.sack(2 * MSS, 3 * MSS, n)
    assert not n.reordered
    n = sm.news(now_ns=2100)
    sm.ack(MSS, n)                              # arrived after the third: reordered
    assert n.reordered


def test_orig_delivered_tells_frto_of_data_sent_before_the_rto(sm):
    sm.send(0, 3 * MSS, 1000)
    lib.xc_sent_mark_all_lost(sm.m)
    lib.xc_sent_retransmitted(sm.m, sm.s(0), MSS, 5000)
    n = sm.news(now_ns=6000, orig_limit=3 * MSS)
    sm.ack(MSS, n)
    assert not n.orig_delivered                  # only the resent one
    n = sm.news(now_ns=6100, orig_limit=3 * MSS)
    sm.ack(2 * MSS, n)
    assert n.orig_delivered


def test_undo_puts_the_lost_back_in_flight_in_transmit_order(sm):
    for i in range(3):
        sm.send(i * MSS, MSS, 1000 * (i + 1))
    lib.xc_sent_mark_all_lost(sm.m)
    lib.xc_sent_retransmitted(sm.m, sm.s(0), MSS, 9000)
    lib.xc_sent_unmark_lost(sm.m)
    assert sm.m.lost == MSS                      # the resent one stays lost-and-resent
    assert sm.pipe() == 3 * MSS
    # RACK walks oldest first: the second (2000) and third (3000), then the resent (9000)
    marked, nxt, _ = sm.overdue(2500, 3 * MSS, 0, 10_000)
    assert marked == 1 and sm.next_lost() == (MSS, MSS)


def test_reneging_forgets_sacks(sm):
    sm.send(0, 3 * MSS, 1000)
    sm.sack(0, MSS, sm.news())
    assert lib.xc_sent_head_sacked(sm.m)
    lib.xc_sent_forget_sacks(sm.m)
    assert sm.m.sacked == 0 and lib.xc_sent_mark_all_lost(sm.m) == 3 * MSS


def test_dsack_recognition():
    def d(blocks, ack):
        arr = ffi.new("uint32_t[]", [x % M32 for b in blocks for x in b] or [0])
        return lib.xc_sent_is_dsack(arr, len(blocks), ack % M32)
    assert d([(500, 1000)], 2000)                        # below the cumulative ACK
    assert d([(3000, 4000), (2500, 5000)], 2000)         # inside the second block
    assert not d([(3000, 4000)], 2000)
    assert not d([(3000, 4000), (5000, 6000)], 2000)
    assert d([(M32 - 100, M32 - 50)], 10)                # across wraparound
    assert not d([(4000, 3000)], 5000)                   # reversed: no block at all


def test_the_cap_holds_new_data_back():
    m = Map(0)
    try:
        assert lib.xc_sent_reserve(m.m, lib.XC_SENT_MAX) == lib.XC_SENT_MAX
        lib.xc_sent_append(m.m, 0, lib.XC_SENT_MAX * 100, 100, 1)
        assert m.m.n == lib.XC_SENT_MAX
        assert lib.xc_sent_reserve(m.m, 1) == 0 and m.m.full == 1
        m.ack(100, m.news())
        assert lib.xc_sent_reserve(m.m, 1) == 1
    finally:
        m.close()
