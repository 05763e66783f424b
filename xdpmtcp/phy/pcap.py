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
