"""Pcap tap middleware: every frame the stack receives (after fault
injection, i.e. what it really got) and sends (before fault injection, i.e.
what it meant to send), written by the C core to a classic pcap file."""
from dataclasses import dataclass

from .._core import ffi, lib


@dataclass
class PcapTap:
    path: str
    max_bytes: int = 0     # 0 = no cap; at the cap frames are counted, not written

    def install(self, port):
        err = ffi.new("char[256]")
        if lib.xc_port_set_pcap(port.raw, self.path.encode(), self.max_bytes, err, 256):
            raise OSError(ffi.string(err).decode())

    @staticmethod
    def uninstall(port):
        lib.xc_port_set_pcap(port.raw, ffi.NULL, 0, ffi.NULL, 0)


class PcapWriter:
    """A capture file written by the C core's one pcap writer (classic
    pcap, or pcapng for a path ending in ".pcapng"): frames with their own
    timestamps, a burst per C call."""

    def __init__(self, path, max_bytes=0):
        err = ffi.new("char[256]")
        w = lib.xc_pcap_writer_new(path.encode(), max_bytes, err, 256)
        if w == ffi.NULL:
            raise OSError(ffi.string(err).decode())
        self._w = w

    def write(self, frame, ts_ns=0, direction=0):
        """One frame; ts_ns 0: now.  True if written (False: at the cap)."""
        return bool(lib.xc_pcap_writer_frame(self._w, frame, len(frame), ts_ns, direction))

    def write_burst(self, burst, verdict=None, first=0, end=None, direction=0):
        """Frames first..end-1 of a burst whose verdict is not 0 (None: all)."""
        v = ffi.from_buffer(verdict) if verdict is not None else ffi.NULL
        return lib.xc_pcap_writer_burst(self._w, burst.raw, v, first,
                                        len(burst) if end is None else end, direction)

    @property
    def capped(self):
        return lib.xc_pcap_writer_capped(self._w)

    def close(self):
        if self._w is not None:
            w, self._w = self._w, None
            if lib.xc_pcap_writer_free(w) != 0:
                raise OSError("the capture file did not close cleanly (disk full?)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
