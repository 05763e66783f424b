"""The reassembly ring (xdpmtcp/_core/storage/ring.c) through its Python face."""
import random

import pytest

from xdpmtcp._core import ffi, lib
from xdpmtcp.storage import Ring

POLICIES = ["first", "last", "linux", "bsd", "windows"]


# ---------------------------------------------------------------- basics

def test_in_order_read_peek_consume():
    r = Ring(16)
    assert r.insert(0, b"hello") == 5
    assert r.insert(5, b" world") == 6
    assert (r.readable, r.free_space) == (11, 5)
    assert r.peek(0, 100) == b"hello world"
    assert r.peek(6, 3) == b"wor"
    assert r.peek(11, 1) == b"" and r.peek(100, 1) == b""
    assert r.read(6) == b"hello "
    assert r.peek(0, 4) == b""                    # consumed: no longer peekable
    assert r.consume(100) == 5 and r.readable == 0
    assert (r.read_off, r.next_off, r.high_off) == (11, 11, 11)
    assert r.free_space == 16


def test_wrap_around():
    r = Ring(10)
    out = b""
    stream = bytes(range(65, 65 + 26)) * 4
    off = 0
    while off < len(stream):
        n = min(7, len(stream) - off)
        assert r.insert(off, stream[off:off + n]) == n
        off += n
        out += r.read(max(0, r.readable - 2))   # keep a tail so reads wrap too
    out += r.read()
    assert out == stream
    # a single segment that itself wraps
    r = Ring(8)
    r.insert(0, b"abcdef")
    r.consume(6)
    r.insert(6, b"ghijklmn")
    assert r.snapshot() == b"ghijklmn" and r.read() == b"ghijklmn"


def test_append_is_a_fifo():
    r = Ring(8)
    assert r.append(b"abcde") == 5
    assert r.append(b"fghij") == 3              # limited by free space
    assert r.free_space == 0 and r.append(b"x") == 0
    assert r.read(4) == b"abcd"
    assert r.append(b"ijkl") == 4
    assert r.read() == b"efghijkl"
    assert r.stats["bytes_new"] == 12


def test_bad_arguments_and_extremes():
    r = Ring(16)
    assert lib.xc_ring_insert(r.c, 1 << 63, ffi.new("uint8_t[1]"), 1, 0) == -1
    assert lib.xc_ring_insert(r.c, (1 << 63) - 1, ffi.new("uint8_t[2]"), 2, 0) == -1
    assert lib.xc_ring_insert(r.c, 0, ffi.NULL, 3, 0) == -1
    assert lib.xc_ring_insert(ffi.NULL, 0, ffi.NULL, 0, 0) == -1
    assert r.insert(5, b"") == 0 and r.nfrags == 0
    assert r.insert((1 << 62), b"far") == 0       # far future: beyond the window
    assert r.insert(0, b"x" * 1000) == 16         # longer than cap: trimmed
    assert r.stats["bytes_beyond"] == 3 + 984
    r.consume(16)
    assert r.insert(0, b"old") == 0 and r.stats["bytes_old"] == 3
    # a NULL ring: no crash, nothing done
    assert lib.xc_ring_read(ffi.NULL, ffi.NULL, 4) == 0
    assert lib.xc_ring_consume(ffi.NULL, 4) == 0
    assert lib.xc_ring_skip_gap(ffi.NULL) == 0
    assert lib.xc_ring_readable(ffi.NULL) == 0 and lib.xc_ring_free_space(ffi.NULL) == 0
    lib.xc_ring_free(ffi.NULL)
    with pytest.raises(ValueError):
        Ring(16, policy=7)
    with pytest.raises(ValueError):
        r.policy = 9
    r.close()
    r.close()                                   # idempotent


# ---------------------------------------------------------- out of order

