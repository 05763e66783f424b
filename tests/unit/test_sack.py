"""SACK scoreboard (api_sack.h): RFC 2018 blocks, RFC 2883 D-SACK, RFC 6675
IsLost / SetPipe / NextSeg, across sequence-number wraparound."""
import pytest

from xdpmtcp._core import ffi, lib

MSS = 1000
RXT, NEW, NONE = lib.XC_SACK_RXT, lib.XC_SACK_NEW, lib.XC_SACK_NONE
M32 = 1 << 32


def board(una=0):
    b = ffi.new("struct xc_sack_board *")
    lib.xc_sack_reset(b, una % M32)
    return b


def upd(b, una, snd_max, blocks, base=0):
    flat = [(x + base) % M32 for blk in blocks for x in blk]
    arr = ffi.new("uint32_t[]", flat or [0])
    return lib.xc_sack_update(b, (una + base) % M32, (snd_max + base) % M32, arr, len(blocks))


def ranges(b, base=0):
    return [((b.r[i].start - base) % M32, (b.r[i].end - base) % M32) for i in range(b.n)]


def next_seg(b, una, snd_max, recovery_point, new_data=False, base=0):
    seq, ln = ffi.new("uint32_t *"), ffi.new("uint32_t *")
    r = lib.xc_sack_next_seg(b, (una + base) % M32, (snd_max + base) % M32, (snd_max + base) % M32,
                             MSS, (recovery_point + base) % M32, int(new_data), seq, ln)
    return (r, (seq[0] - base) % M32, ln[0]) if r != NONE else (r,)


def enter(b, una, snd_max, base=0):
    seq, ln = ffi.new("uint32_t *"), ffi.new("uint32_t *")
    r = lib.xc_sack_enter_recovery(b, (una + base) % M32, (snd_max + base) % M32, MSS, seq, ln)
    return (r, (seq[0] - base) % M32, ln[0]) if r != NONE else (r,)


def mark(b, seq, ln, base=0):
    lib.xc_sack_mark_rxt(b, (seq + base) % M32, ln)


def pipe(b, una, snd_max, base=0):
    return lib.xc_sack_pipe(b, (una + base) % M32, (snd_max + base) % M32, MSS)


# --- folding blocks in --------------------------------------------------------

def test_reset():
    b = board(5000)
    assert (b.n, b.sacked_bytes, b.high_rxt, b.high_sacked, b.snd_una) == (0, 0, 5000, 5000, 5000)


def test_merge_adjacent_and_overlapping():
    b = board(1000)
    assert upd(b, 1000, 20000, [(3000, 4000)]) == 1000
    assert upd(b, 1000, 20000, [(5000, 6000), (3000, 4000)]) == 1000
    assert ranges(b) == [(3000, 4000), (5000, 6000)]
    assert upd(b, 1000, 20000, [(4000, 5000)]) == 1000          # touching both: one range
    assert ranges(b) == [(3000, 6000)]
    assert upd(b, 1000, 20000, [(2500, 3500), (5500, 7000)]) == 1500
    assert ranges(b) == [(2500, 7000)]
    assert b.sacked_bytes == 4500 and b.high_sacked == 7000
    assert upd(b, 1000, 20000, [(2500, 7000)]) == 0              # re-reported: nothing new


def test_out_of_order_blocks_sorted_and_bridged():
    b = board(0)
    assert upd(b, 0, 50000, [(30000, 31000), (10000, 11000), (20000, 21000), (40000, 41000)]) == 4000
    assert ranges(b) == [(10000, 11000), (20000, 21000), (30000, 31000), (40000, 41000)]
    # one block swallowing two ranges and the gaps between
    assert upd(b, 0, 50000, [(15000, 35000)]) == 20000 - 2000
    assert ranges(b) == [(10000, 11000), (15000, 35000), (40000, 41000)]
    assert b.sacked_bytes == 1000 + 20000 + 1000
    assert upd(b, 0, 50000, [(9000, 42000)]) == 33000 - 22000
    assert ranges(b) == [(9000, 42000)] and b.sacked_bytes == 33000


