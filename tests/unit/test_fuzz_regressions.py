"""What the fuzzers (tools/fuzz, docs/fuzzing.md) found, replayed through
the Python API: each test is the smallest case of one bug, with what must
hold now."""
from montraffic import ACK, Conv, Run
from xdpmtcp._core import ffi, lib
from xdpmtcp.monitor.core import Ev
from xdpmtcp.storage import Ring

SVR = 1        # the side that receives what the client sends (c2s)


def test_ring_refuses_a_segment_ending_at_2_to_the_63():
    # fuzz target ring: the advance (2^63) did not fit xc_ring_insert's
    # int64_t and came back negative, as if the arguments were bad
    r = Ring(16)
    data = ffi.new("uint8_t[5]")
    assert lib.xc_ring_insert(r.c, (1 << 63) - 5, data, 5, lib.XC_RING_DROP_OLDEST) == -1
    assert (r.read_off, r.next_off, r.high_off) == (0, 0, 0)
    # one byte lower it fits: the window slides there and says how far
    assert lib.xc_ring_insert(r.c, (1 << 63) - 6, data, 5,
                              lib.XC_RING_DROP_OLDEST) == (1 << 63) - 1
    assert r.next_off == (1 << 63) - 1


def test_drained_stream_keeps_what_a_skipped_hole_made_readable():
    # fuzz target mon_stream: a hole, a segment after it, then the sender
    # more than the buffer past the hole: the hole was given up, but the
    # segment behind it, now readable, was dropped as outrun, not delivered
    cv = Conv()
    first = bytes(range(256)) * 3 + bytes(68)           # 836 bytes at offset 27393
    second = b"z" * 279                                  # 279 bytes at offset 64549
    frames = cv.handshake() + [cv.c(ACK, first, seq=cv.ciss + 1 + 27393),
                               cv.c(ACK, second, seq=cv.ciss + 1 + 64549)]
    r = Run(buf_cap=32768).feed(frames).flush()
    flow = r.events[0][1]
    assert bytes(r.data[(flow, SVR)]) == first + second
    assert r.gaps[(flow, SVR)] == [(0, 27393), (27393 + 836, 64549 - 27393 - 836)]
    assert not [e for e in r.events if e[0] == Ev.ERROR]
    assert r.ended[flow]["svr"]["outrun_bytes"] == 0
