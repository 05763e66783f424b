"""Two contexts joined by the in-memory link (tcp.loopback.EnginePair):
the whole socket API without privileges.  Each context's loop also runs
the other's engine, so a blocking call on one side lets the other answer
(one thread, as in the tests)."""
from ..tcp.loopback import ADDR_A, ADDR_B, EnginePair
from .context import Context

__all__ = ["ADDR_A", "ADDR_B", "ContextPair"]


class ContextPair:
    def __init__(self, tunables_a=None, tunables_b=None, **overrides):
        self.engines = EnginePair(tunables_a, tunables_b, **overrides)
        self.a = Context(engines=[self.engines.a], name="memlink-a")
        self.b = Context(engines=[self.engines.b], name="memlink-b")
        self.a.peers.append(self.b)
        self.b.peers.append(self.a)

    def run_until(self, predicate, timeout=10.0):
        return self.a.wait_until(predicate, timeout)

    def run_for(self, seconds):
        self.a.wait_until(lambda: False, seconds)

    def close(self):
        self.a.close()
        self.b.close()
        self.engines.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
