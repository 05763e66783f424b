"""Device layer: ports (AF_XDP socket, AF_PACKET socket, in-memory link),
their middleware (fault injector, pcap tap) and offline input (pcap files).  The per-frame work is in the C core; Python
configures it and moves whole batches."""
from .port import Port, PortError, XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP
from .burst import Burst, Frame
from .faults import FaultInjector
from .pcap import PcapTap
from .pcap_source import PcapSource

__all__ = ["Port", "PortError", "Burst", "Frame", "FaultInjector", "PcapTap", "PcapSource",
           "XDP_COPY", "XDP_ZEROCOPY", "XDP_USE_NEED_WAKEUP"]
