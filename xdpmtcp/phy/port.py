"""A port: the C core's frame I/O endpoint, one Python call per batch."""
from .._core import ffi, lib

# linux/if_xdp.h bind flags
XDP_COPY = 1 << 1
XDP_ZEROCOPY = 1 << 2
XDP_USE_NEED_WAKEUP = 1 << 3

STATS_FIELDS = [name for name, _ in ffi.typeof("struct xc_port_stats").fields]


class PortError(OSError):
    pass


class Port:
    def __init__(self, raw, name):
        self._raw = raw
        self.name = name
        self._middleware = []

    # -- constructors ------------------------------------------------------
    @classmethod
    def open_xsk(cls, ifname, queue=0, nframes=4096, bind_flags=XDP_USE_NEED_WAKEUP):
        """AF_XDP socket on ifname/queue; the caller puts ``fd`` in its XSKMAP."""
        err = ffi.new("char[256]")
        raw = lib.xc_port_open_xsk(ifname.encode(), queue, nframes, bind_flags, err, 256)
        if raw == ffi.NULL:
            raise PortError(ffi.string(err).decode())
        return cls(raw, "%s/%d" % (ifname, queue))

    @classmethod
    def open_afpacket(cls, ifname, ring_frames=0):
        """Packet socket on ifname (all frames, promiscuous, own sends
        ignored); ring_frames: frames the kernel may queue (0 = default)."""
        err = ffi.new("char[256]")
        raw = lib.xc_port_open_afpacket(ifname.encode(), ring_frames, err, 256)
        if raw == ffi.NULL:
            raise PortError(ffi.string(err).decode())
        return cls(raw, "afpacket:%s" % ifname)

    @classmethod
    def memlink(cls, depth=4096):
        """Two ports joined in memory (unit tests): a sends, b receives."""
        a = ffi.new("struct xc_port **")
        b = ffi.new("struct xc_port **")
        if lib.xc_memlink_open(depth, a, b):
            raise MemoryError("cannot allocate an in-memory link")
        return cls(a[0], "memlink-a"), cls(b[0], "memlink-b")

    # -- lifecycle ---------------------------------------------------------
    @property
    def raw(self):
        if self._raw is None:
            raise PortError("port %s is closed" % self.name)
        return self._raw

    def close(self):
        if self._raw is not None:
            lib.xc_port_close(self._raw)
            self._raw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    # -- properties --------------------------------------------------------
    @property
    def fd(self):
        return lib.xc_port_fd(self.raw)

    @property
    def zerocopy(self):
        return bool(lib.xc_port_zerocopy(self.raw))

    def set_flags(self, verify_csum=True, classify=True):
        flags = (lib.XC_VERIFY_CSUM if verify_csum else 0) | (lib.XC_CLASSIFY if classify else 0)
        lib.xc_port_set_flags(self.raw, flags)

    # -- middleware ----------------------------------------------------------
    def add(self, middleware):
        """Install a FaultInjector or PcapTap; returns the port for chaining."""
        middleware.install(self)
        self._middleware.append(middleware)
        return self

    def remove(self, middleware):
        """Uninstall what add() installed."""
        self._middleware.remove(middleware)
        middleware.uninstall(self)

    def installed(self, kind):
        """The installed middleware of a type (PcapTap, FaultInjector)."""
        return [m for m in self._middleware if isinstance(m, kind)]

    # -- I/O -----------------------------------------------------------------
    def rx(self, burst, max_frames=None):
        """Append received frames to burst; returns how many were added."""
        if max_frames is None:
            max_frames = burst.cap
        return lib.xc_port_rx(self.raw, burst.raw, max_frames)

    def rx_discard(self, max_frames=256):
        return lib.xc_port_rx_discard(self.raw, max_frames)

    def tx(self, frames, fill_csum=False):
        """Send a list of frames (bytes); returns how many were queued."""
        if not frames:
            return 0
        lens = ffi.new("uint32_t[]", [len(f) for f in frames])
        buf = b"".join(frames)
        flags = lib.XC_TX_FILL_CSUM if fill_csum else 0
        return lib.xc_port_tx(self.raw, buf, lens, len(frames), flags)

    def forward_to(self, other, max_frames=256):
        """Move up to max_frames received here, unchanged, out of other (in
        C, no verification); returns the frames other sent."""
        n = lib.xc_port_forward(self.raw, other.raw, max_frames)
        if n < 0:
            raise MemoryError("cannot allocate the forwarding buffer")
        return n

    def flush(self):
        return lib.xc_port_flush(self.raw)

    def next_due_ns(self):
        """Monotonic ns when a held (delayed/reordered) frame is due; 0 if none."""
        return lib.xc_port_next_due_ns(self.raw)

    def stats(self):
        s = ffi.new("struct xc_port_stats *")
        lib.xc_port_get_stats(self.raw, s)
        out = {}
        for name in STATS_FIELDS:
            v = getattr(s, name)
            if isinstance(v, int):
                out[name] = v
            else:
                out[name + "_rx"], out[name + "_tx"] = v[0], v[1]
        return out

    def afpacket_stats(self):
        """Backend counters of an AF_PACKET port (kernel drops, ...)."""
        s = ffi.new("struct xc_afpacket_stats *")
        if lib.xc_afpacket_get_stats(self.raw, s):
            raise PortError("port %s is not an AF_PACKET port" % self.name)
        return {name: getattr(s, name) for name, _ in ffi.typeof(s[0]).fields}
