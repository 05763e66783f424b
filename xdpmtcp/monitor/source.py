"""Where the monitor's frames come from.  Every input yields bursts
(``xdpmtcp.phy.burst.Burst``) and a clock: a capture file's own packet
timestamps (``now_ns`` 0: the core keeps the latest one), or the wall clock
for live inputs.  The monitor loop does not care which.
"""
import time

from ..phy.burst import Burst
from ..phy.pcap_source import PcapSource


class PcapInput:
    """Offline: a pcap or pcapng file through the C reader."""

    live = False

    def __init__(self, path, burst=1024):
        self.path = path
        self._src = PcapSource(path)
        self._burst = Burst(burst)

    def bursts(self):
        """Yields (burst, now_ns); now_ns 0 = the packets' own clock."""
        b = self._burst
        while True:
            b.clear()
            if not self._src.read(b):
                return
            yield b, 0

    def stats(self):
        return self._src.stats()

    def close(self):
        self._src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PortInput:
    """Live: any port of xdpmtcp.phy (AF_XDP behind the XDP program,
    AF_PACKET on a mirror/tap interface); ``stop`` ends the loop."""

    live = True

    def __init__(self, port, burst=256, poll_ms=100, stop=None):
        self.port = port
        self._burst = Burst(burst)
        self.poll_ms = poll_ms
        self.stop = stop or (lambda: False)

    def bursts(self):
        import select
        b = self._burst
        fd = self.port.fd()
        while not self.stop():
            b.clear()
            n = self.port.rx(b)
            if not n and fd >= 0:
                select.select([fd], [], [], self.poll_ms / 1000)
            yield b, time.time_ns()

    def stats(self):
        return self.port.stats()

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
