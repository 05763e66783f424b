"""A batch of received frames, owned by the C core (one allocation)."""
from dataclasses import dataclass

from .._core import ffi, lib


@dataclass(frozen=True)
class Frame:
    data: bytes
    seg_class: int      # enum xm_seg_class (lib.XM_SEG_*)
    owner: int          # enum xm_owner, 0 when not steered by XDP
    payload_len: int
    flow_hash: int
    ts_ns: int


class Burst:
    """Up to ``cap`` frames; ``Port.rx`` appends, ``clear`` empties."""

    def __init__(self, cap=256):
        if cap <= 0:
            raise ValueError("burst capacity must be positive")
        self._b = ffi.gc(lib.xc_burst_new(cap), lib.xc_burst_free)
        if self._b == ffi.NULL:
            raise MemoryError("cannot allocate a burst of %d frames" % cap)

    @property
    def raw(self):
        return self._b

    @property
    def cap(self):
        return self._b.cap

    def __len__(self):
        return self._b.n

    def clear(self):
        self._b.n = 0

    def frame(self, i):
        if not 0 <= i < self._b.n:
            raise IndexError(i)
        p = self._b.pkts[i]
        data = ffi.unpack(ffi.cast("char *", self._b.frames + p.off), p.len)
        return Frame(data, p.seg_class, p.owner, p.payload_len, p.flow_hash, p.ts_ns)

    def __iter__(self):
        for i in range(self._b.n):
            yield self.frame(i)
