"""BCC build of bpf/xdp_monitor.c (the flow monitor's XDP program) and its
maps: the socket per RX queue and the mode.  The monitor's --filter is
built into the program whole (XMON_FILTER: Filter.xdp_expression()), so
what it excludes never leaves the kernel (standalone) and is counted in
``filtered``."""
import ctypes as ct

from .program import MONITOR_PROG_NAME as PROG_NAME
from .program import BccXdpProgram

XMON_ALL = 1
COUNTERS = ("seen", "redirected", "passed", "filtered", "no_socket")


class MonitorProgram(BccXdpProgram):
    counter_names = dict(enumerate(COUNTERS))

    def __init__(self, max_queues=64, filter_expr=None):
        """filter_expr: C over the frame's fields (xdpmtcp.filter), None:
        every IPv4 TCP frame may match."""
        cflags = ["-DXM_MAX_QUEUES=%d" % max_queues]
        if filter_expr is not None:
            cflags.append("-DXMON_FILTER=%s" % filter_expr)
        self.filter_expr = filter_expr
        super().__init__("xdp_monitor.c", PROG_NAME, cflags)
        self._cfg = self.bpf[b"mon_cfg"]
        self.flags = 0

    def _set_flags(self, flags):
        self.flags = flags
        self._cfg[ct.c_int(0)] = ct.c_uint32(flags)

    def configure(self, all_frames=False):
        """all_frames: inline (every frame to the socket; the filter's
        verdict only sets the frame's metadata owner)."""
        self._set_flags(XMON_ALL if all_frames else 0)
