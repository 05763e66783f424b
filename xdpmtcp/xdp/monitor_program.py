"""BCC build of bpf/xdp_monitor.c with a monitor filter compiled in."""
from ..filter import Filter
from .program import MONITOR_PROG_NAME, BccXdpProgram


class MonitorProgram(BccXdpProgram):
    """The TCP frames ``filter`` (text or Filter) selects go to our socket;
    the rest to the kernel, or with ``inline`` to our socket as well (owner
    0: to be forwarded).  The filter is part of the program: changing it
    means building a new one."""

    def __init__(self, filter="", max_queues=64, inline=False):
        self.filter = filter if isinstance(filter, Filter) else Filter(filter)
        self.inline = inline
        super().__init__("xdp_monitor.c", MONITOR_PROG_NAME, [
            "-DXM_MAX_QUEUES=%d" % max_queues,
            "-DXM_FILTER=%s" % self.filter.xdp_expression()] + (["-DXM_INLINE"] if inline else []))