def test_fragments_show_holes_then_merge():
    r = Ring(64)
    r.insert(0, b"aaaa")
    assert r.insert(10, b"cccc") == 0
    assert r.insert(20, b"eeee") == 0
    assert r.fragments() == [(0, 4), (10, 4), (20, 4)]
    assert (r.next_off, r.high_off, r.nfrags) == (4, 24, 2)
    assert r.free_space == 60                   # the window counts from next_off
    assert r.insert(14, b"dddddd") == 0          # joins both neighbours
    assert r.fragments() == [(0, 4), (10, 14)]
    assert r.insert(4, b"bbbbbb") == 20          # fills the hole: all readable
    assert r.fragments() == [(0, 24)] and r.nfrags == 0
    assert r.read() == b"aaaabbbbbbccccddddddeeee"
    assert r.fragments() == []


def test_adjacent_fragments_merge():
    r = Ring(64)
    r.insert(10, b"xx")
    r.insert(12, b"yy")
    r.insert(8, b"ww")
    assert r.fragments() == [(8, 6)]


# ----------------------------------------------------- overlap policies
#
# Suricata's src/tests/stream-tcp-list.c (OISF/suricata, functions
# OverlapBSD*, OverlapLINUX*, OverlapVISTA*, OverlapLAST*): segments at
# relative sequence numbers (first data byte = 1, so offset = rseq - 1)
# and the stored stream after each one, holes as zero bytes.  The main
# vector is the Novak/Sturges scheme: overlapping segments out of order,
# the hole at the start filled last.  Expectations:
#   bsd     OverlapBSD*            (DoHandleDataOverlap, OS_POLICY_BSD)
#   linux   OverlapLINUX*          (OS_POLICY_LINUX)
#   last    OverlapLAST*           (OS_POLICY_LAST)
#   first   OverlapVISTA*: Suricata's VISTA never prefers new data, which is
#           exactly FIRST (DoHandleDataOverlap has no VISTA case).
#   windows the bsd ones: Windows and BSD fall in the same case everywhere
#           in Snort stream5's StreamQueue and in Suricata's
#           DoHandleDataOverlap.
Z = "\0"

MAIN_STEPS = [(2, "AAA"), (6, "BB"), (8, "CCC"), (12, "D"), (15, "EE"), (17, "FFF"),
              (20, "GG"), (22, "HH"), (24, "I"), (3, "JJJJ"), (8, "KKK"), (11, "LLL"),
              (14, "MMM"), (18, "N"), (21, "O"), (22, "P"), (24, "QQ"), (1, "0")]
MAIN_COMMON = [Z + "AAA", Z + "AAA\0BB", Z + "AAA\0BBCCC", Z + "AAA\0BBCCC\0D",
               Z + "AAA\0BBCCC\0D\0\0EE", Z + "AAA\0BBCCC\0D\0\0EEFFF",
               Z + "AAA\0BBCCC\0D\0\0EEFFFGG", Z + "AAA\0BBCCC\0D\0\0EEFFFGGHH",
               Z + "AAA\0BBCCC\0D\0\0EEFFFGGHHI"]
MAIN_BSD = MAIN_COMMON + [
    Z + "AAAJJBCCC\0D\0\0EEFFFGGHHI", Z + "AAAJJBCCC\0D\0\0EEFFFGGHHI",
    Z + "AAAJJBCCCLLL\0EEFFFGGHHI", Z + "AAAJJBCCCLLLMMMFFFGGHHI",
    Z + "AAAJJBCCCLLLMMMFFFGGHHI", Z + "AAAJJBCCCLLLMMMFFFGGHHI",
    Z + "AAAJJBCCCLLLMMMFFFGGHHI", Z + "AAAJJBCCCLLLMMMFFFGGHHIQ",
    "0AAAJJBCCCLLLMMMFFFGGHHIQ"]
