"""Two engines joined by the C core's in-memory link: the whole TCP engine
without privileges (unit tests, fault experiments).  "a" is 198.18.0.1, "b"
is 198.18.0.2; fault injectors attach to either port."""
import dataclasses
import time

from ..phy import FaultInjector, Port
from ..tunables import DEFAULTS
from .engine import Engine

ADDR_A, ADDR_B = "198.18.0.1", "198.18.0.2"
MAC_A, MAC_B = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")


class EnginePair:
    def __init__(self, tunables_a=None, tunables_b=None, depth=8192, **overrides):
        base = dataclasses.replace(DEFAULTS, **overrides) if overrides else DEFAULTS
        self.port_a, self.port_b = Port.memlink(depth=depth)
        self.a = Engine(self.port_a, MAC_A, [ADDR_A], tunables=tunables_a or base,
                        resolve=lambda ip: MAC_B)
        self.b = Engine(self.port_b, MAC_B, [ADDR_B], tunables=tunables_b or base,
                        resolve=lambda ip: MAC_A)

    def faults(self, spec, side="both"):
        """Impair frames received by a, b or both (FaultInjector spec)."""
        if "direction" not in spec:
            spec += ",direction=rx"      # once per frame: at its receiver
        for name in (("a", "b") if side == "both" else (side,)):
            getattr(self, "port_" + name).add(FaultInjector.parse(spec))

    def poll(self):
        return self.a.poll() + self.b.poll()

    def run_until(self, predicate, timeout=10.0):
        """Poll both engines until predicate() holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            if not self.poll():
                # idle: let timers and held (delayed) frames come due
                time.sleep(0.0005)
        return True

    def run_for(self, seconds):
        deadline = time.monotonic() + seconds
        self.run_until(lambda: time.monotonic() >= deadline, timeout=seconds + 1)

    def close(self):
        self.a.close()
        self.b.close()
        self.port_a.close()
        self.port_b.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