def test_invalid_blocks_ignored():
    b = board(1000)
    assert upd(b, 1000, 10000, [(3000, 4000), (9000, 11000)]) == 1000   # beyond snd_max: whole block out
    assert upd(b, 1000, 10000, [(3000, 4000), (6000, 5000)]) == 0       # reversed
    assert upd(b, 1000, 10000, [(3000, 4000), (6000, 6000)]) == 0       # empty
    assert upd(b, 1000, 10000, [(3000, 4000), (200, 900)]) == 0         # wholly acked already
    assert b.ignored_blocks == 4
    assert upd(b, 1000, 10000, [(3000, 4000), (500, 1500)]) == 500      # straddles snd_una: clipped
    assert ranges(b) == [(1000, 1500), (3000, 4000)]
    assert upd(b, 1000, 10000, [(6000, 10000)]) == 4000                 # ending at snd_max is fine


def test_at_most_four_blocks_read():
    b = board(0)
    blocks = [(i * 2000, i * 2000 + 1000) for i in range(1, 6)]
    assert upd(b, 0, 20000, blocks) == 4000
    assert b.n == 4 and b.ignored_blocks == 1


def test_dsack_first_block_below_snd_una():
    b = board(0)
    assert upd(b, 5000, 10000, [(1000, 2000), (6000, 7000)]) == 1000
    assert b.dsack_count == 1 and ranges(b) == [(6000, 7000)]
    assert upd(b, 5000, 10000, [(4000, 6000)]) == 0                     # straddling the ACK: D-SACK
    assert b.dsack_count == 2


def test_dsack_first_block_inside_second():
    b = board(0)
    assert upd(b, 1000, 10000, [(4000, 5000), (3000, 6000)]) == 3000
    assert b.dsack_count == 1 and ranges(b) == [(3000, 6000)]
    # not inside the second: two ordinary blocks
    assert upd(b, 1000, 10000, [(7000, 8000), (3000, 6000)]) == 1000
    assert b.dsack_count == 1 and ranges(b) == [(3000, 6000), (7000, 8000)]
    # a lone first block above snd_una is ordinary too
    assert upd(b, 1000, 10000, [(8000, 9000)]) == 1000 and b.dsack_count == 1


def test_cap_drops_highest_range():
    cap = lib.XC_SACK_MAX_RANGES
    b = board(0)
    top = 2000 * cap
    for i in range(cap):                          # ranges [2000i+1000, 2000i+2000)
        upd(b, 0, 10 ** 6, [(2000 * i + 1000, 2000 * i + 2000)])
    assert b.n == cap and b.sacked_bytes == cap * 1000 and b.high_sacked == top
    # new range above all: it is the one dropped
    assert upd(b, 0, 10 ** 6, [(top + 5000, top + 6000)]) == 0
    assert b.n == cap and b.cap_drops == 1 and b.high_sacked == 2000 * cap
    # new range below all: the highest goes, the board stays consistent
    assert upd(b, 0, 10 ** 6, [(100, 200)]) == 100
    assert b.n == cap and b.cap_drops == 2
    assert ranges(b)[0] == (100, 200) and ranges(b)[-1] == (2000 * (cap - 2) + 1000, 2000 * (cap - 1))
    assert b.sacked_bytes == sum(e - s for s, e in ranges(b))
    assert b.high_sacked == 2000 * (cap - 1)
    # merging into an existing range never drops
    assert upd(b, 0, 10 ** 6, [(2000, 2500)]) == 500
    assert b.n == cap and b.cap_drops == 2


def test_advance():
    b = board(0)
    upd(b, 0, 20000, [(2000, 3000), (4000, 6000), (8000, 9000)])
    lib.xc_sack_advance(b, 5000)
    assert ranges(b) == [(5000, 6000), (8000, 9000)] and b.sacked_bytes == 2000
    lib.xc_sack_advance(b, 3000)                  # older ACK: ignored
    assert b.snd_una == 5000 and b.n == 2
    lib.xc_sack_advance(b, 9000)
    assert b.n == 0 and b.sacked_bytes == 0 and b.high_sacked == 9000 and b.high_rxt == 9000


def test_is_sacked():
    b = board(0)
    upd(b, 0, 20000, [(2000, 3000), (4000, 6000)])
    assert [lib.xc_sack_is_sacked(b, s) for s in (1999, 2000, 2999, 3000, 4000, 5999, 6000)] == \
        [0, 1, 1, 0, 1, 1, 0]


