"""Seeded fault injection in the device layer (these kernels have no netem).

The decisions are made per frame in C; this object only carries the
configuration.  Spec strings look like ``drop=0.02,reorder=0.02,dup=0.01``.
"""
from dataclasses import dataclass, fields

from .._core import ffi, lib

_ALIASES = {"dup": "duplicate", "loss": "drop"}


@dataclass
class FaultInjector:
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    delay: float = 0.0
    delay_us: int = 2000
    reorder_us: int = 500
    seed: int = 1
    direction: str = "both"      # "rx", "tx" or "both"

    def __post_init__(self):
        for name in ("drop", "duplicate", "reorder", "corrupt", "delay"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError("%s must be a probability in [0, 1], got %r" % (name, p))
        if self.direction not in ("rx", "tx", "both"):
            raise ValueError("direction must be rx, tx or both, got %r" % self.direction)
        if self.delay_us < 0 or self.reorder_us < 0:
            raise ValueError("delay_us and reorder_us must not be negative")

    @classmethod
    def parse(cls, spec):
        """``drop=0.02,reorder=0.01,seed=7,direction=rx`` -> FaultInjector."""
        known = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, sep, value = item.partition("=")
            key = _ALIASES.get(key.strip(), key.strip())
            if not sep or key not in known:
                raise ValueError("bad fault spec item %r (known: %s)"
                                 % (item, ", ".join(sorted(known))))
            try:
                kwargs[key] = known[key](value.strip())
            except ValueError:
                raise ValueError("bad value for %s: %r" % (key, value)) from None
        return cls(**kwargs)

    def _cfg(self):
        cfg = ffi.new("struct xc_fault_cfg *")
        cfg.drop, cfg.duplicate, cfg.reorder = self.drop, self.duplicate, self.reorder
        cfg.corrupt, cfg.delay = self.corrupt, self.delay
        cfg.delay_us, cfg.reorder_us = self.delay_us, self.reorder_us
        return cfg

    def install(self, port):
        dirs = {"rx": [lib.XC_RX], "tx": [lib.XC_TX], "both": [lib.XC_RX, lib.XC_TX]}
        for i, d in enumerate(dirs[self.direction]):
            # Each direction gets its own stream of decisions.
            if lib.xc_port_set_faults(port.raw, d, self._cfg(), self.seed * 2 + i + 1):
                raise ValueError("fault configuration refused by the core")

    @staticmethod
    def uninstall(port, direction="both"):
        for d, name in ((lib.XC_RX, "rx"), (lib.XC_TX, "tx")):
            if direction in (name, "both"):
                lib.xc_port_set_faults(port.raw, d, ffi.NULL, 0)
