"""The TCP engine: C owns every connection's whole life (segments,
handshakes, timers, readiness); this Python control plane holds what the
application sees (connections, listeners, their lifetime) and reaches the
opaque block through api_tcp.h."""
from .connection import Connection
from .engine import Engine, EngineStats
from .listener import Listener, ListenerStats
from .state import Event, TcpState

__all__ = ["Connection", "Engine", "EngineStats", "Listener", "ListenerStats", "Event",
           "TcpState"]
