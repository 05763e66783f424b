"""tcpdump-style packet filters for the monitor (mtcp_bind_monitor_filter):
parsed once, run by the C core per batch and offered to XDP as C."""
from .grammar import FilterError, parse
from .program import Filter

__all__ = ["Filter", "FilterError", "parse"]