MAIN = {
    "bsd": MAIN_BSD,
    "windows": MAIN_BSD,
    "linux": MAIN_BSD[:-2] + [Z + "AAAJJBCCCLLLMMMFFFGGHHQQ", "0AAAJJBCCCLLLMMMFFFGGHHQQ"],
    "first": MAIN_COMMON + [
        Z + "AAAJBBCCC\0D\0\0EEFFFGGHHI", Z + "AAAJBBCCC\0D\0\0EEFFFGGHHI",
        Z + "AAAJBBCCCLDL\0EEFFFGGHHI", Z + "AAAJBBCCCLDLMEEFFFGGHHI",
        Z + "AAAJBBCCCLDLMEEFFFGGHHI", Z + "AAAJBBCCCLDLMEEFFFGGHHI",
        Z + "AAAJBBCCCLDLMEEFFFGGHHI", Z + "AAAJBBCCCLDLMEEFFFGGHHIQ",
        "0AAAJBBCCCLDLMEEFFFGGHHIQ"],
    "last": MAIN_COMMON + [
        Z + "AJJJJBCCC\0D\0\0EEFFFGGHHI", Z + "AJJJJBKKK\0D\0\0EEFFFGGHHI",
        Z + "AJJJJBKKKLLL\0EEFFFGGHHI", Z + "AJJJJBKKKLLLMMMFFFGGHHI",
        Z + "AJJJJBKKKLLLMMMFNFGGHHI", Z + "AJJJJBKKKLLLMMMFNFGOHHI",
        Z + "AJJJJBKKKLLLMMMFNFGOPHI", Z + "AJJJJBKKKLLLMMMFNFGOPHQQ",
        "0AJJJJBKKKLLLMMMFNFGOPHQQ"],
}

BEFORE_STEPS = [(3, "B"), (9, "D"), (12, "EE"), (2, "AA"), (1, "JJJJ"), (8, "LLL"), (11, "MMM")]
BEFORE_COMMON = ["\0\0B", "\0\0B\0\0\0\0\0D", "\0\0B\0\0\0\0\0D\0\0EE"]
BEFORE_NEW = BEFORE_COMMON + ["\0AA\0\0\0\0\0D\0\0EE", "JJJJ\0\0\0\0D\0\0EE",
                              "JJJJ\0\0\0LLL\0EE", "JJJJ\0\0\0LLLMMM"]
BEFORE = {
    "bsd": BEFORE_NEW, "windows": BEFORE_NEW, "linux": BEFORE_NEW, "last": BEFORE_NEW,
    "first": BEFORE_COMMON + ["\0AB\0\0\0\0\0D\0\0EE", "JABJ\0\0\0\0D\0\0EE",
                              "JABJ\0\0\0LDL\0EE", "JABJ\0\0\0LDLMEE"],
}

SAME_STEPS = [(1, "CCC"), (15, "HH"), (17, "II"), (1, "KKK"), (1, "LLLL"), (15, "P"), (15, "QQ")]
_S = "\0" * 10
SAME_COMMON = ["CCC", "CCC\0" + _S + "HH", "CCC\0" + _S + "HHII"]
SAME_OLD = SAME_COMMON + ["CCC\0" + _S + "HHII"] + ["CCCL" + _S + "HHII"] * 3
SAME = {
    "bsd": SAME_OLD, "windows": SAME_OLD, "first": SAME_OLD,
    "linux": SAME_COMMON + ["CCC\0" + _S + "HHII"] + ["LLLL" + _S + "HHII"] * 3,
    "last": SAME_COMMON + ["KKK\0" + _S + "HHII", "LLLL" + _S + "HHII",
                           "LLLL" + _S + "PHII", "LLLL" + _S + "QQII"],
}

AFTER_STEPS = [(1, "AA"), (16, "FFF"), (19, "GG"), (2, "JJ"), (20, "O"), (17, "N")]
_A = "\0" * 12
AFTER_COMMON = ["AA", "AA\0" + _A + "FFF", "AA\0" + _A + "FFFGG"]
AFTER_OLD = AFTER_COMMON + ["AAJ" + _A + "FFFGG"] * 3
AFTER = {
    "bsd": AFTER_OLD, "windows": AFTER_OLD, "linux": AFTER_OLD, "first": AFTER_OLD,
    "last": AFTER_COMMON + ["AJJ" + _A + "FFFGG", "AJJ" + _A + "FFFGO", "AJJ" + _A + "FNFGO"],
}

