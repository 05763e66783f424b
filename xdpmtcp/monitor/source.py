"""Where the monitor's frames come from.  Every input yields bursts
(``xdpmtcp.phy.burst.Burst``) and a clock: a capture file's own packet
timestamps (``now_ns`` 0: the core keeps the latest one), or the wall clock
for live inputs.  The monitor loop does not care which.
"""
import os
import time

from ..phy.burst import Burst
from ..phy.pcap_source import PcapSource

# Longest frame a packet socket takes (xc_afpacket_set_frame_max): a GRO or
# TSO super-frame of 64 KiB and its headers; it is cut into the segments it
# stands for.  Longer (BIG TCP) ones count in rx_oversize.  Memory: 64
# receive buffers of this size per interface.
AFPACKET_FRAME_MAX = 65536 + 512


class PcapInput:
    """Offline: a pcap or pcapng file through the C reader."""

    live = False
    inline = False

    def __init__(self, path, burst=1024):
        self.path = path
        try:
            self._src = PcapSource(path)
        except OSError as e:       # say which capture (open(2) errors already do)
            name = "stdin" if isinstance(path, int) else os.fspath(path)
            msg = str(e)
            raise OSError(msg if msg.startswith(name) else "%s: %s" % (name, msg)) from None
        self._burst = Burst(burst)

    def bursts(self):
        """Yields (burst, now_ns); now_ns 0 = the packets' own clock."""
        b = self._burst
        while True:
            b.clear()
            if not self._src.read(b):
                return
            yield b, 0

    def after(self, burst, verdict=None):
        return 0

    def stats(self):
        return self._src.stats()

    def damage(self):
        """What was wrong with the capture, as read so far: None if nothing,
        else {"stopped": why reading stopped early, with where (or None),
        "skipped": damaged blocks skipped, "first_skipped": the first one},
        the C reader's own one-line descriptions."""
        from .._core import ffi, lib
        st = self._src.stats()
        if not st["stop"] and not st["bad_blocks"]:
            return None
        stopped, skipped = ffi.new("char[256]"), ffi.new("char[256]")
        lib.xc_pcap_reader_damage(self._src.raw, stopped, 256, skipped, 256)
        # a block that stopped the reading counts in bad_blocks too
        stopped_on_block = st["stop"] in (lib.XC_PCAP_STOP_BLOCK_LENGTH,
                                          lib.XC_PCAP_STOP_SECTION)
        return {"stopped": ffi.string(stopped).decode() or None,
                "skipped": st["bad_blocks"] - stopped_on_block,
                "first_skipped": ffi.string(skipped).decode() or None}

    def close(self):
        self._src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LiveInput:
    """Live: one interface (standalone, e.g. a mirror or tap port) or two
    (inline, bump in the wire: what arrives on one leaves by the other
    once the monitor has seen it, minus what a verdict dropped).

    backend "afpacket": packet sockets (any interface, promiscuous).
    backend "xdp": the monitor's XDP program (bpf/xdp_monitor.c) on each
    interface and an AF_XDP socket on its queue 0; inline, forwarding goes
    out through the other interface's AF_XDP TX.  ``bursts()`` yields
    (burst, now_ns) until ``stop()`` is true or ``duration`` seconds
    passed, also empty bursts when idle so timeouts still run; call
    ``after(burst, verdict)`` once the burst is processed (inline: it is
    forwarded then)."""

    live = True

    def __init__(self, ifaces, burst=256, poll_ms=50, stop=None, duration=None,
                 ring_frames=0, backend="afpacket", flow_filter=None, xdp_mode="auto",
                 force=False, umem_frames=4096):
        from .._core import lib
        from ..phy.port import Port
        if len(ifaces) not in (1, 2):
            raise ValueError("one interface (standalone) or two (inline)")
        if backend not in ("afpacket", "xdp"):
            raise ValueError("backend: afpacket or xdp")
        self.ifaces = list(ifaces)
        self.backend = backend
        self.ports = []
        self.xdp = []                     # (program, guard) per interface
        self.inline = len(self.ifaces) == 2
        try:
            for name in self.ifaces:
                if backend == "afpacket":
                    port = Port.open_afpacket(name, ring_frames)
                    if lib.xc_afpacket_set_frame_max(port.raw, AFPACKET_FRAME_MAX):
                        port.close()
                        raise MemoryError("no memory for %s's receive buffers" % name)
                else:
                    port = self._open_xdp(name, flow_filter, xdp_mode, force, umem_frames)
                port.set_flags(verify_csum=False, classify=True)
                self.ports.append(port)
        except BaseException:
            self.close()
            raise
        self._burst = Burst(burst)
        self.poll_ms = poll_ms
        self.stop = stop or (lambda: False)
        self.deadline = time.monotonic() + duration if duration else None
        self.port_index = 0
        self.forwarded = [0, 0]

    def bursts(self):
        import select
        from .._core import lib
        poller = select.poll()
        for port in self.ports:
            poller.register(port.fd, select.POLLIN)
        by_fd = {port.fd: i for i, port in enumerate(self.ports)}
        b = self._burst
        while not self.stop() and (self.deadline is None or time.monotonic() < self.deadline):
            # frames a port holds already (the rest of a batch of super-
            # frames): no wakeup will come for them
            held = [(port.fd, 0) for port in self.ports
                    if self.backend == "afpacket" and lib.xc_afpacket_pending(port.raw) == 1]
            ready = held or poller.poll(self.poll_ms)
            if not ready:
                b.clear()
                self.port_index = -1
                yield b, time.time_ns()
                continue
            for fd, _ in ready:
                i = by_fd[fd]
                b.clear()
                if not self.ports[i].rx(b):
                    continue
                self.port_index = i
                yield b, time.time_ns()

    def after(self, burst, verdict=None):
        """Inline: forward what the monitor let through."""
        from .._core import ffi, lib
        i = self.port_index
        if not self.inline or i < 0 or not len(burst):
            return 0
        v = ffi.from_buffer(verdict) if verdict is not None else ffi.NULL
        n = lib.xc_mon_tx_burst(self.ports[1 - i].raw, burst.raw, v, 0)
        self.forwarded[i] += n
        return n

    def send(self, frame, toward_port):
        """Inline: inject a frame out of port toward_port (mtcp_sendpkt)."""
        return self.ports[toward_port].tx([frame])

    def _open_xdp(self, name, flow_filter, mode, force, umem_frames):
        """The monitor's XDP program on name (one per interface: each has
        its own socket map), an AF_XDP socket on queue 0 bound into it.
        Inline, every frame goes to the socket; standalone, only IPv4 TCP
        that passes the filter (built into the XDP program whole)."""
        from ..phy.port import Port
        from ..xdp import AttachGuard
        from ..xdp.monitor_program import MonitorProgram
        offloaded = flow_filter is not None and flow_filter.tree is not None
        prog = MonitorProgram(filter_expr=flow_filter.xdp_expression() if offloaded else None)
        guard = None
        try:
            guard = AttachGuard(prog, name, mode, force).attach()
            prog.configure(all_frames=self.inline)
            port = Port.open_xsk(name, 0, umem_frames)
            prog.bind_socket(0, port.fd)
        except BaseException:
            if guard is not None:
                guard.detach()
            prog.close()
            raise
        self.xdp.append((prog, guard))
        return port

    def stats(self):
        out = {}
        for i, (name, port) in enumerate(zip(self.ifaces, self.ports)):
            st = port.stats()
            if self.backend == "afpacket":
                st.update(port.afpacket_stats())
            else:
                st.update({"xdp_" + k: v for k, v in self.xdp[i][0].counters().items()})
            out[name] = st
        out["forwarded"] = list(self.forwarded)
        return out

    def close(self):
        for prog, _ in self.xdp:
            prog.unbind_socket(0)
        for port in self.ports:
            port.close()
        for prog, guard in self.xdp:
            guard.detach()
            prog.close()
        self.ports, self.xdp = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
