"""What the stack asks of the kernel it shares the interface with: routes
and neighbours (netlink via pyroute2), the reserved ephemeral ports, and
the per-boot secret behind sequence numbers and SYN cookies."""
from .secret import boot_secret
from .nexthop import NextHop, NextHopCache, resolve_next_hop, RouteError
from .reserved_ports import PortReservation

__all__ = ["NextHop", "NextHopCache", "resolve_next_hop", "RouteError", "PortReservation", "boot_secret"]