# StreamTcpReassembleTest30/31/32 (BSD): a segment starting before several
# stored ones replaces them all.
BSD_EXTRA = [
    [(3, "BBB", "\0\0BBB"), (1, "AA", "AABBB")],
    [(1, "AA", "AA"), (3, "BBB", "AABBB")],
    [(11, "A" * 10, Z * 10 + "A" * 10),
     (21, "B" * 10, Z * 10 + "A" * 10 + "B" * 10),
     (41, "C" * 10, Z * 10 + "A" * 10 + "B" * 10 + Z * 10 + "C" * 10),
     (6, "a" * 20, Z * 5 + "a" * 20 + "B" * 5 + Z * 10 + "C" * 10),
     (1, "x" * 50, "x" * 50)],
]


def _run_steps(policy, steps, expected):
    r = Ring(256, policy)
    for (rseq, data), want in zip(steps, expected):
        r.insert(rseq - 1, data.encode())
        assert r.snapshot() == want.encode(), "%s after %r at %d" % (policy, data, rseq)
    return r


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("family", ["main", "before", "same", "after"])
def test_overlap_vectors(policy, family):
    steps, table = {"main": (MAIN_STEPS, MAIN), "before": (BEFORE_STEPS, BEFORE),
                    "same": (SAME_STEPS, SAME), "after": (AFTER_STEPS, AFTER)}[family]
    assert len(table[policy]) == len(steps)
    r = _run_steps(policy, steps, table[policy])
    if family == "main":                        # the hole filled: all readable in order
        assert r.read() == table[policy][-1].encode()


@pytest.mark.parametrize("policy", ["bsd", "windows"])
@pytest.mark.parametrize("case", range(len(BSD_EXTRA)))
def test_overlap_starts_before_replaces(policy, case):
    steps = BSD_EXTRA[case]
    _run_steps(policy, [(s, d) for s, d, _ in steps], [w for _, _, w in steps])


def test_overlap_applies_to_unread_contiguous_data():
    for policy, want in (("first", b"abcdef"), ("last", b"aXXXef"),
                         ("linux", b"abXXef"), ("bsd", b"abXXef")):
        r = Ring(64, policy)
        r.insert(0, b"ab")
        r.insert(2, b"cd")
        r.insert(4, b"ef")
        r.insert(1, b"XXX")   # bsd/linux: after "ab" starts (keeps b), before "cd" (takes it)
        assert r.read() == want, policy
    r = Ring(64, "linux")
    r.insert(0, b"abc")
    r.insert(0, b"XXXX")                        # same start, longer: linux takes it
    assert r.read() == b"XXXX"


def test_conflict_counting():
    r = Ring(64, "first")
    r.insert(0, b"abcdef")
    r.insert(0, b"abcdef")                      # pure retransmission
    s = r.stats
    assert (s["bytes_dup"], s["overlap_conflicts"], s["conflict_bytes"]) == (6, 0, 0)
    r.insert(2, b"cXdYZ!!")                     # 3 of the 4 overlapping bytes differ
    s = r.stats
    assert (s["bytes_dup"], s["overlap_conflicts"], s["conflict_bytes"]) == (10, 1, 3)
    assert s["bytes_new"] == 6 + 3
    r.insert(20, b"qq")
    r.insert(19, b"pQqr")                       # conflict inside a fragment
    s = r.stats
    assert (s["overlap_conflicts"], s["conflict_bytes"]) == (2, 4)
    assert r.read() == b"abcdefZ!!"             # first: old bytes kept
    assert s["bytes_in"] == s["bytes_new"] + s["bytes_dup"]


