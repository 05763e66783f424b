"""Device layer: ports (AF_XDP socket, in-memory link) and their middleware
(fault injector, pcap tap).  The per-frame work is in the C core; Python
configures it and moves whole batches."""
from .port import Port, PortError, XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP
from .burst import Burst, Frame
from .faults import FaultInjector
from .pcap import PcapTap

__all__ = ["Port", "PortError", "Burst", "Frame", "FaultInjector", "PcapTap",
           "XDP_COPY", "XDP_ZEROCOPY", "XDP_USE_NEED_WAKEUP"]
