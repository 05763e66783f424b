"""Python face of the C reassembly ring (xdpmtcp/_core/storage/ring.c).

For tests and for the monitor's control plane (MOS_FRAGINFO_*,
MOS_INFO_*, mtcp_peek).  Data crosses as whole buffers (ffi.from_buffer /
ffi.buffer): nothing here touches bytes one at a time.
"""
import weakref

from xdpmtcp._core import ffi, lib

POLICIES = {
    "first": lib.XC_OVERLAP_FIRST,
    "last": lib.XC_OVERLAP_LAST,
    "linux": lib.XC_OVERLAP_LINUX,
    "bsd": lib.XC_OVERLAP_BSD,
    "windows": lib.XC_OVERLAP_WINDOWS,
}

STAT_FIELDS = ("bytes_in", "bytes_new", "bytes_dup", "overlap_conflicts", "conflict_bytes",
               "bytes_old", "bytes_beyond", "frag_overflow", "bytes_lost", "gap_bytes",
               "seg_evicted")


def _policy(p):
    return POLICIES[p] if isinstance(p, str) else int(p)


class Ring:
    """One byte stream by 64-bit offset; see api_ring.h for the rules."""

    def __init__(self, cap, policy="first", frag_cap=None, seg_cap=None):
        self._r = ffi.new("struct xc_ring *")
        if lib.xc_ring_init(self._r, cap, _policy(policy)) < 0:
            raise ValueError("cannot make a ring of %d bytes with policy %r" % (cap, policy))
        # The finalizer holds the cdata, so the struct outlives its free().
        self._fin = weakref.finalize(self, lib.xc_ring_free, self._r)
        if frag_cap is not None or seg_cap is not None:
            self.set_caps(frag_cap, seg_cap)

    def close(self):
        self._fin()

    @property
    def c(self):
        """The struct xc_ring * itself, for C calls made elsewhere."""
        return self._r

    # -- writing ---------------------------------------------------------
    def insert(self, off, data, drop_oldest=False):
        n = lib.xc_ring_insert(self._r, off, ffi.from_buffer(data), len(data),
                               lib.XC_RING_DROP_OLDEST if drop_oldest else 0)
        if n < 0:
            raise ValueError("bad offset %d (+%d)" % (off, len(data)))
        return n

    def append(self, data):
        return lib.xc_ring_append(self._r, ffi.from_buffer(data), len(data))

    # -- reading ---------------------------------------------------------
    def read(self, n=None):
        n = self.readable if n is None else min(n, self.readable)
        out = bytearray(n)
        got = lib.xc_ring_read(self._r, ffi.from_buffer(out), n)
        return bytes(out[:got])

    def peek(self, off, n):
        n = max(0, min(n, self.next_off - off))
        out = bytearray(n)
        got = lib.xc_ring_peek(self._r, off, ffi.from_buffer(out), n)
        return bytes(out[:got])

    def consume(self, n):
        return lib.xc_ring_consume(self._r, n)

    def skip_gap(self):
        return lib.xc_ring_skip_gap(self._r)

    def fragments(self):
        """[(offset, len)]: the readable block first, then out-of-order ones."""
        cap = self._r.nfrags + 1
        out = ffi.new("struct xc_ring_frag[]", cap)
        n = lib.xc_ring_fragments(self._r, out, cap)
        return [(out[i].offset, out[i].len) for i in range(n)]

    def snapshot(self):
        """Bytes [read_off, high_off) as stored, holes as zero bytes."""
        r = self._r
        size = r.high_off - r.read_off
        out = bytearray(size)
        if size == 0:
            return bytes(out)
        raw = ffi.buffer(r.buf, r.cap)
        for off, length in self.fragments():
            pos = off % r.cap
            first = min(length, r.cap - pos)
            dst = off - r.read_off
            out[dst:dst + first] = raw[pos:pos + first]
            out[dst + first:dst + length] = raw[0:length - first]
        return bytes(out)

    # -- configuration ---------------------------------------------------
    def resize(self, cap):
        return lib.xc_ring_resize(self._r, cap) == 0

    @property
    def policy(self):
        return self._r.policy

    @policy.setter
    def policy(self, p):
        if lib.xc_ring_set_policy(self._r, _policy(p)) < 0:
            raise ValueError("unknown overlap policy %r" % (p,))

    def set_caps(self, frag_cap=None, seg_cap=None):
        fc = self._r.frag_cap if frag_cap is None else frag_cap
        sc = self._r.seg_cap if seg_cap is None else seg_cap
        if lib.xc_ring_set_caps(self._r, fc, sc) < 0:
            raise ValueError("caps refused: frag_cap %d (have %d), seg_cap %d (max %d)"
                             % (fc, self._r.nfrags, sc, lib.XC_RING_MAX_SEGS))

    # -- state -------------------------------------------------------------
    cap = property(lambda self: self._r.cap)
    read_off = property(lambda self: self._r.read_off)
    next_off = property(lambda self: self._r.next_off)
    high_off = property(lambda self: self._r.high_off)
    nfrags = property(lambda self: self._r.nfrags)
    readable = property(lambda self: lib.xc_ring_readable(self._r))
    free_space = property(lambda self: lib.xc_ring_free_space(self._r))

    @property
    def stats(self):
        s = self._r.stats
        return {name: getattr(s, name) for name in STAT_FIELDS}

    def __repr__(self):
        return "Ring(cap=%d, read=%d, next=%d, high=%d, frags=%d)" % (
            self.cap, self.read_off, self.next_off, self.high_off, self.nfrags)