def test_records_of_consumed_data_go_and_cap_evicts():
    r = Ring(4096, "linux", seg_cap=4)
    for i in range(6):                          # 6 records, cap 4: two oldest evicted
        r.insert(10 * i, b"a" * 10)
    assert r.stats["seg_evicted"] == 2
    # evicted record -> its bytes judged FIRST: same start + longer loses
    r.insert(0, b"L" * 11)
    assert r.peek(0, 11) == b"a" * 10 + b"a"
    # a record still present: same start and longer wins (linux)
    r.insert(50, b"M" * 11)
    assert r.peek(50, 11) == b"M" * 11
    r.consume(61)
    assert r.c.seg_tail - r.c.seg_head == 0
    with pytest.raises(ValueError):
        r.set_caps(seg_cap=lib.XC_RING_MAX_SEGS + 1)


def test_policy_switch_drops_records():
    r = Ring(64, "linux")
    r.insert(0, b"abc")
    r.policy = "first"
    r.policy = "linux"                          # records gone: stored bytes hold
    r.insert(0, b"XXXX")
    assert r.read() == b"abcX"


# ------------------------------------------------------------- limits

def test_beyond_window_is_trimmed():
    r = Ring(8)
    assert r.insert(0, b"abcdefghij") == 8
    assert r.stats["bytes_beyond"] == 2
    assert r.insert(12, b"zz") == 0 and r.stats["bytes_beyond"] == 4
    r.consume(3)                                # window is now [3, 11)
    assert r.insert(8, b"ijkl") == 3
    assert r.stats["bytes_beyond"] == 5 and r.read() == b"defghijk"


def test_drop_oldest_counts_lost_and_gaps():
    r = Ring(8)
    r.insert(0, b"abcdef")
    assert r.read(2) == b"ab"
    # 6 bytes at 8: the window must end at 14, so read_off goes to 6 and the
    # 4 unread bytes c..f are lost; the hole [6, 8) stays inside the window
    assert r.insert(8, b"ijklmn", drop_oldest=True) == 0
    s = r.stats
    assert (s["bytes_lost"], s["gap_bytes"]) == (4, 0)
    assert (r.read_off, r.next_off) == (6, 6) and r.fragments() == [(8, 6)]
    assert r.skip_gap() == 2 and r.read() == b"ijklmn"
    s = r.stats
    assert r.read_off == 2 + 6 + s["bytes_lost"] + s["gap_bytes"]


def test_drop_oldest_passing_next_off_resumes_at_stored_data():
    r = Ring(10)
    r.insert(0, b"ab")
    r.insert(5, b"fg")
    # window must end at 13 -> read_off 3 passes next_off 2: a, b lost, 2 a
    # hole; reading resumes at "fg" (hole 3, 4), next_off follows it
    assert r.insert(8, b"ijklm", drop_oldest=True) == 5
    assert (r.read_off, r.next_off) == (5, 7)
    assert r.fragments() == [(5, 2), (8, 5)]
    s = r.stats
    assert (s["bytes_lost"], s["gap_bytes"]) == (2, 3)
    # ends at 23 -> read_off 13: f, g and i..m lost, 7 and 13 are holes
    assert r.insert(14, b"opqrstuvw", drop_oldest=True) == 16
    s = r.stats
    assert (s["bytes_lost"], s["gap_bytes"]) == (2 + 7, 3 + 2)
    assert (r.read_off, r.next_off, r.nfrags) == (14, 23, 0)
    assert r.read_off == 0 + s["bytes_lost"] + s["gap_bytes"]
    assert r.read() == b"opqrstuvw"


def test_drop_oldest_segment_longer_than_cap():
    r = Ring(4)
    assert r.insert(0, b"abcdefgh", drop_oldest=True) == 8
    s = r.stats
    assert (s["bytes_lost"], s["gap_bytes"]) == (4, 0)
    assert r.read() == b"efgh"