# --- RFC 6675 IsLost -----------------------------------------------------------

def test_is_lost_by_bytes():
    # more than (DupThresh - 1) * SMSS = 2000 bytes sacked above seq
    b = board(0)
    upd(b, 0, 20000, [(1000, 3000)])
    assert not lib.xc_sack_is_lost(b, 0, MSS)        # exactly 2000: not more
    upd(b, 0, 20000, [(3000, 3001)])
    assert lib.xc_sack_is_lost(b, 0, MSS)
    assert lib.xc_sack_is_lost(b, 999, MSS)
    # seq inside the range: only the octets above it count
    assert not lib.xc_sack_is_lost(b, 1000, MSS)
    assert not lib.xc_sack_is_lost(b, 3001, MSS)


def test_is_lost_by_discontiguous_ranges():
    # DupThresh discontiguous SACKed sequences, however small
    b = board(0)
    upd(b, 0, 20000, [(1000, 1100), (2000, 2100)])
    assert not lib.xc_sack_is_lost(b, 0, MSS)
    upd(b, 0, 20000, [(3000, 3100)])
    assert lib.xc_sack_is_lost(b, 0, MSS)
    assert not lib.xc_sack_is_lost(b, 1500, MSS)     # only two ranges above 1500
    assert lib.xc_sack_is_lost(b, 999, MSS)


# --- RFC 6675 SetPipe ----------------------------------------------------------

def test_pipe_rfc6675_scenario():
    # Ten 1000-byte segments out; the first is lost, the next three are SACKed
    # (the three duplicate ACKs).  SetPipe: the hole is lost (3000 bytes
    # above it), the six unsacked segments above the highest SACK are not.
    b = board(0)
    for k in range(1, 4):
        upd(b, 0, 10000, [(1000, 1000 + k * MSS)])
    assert lib.xc_sack_is_lost(b, 0, MSS)
    assert pipe(b, 0, 10000) == 6000
    # (4.3) retransmit the first segment: it counts in pipe again
    assert enter(b, 0, 10000) == (RXT, 0, 1000)
    assert b.high_rxt == 1000 and b.rescue_rxt == 1000
    assert pipe(b, 0, 10000) == 7000                 # > cwnd = 5000: nothing more yet
    # five more SACKs arrive: segments 4..8 left the network
    upd(b, 0, 10000, [(1000, 9000)])
    assert pipe(b, 0, 10000) == 1000 + 1000          # the retransmission + segment 9
    # cumulative ACK for the retransmission: back to a plain flight
    lib.xc_sack_advance(b, 9000)
    assert pipe(b, 9000, 10000) == 1000


def test_pipe_counts_unsacked_not_lost_holes():
    b = board(0)
    upd(b, 0, 10000, [(2000, 3000), (5000, 6000)])   # holes 0-2000, 3000-5000, 6000-10000
    # hole 0-2000 has 2 ranges / 2000 bytes above: not lost; nothing is
    assert pipe(b, 0, 10000) == 10000 - 2000
    upd(b, 0, 10000, [(7000, 7001)])
    # now 0-2000 has 3 ranges above: lost; 3000-5000 has 2 ranges, 1001 bytes: not
    assert pipe(b, 0, 10000) == (5000 - 3000) + (7000 - 6000) + (10000 - 7001)


# --- RFC 6675 NextSeg -----------------------------------------------------------

def test_enter_recovery_segment_stops_at_sacked_data():
    b = board(0)
    upd(b, 0, 10000, [(400, 3400)])
    assert enter(b, 0, 10000) == (RXT, 0, 400)
    assert b.high_rxt == 400
    assert enter(b, 10000, 10000) == (NONE,)


