"""The monitor's interfaces, assembled like NetIf is for the stack.

- ``MonitorNetIf(ifname, filter)``: standalone, on a mirror or tap port;
  the TCP frames the filter selects come to our AF_XDP socket, the rest go
  to the kernel.
- ``InlineNetIf(if_a, if_b, filter)``: a bump in the wire; both interfaces
  run the inline monitor program, every frame comes to our sockets, and
  ``forward`` sends each batch out of the other interface (after a judge,
  e.g. the monitor core, has decided which frames to keep).

Everything is undone by ``close`` (also on exit and SIGINT/SIGTERM, through
the attach guards).
"""
from .phy import Burst, Port
from .tunables import DEFAULTS
from .xdp import AttachGuard, MonitorProgram
from ._core import ffi, lib


class _Side:
    """One interface: program, guard, AF_XDP port."""

    def __init__(self, ifname, filter, inline, tunables, force):
        self.ifname = ifname
        self.program = self.guard = self.port = None
        try:
            self.program = MonitorProgram(filter, tunables.xdp_max_queues, inline=inline)
            self.guard = AttachGuard(self.program, ifname, tunables.xdp_mode, force).attach()
            self.port = Port.open_xsk(ifname, 0, tunables.umem_frames)
            self.program.bind_socket(0, self.port.fd)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.program is not None:
            self.program.unbind_socket(0)
        if self.port is not None:
            self.port.close()
        if self.guard is not None:
            self.guard.detach()
        if self.program is not None:
            self.program.close()
        self.program = self.guard = self.port = None


class MonitorNetIf:
    def __init__(self, ifname, filter="", tunables=DEFAULTS, force=False):
        self.side = _Side(ifname, filter, False, tunables, force)
        self.port = self.side.port
        self.program = self.side.program

    @property
    def notes(self):
        return [n for n in [self.program.headers_note] + self.side.guard.notes if n]

    def close(self):
        self.side.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InlineNetIf:
    def __init__(self, if_a, if_b, filter="", tunables=DEFAULTS, force=False):
        self.a = _Side(if_a, filter, True, tunables, force)
        try:
            self.b = _Side(if_b, filter, True, tunables, force)
        except BaseException:
            self.a.close()
            raise
        for side in (self.a, self.b):
            # a forwarder judges nothing itself: bad checksums, ARP go through
            side.port.set_flags(verify_csum=False, classify=True)
        self.bursts = (Burst(tunables.rx_burst), Burst(tunables.rx_burst))
        self.forwarded = [0, 0]

    @property
    def notes(self):
        out = []
        for side in (self.a, self.b):
            out += [n for n in [side.program.headers_note] + side.guard.notes if n]
        return out

    def receive(self):
        """One batch from each side: (burst from a, burst from b)."""
        for side, burst in zip((self.a, self.b), self.bursts):
            burst.clear()
            side.port.rx(burst)
        return self.bursts

    def forward(self, keep_a=None, keep_b=None):
        """Send what receive() took out of the other side; keep_x: None (all)
        or a bytes-like of 0/1 per frame of that burst."""
        for i, (out, burst, keep) in enumerate(((self.b, self.bursts[0], keep_a),
                                                (self.a, self.bursts[1], keep_b))):
            if len(burst):
                mask = ffi.NULL if keep is None else ffi.from_buffer(bytes(keep))
                self.forwarded[i] += lib.xc_port_tx_burst(out.port.raw, burst.raw, mask)
            else:
                out.port.flush()

    def pump(self, judge=None):
        """receive, judge(burst_a, burst_b) -> (keep_a, keep_b), forward."""
        ba, bb = self.receive()
        keep = judge(ba, bb) if judge is not None else (None, None)
        self.forward(*keep)
        return len(ba) + len(bb)

    def close(self):
        self.b.close()
        self.a.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