def test_frag_overflow_refuses():
    r = Ring(1000, frag_cap=2)
    r.insert(10, b"a")
    r.insert(20, b"b")
    assert r.insert(30, b"c") == 0 and r.stats["frag_overflow"] == 1
    assert r.fragments() == [(10, 1), (20, 1)]
    r.insert(11, b"x")                           # extends an entry: fine
    r.insert(19, b"y")
    assert r.stats["frag_overflow"] == 1 and r.fragments() == [(10, 2), (19, 2)]
    assert r.insert(0, b"0" * 10) == 12           # in order: always fine
    with pytest.raises(ValueError):
        r.set_caps(frag_cap=0)                   # fewer than stored: refused
    r2 = Ring(100, frag_cap=0)
    assert r2.insert(5, b"x") == 0 and r2.stats["frag_overflow"] == 1
    assert r2.insert(0, b"abcde") == 5


def test_frag_overflow_with_drop_oldest_refuses_before_sliding():
    r = Ring(10, frag_cap=1)
    r.insert(0, b"abcd")
    r.insert(6, b"g")
    assert r.insert(12, b"mn", drop_oldest=True) == 0       # would need a 2nd entry
    assert r.stats["frag_overflow"] == 1 and r.read_off == 0 and r.stats["bytes_lost"] == 0
    # passing next_off merges the first fragment: never refused
    assert r.insert(14, b"op", drop_oldest=True) == 3
    assert (r.read_off, r.next_off, r.fragments()) == (6, 7, [(6, 1), (14, 2)])


def test_resize():
    r = Ring(8)
    r.insert(0, b"abcdef")
    r.consume(4)
    r.insert(6, b"ghij")                         # wraps in the 8-byte buffer
    r.insert(11, b"l")
    assert r.snapshot() == b"efghij\0l"
    assert not r.resize(7)                       # high_off - read_off = 8 > 7
    assert r.resize(20) and r.cap == 20
    assert r.fragments() == [(4, 6), (11, 1)] and r.snapshot() == b"efghij\0l"
    r.insert(10, b"k")
    assert r.read() == b"efghijkl"
    assert r.resize(3) and r.insert(12, b"mnop") == 3
    assert r.read() == b"mno"


def test_resize_too_small_keeps_data():
    r = Ring(16)
    r.insert(0, b"0123456789")
    assert not r.resize(9)
    assert r.cap == 16 and r.read() == b"0123456789"


def test_cap_zero_tracks_offsets_only():
    r = Ring(0)
    assert r.insert(0, b"abc") == 3
    assert (r.read_off, r.next_off, r.high_off, r.readable, r.free_space) == (3, 3, 3, 0, 0)
    assert r.insert(1, b"cde") == 1              # overlapping: advances by its new byte
    assert r.insert(10, b"kk") == 0 and r.stats["bytes_beyond"] == 2
    assert r.fragments() == [] and r.read() == b"" and r.skip_gap() == 0
    assert r.insert(10, b"kk", drop_oldest=True) == 8
    s = r.stats
    assert (s["bytes_new"], s["bytes_old"], s["gap_bytes"]) == (6, 2, 6)
    assert r.append(b"x") == 0
    # enable buffering later: tracking continues from next_off
    assert r.resize(8) and r.insert(12, b"mn") == 2 and r.read() == b"mn"
    # and disable again: unread bytes are lost
    r.insert(14, b"op")
    r.insert(20, b"u")
    assert r.resize(0) and r.stats["bytes_lost"] == 2
    assert (r.read_off, r.next_off, r.high_off, r.nfrags) == (16, 16, 16, 0)


def test_skip_gap():
    r = Ring(64)
    r.insert(0, b"ab")
    r.insert(5, b"fg")
    r.insert(10, b"k")
    assert r.skip_gap() == 0                     # unread bytes before the hole
    assert r.read() == b"ab"
    assert r.skip_gap() == 3
    assert (r.read_off, r.next_off) == (5, 7) and r.read() == b"fg"
    assert r.skip_gap() == 3 and r.read() == b"k"
    assert r.skip_gap() == 0
    assert r.stats["gap_bytes"] == 6
    assert r.read_off == 2 + 2 + 1 + r.stats["gap_bytes"]
    r.insert(8, b"late")                         # below read_off now: old
    assert r.stats["bytes_old"] == 3 and r.read() == b"e"


# -------------------------------------------------------------- fuzzing