def test_next_seg_rules_scripted():
    # 20 segments out.  Lost: 0, 5, 19 (the tail); 10 only delayed.
    una, high, rp = 0, 20000, 20000
    b = board(una)
    upd(b, 0, high, [(1000, 4000)])                              # three dupACKs
    assert enter(b, 0, high) == (RXT, 0, 1000)
    assert pipe(b, 0, high) == 1000 + 16000
    # nothing lost above HighRxt yet: new data if any (rule 2), else nothing
    assert next_seg(b, 0, high, rp, new_data=True) == (NEW, 20000, 1000)
    assert next_seg(b, 0, high, rp) == (NONE,)

    # rule 1: segment 5 has 4000 sacked bytes above it; it beats new data
    upd(b, 0, high, [(6000, 10000), (1000, 5000)])
    assert next_seg(b, 0, high, rp, new_data=True) == (RXT, 5000, 1000)
    assert next_seg(b, 0, high, rp, new_data=True) == (RXT, 5000, 1000)   # until marked
    mark(b, 5000, 1000)
    assert b.high_rxt == 6000

    # segment 10 is a hole with only 1000 bytes sacked above: not lost.
    upd(b, 0, high, [(11000, 12000), (6000, 10000), (1000, 5000)])
    assert not lib.xc_sack_is_lost(b, 10000, MSS)
    assert next_seg(b, 0, high, rp, new_data=True) == (NEW, 20000, 1000)   # rule 2 first
    assert next_seg(b, 0, high, rp) == (RXT, 10000, 1000)                   # rule 3
    mark(b, 10000, 1000)
    assert b.high_rxt == 11000

    # rule 4 waits until HighACK passes RescueRxt (the first retransmission)
    assert next_seg(b, 0, high, rp) == (NONE,)
    assert b.rescue_valid and b.rescue_rxt == 1000
    # the retransmission of 0 arrives: cumulative ACK to 5000
    upd(b, 5000, high, [(6000, 10000), (11000, 12000)])
    assert not b.rescue_valid
    # rule 4: one segment ending at the highest unsacked octet (the tail)
    assert next_seg(b, 5000, high, rp) == (RXT, 19000, 1000)
    assert b.rescue_valid and b.rescue_rxt == rp
    mark(b, 19000, 1000)
    assert b.high_rxt == 11000                                    # HighRxt MUST NOT move
    assert next_seg(b, 5000, high, rp) == (NONE,)                  # once per recovery
    # pipe: 5000-6000 lost but retransmitted (1000), 10000-11000 not lost and
    # retransmitted (2 x 1000), 12000-20000 in flight; the rescue adds nothing
    # as it is not below HighRxt
    assert pipe(b, 5000, high) == 1000 + (1000 + 1000) + 8000


def test_rule1_segments_split_at_mss_and_stop_at_sacked_data():
    b = board(0)
    upd(b, 0, 10000, [(2500, 6000)])
    assert enter(b, 0, 10000) == (RXT, 0, 1000)
    mark(b, 0, 1000)
    assert next_seg(b, 0, 10000, 10000) == (RXT, 1000, 1000)
    mark(b, 1000, 1000)
    assert next_seg(b, 0, 10000, 10000) == (RXT, 2000, 500)      # up to the SACKed range
    mark(b, 2000, 500)
    assert next_seg(b, 0, 10000, 10000) == (NONE,)


def test_rescue_without_recovery_entry_is_allowed_once():
    # RescueRxt undefined: rule 4 may fire straight away.
    b = board(0)
    upd(b, 0, 5000, [(1000, 2000)])
    assert next_seg(b, 0, 5000, 5000) == (RXT, 0, 1000)         # rule 3 first (hole below SACK)
    mark(b, 0, 1000)
    assert next_seg(b, 0, 5000, 5000) == (RXT, 4000, 1000)      # rule 4
    assert next_seg(b, 0, 5000, 5000) == (NONE,)


# --- wraparound -------------------------------------------------------------------

@pytest.mark.parametrize("base", [M32 - 3500, M32 - 1, M32 - 12000, 0x7FFFFFF0])
def test_wraparound(base):
    b = board(base)
    assert upd(b, 0, 20000, [(3000, 4000), (1000, 2000)], base) == 2000
    assert upd(b, 0, 20000, [(2000, 3000)], base) == 1000
    assert ranges(b, base) == [(1000, 4000)]
    assert upd(b, 0, 20000, [(6000, 10000), (1000, 4000)], base) == 4000
    assert lib.xc_sack_is_lost(b, base % M32, MSS)
    assert lib.xc_sack_is_sacked(b, (base + 3999) % M32) and not lib.xc_sack_is_sacked(b, (base + 4000) % M32)
    assert pipe(b, 0, 20000, base) == 10000       # both holes lost (4000 bytes above 4000-6000): tail only
    assert enter(b, 0, 20000, base) == (RXT, 0, 1000)
    assert next_seg(b, 0, 20000, 20000, base=base) == (RXT, 4000, 1000)
    mark(b, 4000, 1000, base)
    assert (b.high_rxt - base) % M32 == 5000
    # D-SACK below the ACK across the wrap, bogus block beyond snd_max
    assert upd(b, 2000, 20000, [(500, 1500), (25000, 26000)], base) == 0
    assert b.dsack_count == 1 and b.ignored_blocks == 1
    lib.xc_sack_advance(b, (base + 7000) % M32)
    assert ranges(b, base) == [(7000, 10000)] and b.sacked_bytes == 3000
    assert (b.high_rxt - base) % M32 == 7000


