"""Offline input: a pcap or pcapng file read by the C core into bursts, as
Ethernet frames classified the way the live path classifies them (see
xdpmtcp/_core/include/api_pcapread.h for the normalisation and the caps)."""
import os

from .._core import ffi, lib
from .burst import Burst

STATS_FIELDS = [name for name, _ in ffi.typeof("struct xc_pcap_read_stats").fields]
FORMATS = {lib.XC_PCAP_FMT_PCAP: "pcap", lib.XC_PCAP_FMT_PCAPNG: "pcapng"}


class PcapSource:
    """``read(burst)`` appends frames, one C call per batch; ``bursts()``
    and ``frames()`` iterate; ``stats()`` says what was skipped and why."""

    def __init__(self, path):
        self._raw = None
        err = ffi.new("char[256]")
        if isinstance(path, int):
            # the reader owns what it is given: hand it a copy
            raw = lib.xc_pcap_reader_open_fd(os.dup(path), err, 256)
            self.path = "fd:%d" % path
        else:
            self.path = os.fspath(path)
            raw = lib.xc_pcap_reader_open(self.path.encode(), err, 256)
        if raw == ffi.NULL:
            raise OSError(ffi.string(err).decode())
        self._raw = raw

    @property
    def raw(self):
        if self._raw is None:
            raise ValueError("capture %s is closed" % self.path)
        return self._raw

    @property
    def format(self):
        return FORMATS[lib.xc_pcap_reader_format(self.raw)]

    def read(self, burst, max_frames=None):
        """Append up to max_frames to burst; 0 at the end of the capture."""
        if max_frames is None:
            max_frames = burst.cap
        n = lib.xc_pcap_reader_read(self.raw, burst.raw, max_frames)
        if n < 0:
            errno = ffi.errno
            raise OSError(errno, "reading %s: %s" % (self.path, os.strerror(errno)))
        return n

    def bursts(self, cap=256):
        """Yield the same Burst refilled until the capture ends."""
        burst = Burst(cap)
        while True:
            burst.clear()
            if not self.read(burst):
                return
            yield burst

    def frames(self):
        """Every frame as a Frame object (a Python object per frame: for
        tests and tools, not for the bulk path)."""
        for burst in self.bursts():
            yield from burst

    def stats(self):
        s = ffi.new("struct xc_pcap_read_stats *")
        lib.xc_pcap_reader_stats(self.raw, s)
        return {name: getattr(s, name) for name in STATS_FIELDS}

    def close(self):
        if self._raw is not None:
            lib.xc_pcap_reader_close(self._raw)
            self._raw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