def _new_wins(policy, rec, ns, ne):
    if ns < rec[0]:
        return True
    return policy == "linux" and ns == rec[0] and ne > rec[1]


class Model:
    """Byte-at-a-time reference: a dict of stored offsets and the rules of
    api_ring.h written as plainly as possible."""

    def __init__(self, cap, policy, frag_cap, seg_cap=256):
        self.cap, self.policy, self.frag_cap, self.seg_cap = cap, policy, frag_cap, seg_cap
        self.data, self.recs = {}, []
        self.read_off = 0
        self.st = dict.fromkeys(["bytes_new", "bytes_dup", "bytes_old", "bytes_beyond",
                                 "frag_overflow", "overlap_conflicts", "conflict_bytes",
                                 "bytes_lost", "gap_bytes", "seg_evicted"], 0)

    @property
    def next_off(self):
        o = self.read_off
        while o in self.data:
            o += 1
        return o

    def runs(self):
        out, start, prev = [], None, None
        for o in sorted(self.data):
            if start is None or o != prev + 1:
                if start is not None:
                    out.append((start, prev + 1 - start))
                start = o
            prev = o
        if start is not None:
            out.append((start, prev + 1 - start))
        return out

    def needs_entry(self, a, b):
        return a > self.next_off and not any(o in self.data for o in range(a - 1, b + 1))

    def nfrags(self):
        return len([run for run in self.runs() if run[0] > self.next_off])

    def drop_consumed_recs(self):
        while self.recs and min(self.recs)[1] <= self.read_off:
            self.recs.remove(min(self.recs))

    def consume(self, n):
        n = min(n, self.next_off - self.read_off)
        out = bytes(self.data.pop(self.read_off + i) for i in range(n))
        self.read_off += n
        return out

    def insert(self, off, seg, drop):
        ns, ne = off, off + len(seg)
        if ne <= self.read_off:
            self.st["bytes_old"] += len(seg)
            return
        a, b = max(ns, self.read_off), ne
        self.st["bytes_old"] += a - ns
        if b - self.read_off > self.cap:
            if drop:
                r2 = b - self.cap
                a2 = max(a, r2)
                n0 = self.next_off
                if r2 <= n0 and self.needs_entry(a2, b) and self.nfrags() >= self.frag_cap:
                    self.st["frag_overflow"] += 1
                    return
                for o in range(self.read_off, r2):
                    if o in self.data or a <= o < b:
                        self.st["bytes_lost"] += 1
                    else:
                        self.st["gap_bytes"] += 1
                    self.data.pop(o, None)
                self.read_off = r2
                if r2 > n0:
                    resume = min([a2] + [o for o in self.data if o >= r2])
                    self.st["gap_bytes"] += resume - r2
                    self.read_off = resume
                a = a2
            else:
                lim = self.read_off + self.cap
                if a >= lim:
                    self.st["bytes_beyond"] += b - a
                    return
                b = lim
        if self.needs_entry(a, b) and self.nfrags() >= self.frag_cap:
            self.st["frag_overflow"] += 1
            return
        self.st["bytes_beyond"] += ne - b
        diff = 0
        for o in range(a, b):
            new = seg[o - ns]
            if o not in self.data:
                self.data[o] = new
                self.st["bytes_new"] += 1
                continue
            self.st["bytes_dup"] += 1
            if self.data[o] == new:
                continue
            diff += 1
            if self.policy == "last":
                self.data[o] = new
            elif self.policy != "first":
                cover = [r for r in self.recs if r[0] <= o < r[1]]
                if cover and all(_new_wins(self.policy, r, ns, ne) for r in cover):
                    self.data[o] = new
        if diff:
            self.st["overlap_conflicts"] += 1
            self.st["conflict_bytes"] += diff
        if self.policy not in ("first", "last") and (ns, b) not in self.recs:
            # the C ring forgets records of consumed data from the lowest
            # start up; when full it evicts the lowest start
            self.drop_consumed_recs()
            while len(self.recs) >= self.seg_cap:
                self.recs.remove(min(self.recs))
                self.st["seg_evicted"] += 1
                self.drop_consumed_recs()
            self.recs.append((ns, b))