# --- against a brute-force model of the definitions ----------------------------

UNIT = 100   # blocks fall on 100-byte boundaries, so octets of a unit share a fate


def model_lost(sacked, seq_unit):
    above = sorted(u for u in sacked if u > seq_unit)
    runs = sum(1 for i, u in enumerate(above) if i == 0 or above[i - 1] != u - 1)
    return runs >= 3 or len(above) * UNIT > 2 * MSS


@pytest.mark.parametrize("base", [0, M32 - 20000, 0x80000000 - 7000])
def test_random_acks_match_model(base):
    import random
    rnd = random.Random(base)
    b = board(base)
    una = 0                      # in units
    high = 40
    sacked = set()
    high_rxt = 0
    for _ in range(400):
        if rnd.random() < 0.2:
            una = min(high, una + rnd.randrange(0, 8))
        high = min(high + rnd.randrange(0, 3), una + 400)
        blocks = []
        for _ in range(rnd.randrange(0, 5)):
            s = rnd.randrange(una - 10, high + 5)
            blocks.append((s, s + rnd.randrange(-2, 12)))
        # model: advance, D-SACK, validity, clip, union
        sacked = {u for u in sacked if u >= una}
        before = len(sacked)
        for k, (s, e) in enumerate(blocks):
            if s >= e:
                continue
            if k == 0 and (s < una or (len(blocks) > 1 and s >= blocks[1][0] and e <= blocks[1][1])):
                continue
            if e > high or e <= una:
                continue
            sacked |= set(range(max(s, una), e))
        got = upd(b, una * UNIT, high * UNIT, [(s * UNIT, e * UNIT) for s, e in blocks], base)
        assert got == (len(sacked) - before) * UNIT
        runs = ranges(b, base)
        assert sum(e - s for s, e in runs) == len(sacked) * UNIT == b.sacked_bytes
        assert {u for s, e in runs for u in range(s // UNIT, e // UNIT)} == sacked
        assert all(runs[i][1] < runs[i + 1][0] for i in range(len(runs) - 1))   # merged, sorted
        assert (b.high_sacked - base) % M32 == (max(sacked) + 1 if sacked else una) * UNIT
        high_rxt = max(high_rxt, una)
        if rnd.random() < 0.3:
            high_rxt = min(high, high_rxt + rnd.randrange(0, 4))
            b.high_rxt = (high_rxt * UNIT + base) % M32
        for u in set(range(una, high)) - sacked:       # IsLost is asked of holes
            assert lib.xc_sack_is_lost(b, (u * UNIT + base) % M32, MSS) == model_lost(sacked, u), u
        expect = sum((0 if model_lost(sacked, u) else 1) + (1 if u < high_rxt else 0)
                     for u in range(una, high) if u not in sacked) * UNIT
        assert pipe(b, una * UNIT, high * UNIT, base) == expect
        # NextSeg rules 1 and 3 (rule 4 held back by a RescueRxt at the top)
        b.rescue_valid, b.rescue_rxt = 1, (high * UNIT + base) % M32
        top = max(sacked) + 1 if sacked else una
        cands = [u for u in range(max(una, high_rxt), top) if u not in sacked]
        pick = next((u for u in cands if model_lost(sacked, u)), cands[0] if cands else None)
        if pick is None:
            assert next_seg(b, una * UNIT, high * UNIT, high * UNIT, base=base) == (NONE,)
        else:
            run = 1
            while pick + run < top and pick + run not in sacked and run * UNIT < MSS:
                run += 1
            assert next_seg(b, una * UNIT, high * UNIT, high * UNIT, base=base) == \
                (RXT, pick * UNIT, run * UNIT)
