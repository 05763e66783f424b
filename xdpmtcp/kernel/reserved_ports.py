"""Reserve the stack's ephemeral port range with the kernel.

net.ipv4.ip_local_reserved_ports keeps the kernel from picking these ports
for its own connections, so active opens of both stacks never collide.  The
sysctl is per network namespace; the previous value is restored on release.
"""
import atexit
from pathlib import Path

SYSCTL = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


def _parse(text):
    ranges = []
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        ranges.append((int(lo), int(hi or lo)))
    return ranges


def _format(ranges):
    return ",".join("%d-%d" % r if r[0] != r[1] else str(r[0]) for r in ranges)


class PortReservation:
    def __init__(self, first, last):
        if not 1024 <= first <= last <= 65535:
            raise ValueError("port range must be within 1024-65535, got %d-%d" % (first, last))
        self.first, self.last = first, last
        self._previous = None

    def reserve(self):
        self._previous = SYSCTL.read_text()
        ranges = _parse(self._previous)
        if (self.first, self.last) not in ranges:
            SYSCTL.write_text(_format(ranges + [(self.first, self.last)]) + "\n")
        atexit.register(self.release)
        return self

    def release(self):
        if self._previous is None:
            return
        # Restore without disturbing ranges others added meanwhile.
        now = _parse(SYSCTL.read_text())
        before = _parse(self._previous)
        if (self.first, self.last) not in before:
            now = [r for r in now if r != (self.first, self.last)]
        SYSCTL.write_text(_format(now) + "\n")
        self._previous = None
        atexit.unregister(self.release)

    def reserved(self):
        return _parse(SYSCTL.read_text())

    def __enter__(self):
        return self.reserve()

    def __exit__(self, *exc):
        self.release()