def _check(r, m, where):
    assert (r.read_off, r.next_off) == (m.read_off, m.next_off), where
    runs = m.runs()
    assert r.fragments() == runs, where
    assert r.high_off == (runs[-1][0] + runs[-1][1] if runs else r.next_off), where
    stats = r.stats
    for k, v in m.st.items():
        assert stats[k] == v, (where, k)
    if runs:
        assert r.snapshot() == bytes(m.data.get(o, 0) for o in range(m.read_off, r.high_off)), where


@pytest.mark.parametrize("drop", [False, True], ids=["trim", "drop_oldest"])
@pytest.mark.parametrize("policy", POLICIES)
def test_fuzz_against_model(policy, drop):
    rng = random.Random(0x5EED ^ POLICIES.index(policy) ^ (drop << 8))
    for trial in range(60):
        size = rng.randrange(50, 400)
        stream = bytes(rng.randrange(256) for _ in range(size))
        cap = rng.choice([8, 16, 37, 64, 128, 1024])
        frag_cap = rng.choice([1, 2, 4, 64])
        seg_cap = rng.choice([1, 3, 8, 256])
        r = Ring(cap, policy, frag_cap=frag_cap, seg_cap=seg_cap)
        m = Model(cap, policy, frag_cap, seg_cap)
        segs = []
        pos = 0
        while pos < size:                       # cover everything, then shuffle
            n = rng.randrange(1, 30)
            segs.append((pos, n))
            pos += n
        segs += [(rng.randrange(size), rng.randrange(1, 40)) for _ in range(len(segs) // 2)]
        rng.shuffle(segs)
        consumed = bytearray()
        for i, (off, n) in enumerate(segs):
            seg = stream[off:off + n] or b"\x01"
            if rng.random() < 0.2:              # a conflicting copy
                seg = bytes(rng.randrange(256) for _ in seg)
            r.insert(off, seg, drop_oldest=drop)
            m.insert(off, seg, drop)
            if rng.random() < 0.3:
                k = rng.randrange(0, 20)
                got = r.read(k)
                assert got == m.consume(k)
                consumed += got
            if rng.random() < 0.05 and m.next_off == m.read_off:
                gap = r.skip_gap()
                runs = [x for x in m.runs() if x[0] > m.read_off]
                if runs:
                    assert gap == runs[0][0] - m.read_off
                    m.st["gap_bytes"] += gap
                    m.read_off = runs[0][0]
                else:
                    assert gap == 0
            _check(r, m, (trial, i))
        consumed += r.read()
        m.consume(1 << 30)
        s = r.stats
        assert r.read_off == len(consumed) + s["bytes_lost"] + s["gap_bytes"]


def test_fuzz_first_in_order():
    """FIRST, enough room: the reassembled stream is the first copy of every
    byte, whatever the order and the duplicates."""
    rng = random.Random(1234)
    for trial in range(200):
        size = rng.randrange(1, 600)
        stream = bytes(rng.randrange(256) for _ in range(size))
        segs = []
        pos = 0
        while pos < size:
            n = rng.randrange(1, 50)
            segs.append((pos, min(n, size - pos)))
            pos += n
        segs += [(o, min(rng.randrange(1, 60), size - o))
                 for o in (rng.randrange(size) for _ in range(rng.randrange(0, 20)))]
        rng.shuffle(segs)
        r = Ring(1024, "first", frag_cap=1024)
        want = bytearray(size)
        seen = [False] * size
        for off, n in segs:
            data = bytes(rng.randrange(256) for _ in range(n)) if rng.random() < 0.3 \
                else stream[off:off + n]
            r.insert(off, data)
            for i in range(n):
                if not seen[off + i]:
                    seen[off + i] = True
                    want[off + i] = data[i]
        assert r.read() == bytes(want), trial
        assert r.nfrags == 0 and r.stats["bytes_new"] == size
