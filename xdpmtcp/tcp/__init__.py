"""The TCP engine: C fast path (xdpmtcp/_core/tcp_*.c) and this Python
control plane (handshakes, timers, connection lifetime)."""
from .connection import Connection
from .engine import Engine, EngineStats
from .listener import Listener, ListenerStats
from .state import Event, TcpState, Timer

__all__ = ["Connection", "Engine", "EngineStats", "Listener", "ListenerStats", "Event",
           "TcpState", "Timer"]
