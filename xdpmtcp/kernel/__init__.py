"""What the stack asks of the kernel it shares the interface with: routes
and neighbours (netlink via pyroute2) and the reserved ephemeral ports."""
from .nexthop import NextHop, NextHopCache, resolve_next_hop, RouteError
from .reserved_ports import PortReservation

__all__ = ["NextHop", "NextHopCache", "resolve_next_hop", "RouteError", "PortReservation"]
