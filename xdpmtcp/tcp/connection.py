"""One TCP connection as the application and the slow path see it.

The control block lives in C (``struct xc_tcb``) and is opaque here: Python
reads it through xc_tcp_getopt (one value) or xc_tcp_info (a tcp_info-shaped
snapshot) and changes it through xc_tcp_setopt and the calls of api_tcp.h.
This object adds what only Python decides: whether the application still
holds the connection, its keepalive settings, and who to wake.
"""
import errno
import os

from .._core import ffi, lib
from .state import Event, TcpState

_EAGAIN = -errno.EAGAIN
AGAIN = object()              # read_now: the connection is open and holds nothing yet
_COUNTER_NAMES = [name for name, _ in ffi.typeof("struct xc_tcp_counters").fields]
_getopt = lib.xc_tcp_getopt
_OPT_STATE = lib.XC_OPT_STATE

# state number -> TcpState without an enum call (the property is read per batch per connection)
_STATES = {int(s): s for s in TcpState}


class FileReadError(OSError):
    """Connection.sendfile could not read its file (the errno says why)."""


class Connection:
    # one per connection, 100,000 at a time: no __dict__ (docs/tcp.md, "Memory")
    __slots__ = ("engine", "tcb", "id", "local", "remote", "_error", "orphan", "active",
                 "keepalive_idle_s", "keepalive_intvl_s", "keepalive_cnt", "watchers", "released",
                 "final_info", "ephemeral_port")

    def __init__(self, engine, tcb, local, remote):
        self.engine = engine
        self.tcb = tcb
        self.id = _getopt(tcb, lib.XC_OPT_ID)
        self.local = local            # (ip, port)
        self.remote = remote
        self._error = 0               # SO_ERROR once released (before: the block's so_error)
        self.orphan = False           # the application closed it
        self.active = True            # we opened it (Engine.adopt: a listener's)
        self.keepalive_idle_s = engine.tunables.keepalive_idle_s
        self.keepalive_intvl_s = engine.tunables.keepalive_intvl_s
        self.keepalive_cnt = engine.tunables.keepalive_cnt
        self.watchers = []            # callables(conn, Event bits)
        self.released = False
        self.final_info = None    # struct xc_tcp_info taken at release (its .c: the counters)
        self.ephemeral_port = True    # local port from the reserved range (else bound by the app)

    # -- what the application sees ------------------------------------------------
    @property
    def state(self):
        return _STATES[_getopt(self.tcb, _OPT_STATE)] if not self.released else TcpState.CLOSED

    def __repr__(self):
        return "<Connection %s:%d > %s:%d %s>" % (self.local + self.remote + (self.state.name,))

    @property
    def rcvbuf_autotune(self):
        """Receive-buffer autotuning: off once SO_RCVBUF is set, as in Linux
        (C keeps it in the block: it also picks the window scale by it)."""
        return not self.released and not self.getopt(lib.XC_OPT_RCVBUF_FIXED)

    @rcvbuf_autotune.setter
    def rcvbuf_autotune(self, on):
        self.setopt(lib.XC_OPT_RCVBUF_FIXED, 0 if on else 1)

    @property
    def readable_bytes(self):
        return 0 if self.released else _getopt(self.tcb, lib.XC_OPT_RCV_QUEUED)

    @property
    def eof(self):
        """The peer sent FIN (or the connection is gone) and all data was read."""
        if self.released or self.state == TcpState.CLOSED:
            return self.readable_bytes == 0
        return bool(self.getopt(lib.XC_OPT_FIN_RCVD)) and self.readable_bytes == 0

    @property
    def send_space(self):
        return 0 if self.released else _getopt(self.tcb, lib.XC_OPT_SND_FREE)

    @property
    def unsent_bytes(self):
        """Bytes written and not yet acknowledged (SIOCOUTQ)."""
        return 0 if self.released else _getopt(self.tcb, lib.XC_OPT_SND_QUEUED)

    @property
    def error(self):
        """The pending errno (SO_ERROR): C sets it (RST, timeout, refused)."""
        t = self.tcb
        return self._error if t is None else _getopt(t, lib.XC_OPT_ERROR)

    @error.setter
    def error(self, err):
        if self.tcb is None:
            self._error = err
        else:
            self.setopt(lib.XC_OPT_ERROR, err)

    # -- the block, through the boundary (api_tcp.h) ---------------------------------
    def getopt(self, opt):
        """One value of the block (XC_OPT_*)."""
        return _getopt(self.tcb, opt)

    def setopt(self, opt, value):
        """Apply one value to the block (XC_OPT_*); the socket layer has
        validated it.  Raises OSError with C's errno (ENOBUFS: no storage)."""
        eng = self.engine
        rc = lib.xc_tcp_setopt(eng.raw, self.tcb, opt, value, eng.now_ns())
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))
        eng.want_flush = True         # an ACK, a window update or Nagle's data may be due

    def c_info(self):
        """The tcp_info-shaped snapshot (struct xc_tcp_info) of the block."""
        out = ffi.new("struct xc_tcp_info *")
        lib.xc_tcp_info(self.tcb, self.engine.now_ns(), out)
        return out

    def take_error(self):
        err, self.error = self.error, 0
        return err

    def _check_usable(self):
        if self.released:
            raise OSError(errno.EBADF, "connection released")

    def _can_queue(self):
        """Whether bytes may be queued now (False: not synchronized yet);
        raises the pending error, or EPIPE once our side is shut."""
        self._check_usable()
        if self.error:
            raise OSError(self.take_error(), "connection failed")
        st = self.state
        if st in (TcpState.SYN_SENT, TcpState.SYN_RCVD):
            return False
        if not st.can_send or self.getopt(lib.XC_OPT_FIN_QUEUED):
            raise OSError(errno.EPIPE, "cannot send after shutdown")
        return True

    # -- the per-call common cases, one C call each (the socket layer's too) ----
    def read_now(self, n):
        """Up to n > 0 bytes if the connection holds some; AGAIN when it is
        open and holds none; None when the caller's rules decide (end of
        stream, an error, not synchronized, released)."""
        t = self.tcb
        if t is None:
            return None
        eng = self.engine
        got = lib.xc_tcp_recv(eng.raw, t, eng.read_buffer, min(n, eng.read_buffer_size))
        if got > 0:
            eng.want_flush = True         # a window update may be due
            return ffi.buffer(eng.read_buffer, got)[:]
        return AGAIN if got == _EAGAIN else None

    def send_now(self, data):
        """Bytes of data taken (> 0) on an open connection; 0 when fewer than
        min(SO_SNDLOWAT, len) fit; None when the caller's rules decide (not
        open for sending, an error, released, nothing to send)."""
        t = self.tcb
        if t is None:
            return None
        n = lib.xc_tcp_send(self.engine.raw, t, ffi.from_buffer(data), len(data))
        if n > 0:
            self.engine.want_flush = True
            return n
        return 0 if n == _EAGAIN else None

    def send(self, data):
        """Queue bytes; returns how many the send buffer took (0 when full).
        Raises the pending error, or EPIPE once our side is shut."""
        n = self.send_now(data)
        if n is not None:
            return n
        if not self._can_queue() or not data:
            return 0
        n = lib.xc_tcp_write(self.engine.raw, self.tcb, ffi.from_buffer(data), len(data))
        if n:
            self.engine.want_flush = True
        return n

    def sendfile(self, fd, offset, count):
        """Queue up to count bytes of file fd from offset (read by C straight
        into the send buffer, the file position left alone); returns how
        many were taken: 0 when the buffer is full or the file ends there.
        Raises as send does, and FileReadError when reading failed (EBADF,
        EISDIR, ...)."""
        if not self._can_queue() or not count:
            return 0
        n = lib.xc_tcp_write_fd(self.engine.raw, self.tcb, fd, offset, count)
        if n < 0:
            raise FileReadError(-n, os.strerror(-n))
        if n:
            self.engine.want_flush = True
        return n

    def recv(self, n, peek=False):
        """Up to n bytes; b"" at end of stream; BlockingIOError when nothing
        is there yet; the pending error (ECONNRESET, ETIMEDOUT) otherwise."""
        data = self.read(n, peek)
        if data is None:
            raise BlockingIOError(errno.EAGAIN, "no data yet")
        return data

    def read(self, n, peek=False):
        """recv without the exception for "nothing yet": None then (an
        app's loop reads until then at every wakeup)."""
        if n > 0 and not peek:
            data = self.read_now(n)
            if data is AGAIN:
                return None
            if data is not None:
                return data
        self._check_usable()
        avail = self.readable_bytes
        if avail:
            n = min(n, avail)
            buf = ffi.new("uint8_t[]", n)
            got = lib.xc_tcp_read(self.engine.raw, self.tcb, buf, n, 1 if peek else 0)
            if not peek:
                self.engine.want_flush = True
            return ffi.buffer(buf, got)[:]
        if self.error:
            raise OSError(self.take_error(), "connection failed")
        if self.eof or self.state == TcpState.CLOSED:
            return b""
        return None

    def shutdown_write(self):
        """Send FIN after the queued data (half-close)."""
        self._check_usable()
        if lib.xc_tcp_shutdown(self.engine.raw, self.tcb):
            self.engine.want_flush = True

    def close(self):
        """Graceful close; the engine keeps the block until the close
        handshake and TIME-WAIT are over.  Unread data means abort (RST), as
        Linux does (RFC 2525 §2.17)."""
        if self.released or self.orphan:
            return
        self.orphan = True
        st = self.state
        if st in (TcpState.CLOSED, TcpState.SYN_SENT):
            self.engine.release(self)
        elif self.readable_bytes and st.synchronized:
            self.abort()
        else:
            # FIN after the data; from here C may end it alone (orphaned
            # FIN-WAIT-2, TIME-WAIT)
            lib.xc_tcp_close(self.engine.raw, self.tcb, self.engine.now_ns())
            self.engine.want_flush = True

    def abort(self):
        """Send RST and release at once (SO_LINGER zero, mtcp_abort)."""
        if self.released:
            return
        lib.xc_tcp_abort(self.engine.raw, self.tcb, self.engine.now_ns())   # RST if the state calls for one
        self.orphan = True
        self.engine.release(self)

    # -- counters ------------------------------------------------------------------
    def counters(self):
        """The C counters; after release, their last values."""
        info = self.final_info if self.released else self.c_info()
        if info is None:
            return {}
        c = info.c                # a view into info, which stays alive here
        return {name: getattr(c, name) for name in _COUNTER_NAMES}

    def info(self):
        """A tcp_info-shaped view (Linux field names where they exist)."""
        t = self.c_info()
        c = t.c
        return {
            "tcpi_state": int(t.state),
            "tcpi_retransmits": t.retransmits,
            "tcpi_backoff": t.backoff,
            "tcpi_options": ((1 if t.flags & lib.XC_TF_TS_OK else 0) |
                             (2 if t.flags & lib.XC_TF_SACK_OK else 0) |
                             (4 if t.flags & lib.XC_TF_WS_OK else 0)),
            "tcpi_snd_wscale": t.snd_wscale,
            "tcpi_rcv_wscale": t.rcv_wscale,
            "tcpi_rto": t.rto_us,
            "tcpi_snd_mss": t.snd_mss,
            "tcpi_rcv_mss": t.rcv_mss,
            "tcpi_rtt": t.rtt_us,
            "tcpi_rttvar": t.rttvar_us,
            "tcpi_min_rtt": t.min_rtt_us,
            "tcpi_snd_ssthresh": t.ssthresh // max(t.snd_mss, 1),
            "tcpi_snd_cwnd": t.cwnd // max(t.snd_mss, 1),
            "tcpi_unacked": t.unacked,
            "tcpi_total_retrans": c.retrans_segs,
            "tcpi_bytes_acked": c.bytes_acked,
            "tcpi_bytes_received": c.bytes_received,
            "tcpi_bytes_sent": c.bytes_sent,
            "tcpi_bytes_retrans": c.bytes_retrans,
            "tcpi_segs_in": c.segs_in,
            "tcpi_segs_out": c.segs_out,
            "tcpi_data_segs_in": c.data_segs_in,
            "tcpi_data_segs_out": c.data_segs_out,
            "tcpi_snd_wnd": t.snd_wnd,
            "tcpi_rcv_space": t.rcv_space,
            "tcpi_dsack_dups": c.dsacks_in,
            "tcpi_reord_seen": c.sack_reorder,
            "tcpi_pacing_rate": t.pacing_rate,
            "tcpi_sacked": t.sacked // max(t.snd_mss, 1),
            "tcpi_lost": t.lost // max(t.snd_mss, 1),
            "tcpi_retrans": t.retrans_out // max(t.snd_mss, 1),
            "congestion": ffi.string(lib.xc_cc_name(t.cc_algo)).decode(),
        }

    # -- engine side -------------------------------------------------------------------
    def notify(self, bits):
        for w in list(self.watchers):
            w(self, bits)

    def on_events(self, bits):
        """React to what the C engine did during the batch (bits: an int of
        XC_EV_* / Event values; C has set the pending error already)."""
        if bits & lib.XC_EV_RELEASE:
            self.engine.release(self)
        elif not self.released:
            self.notify(bits)

    def set_keepalive(self, on):
        """SO_KEEPALIVE with this connection's idle, interval and count
        (nothing to tell C when it stays off)."""
        if not on and not self.getopt(lib.XC_OPT_KEEPALIVE):
            return
        self.setopt(lib.XC_OPT_KEEPIDLE_MS, int(self.keepalive_idle_s * 1000))
        self.setopt(lib.XC_OPT_KEEPINTVL_MS, int(self.keepalive_intvl_s * 1000))
        self.setopt(lib.XC_OPT_KEEPCNT, int(self.keepalive_cnt))
        self.setopt(lib.XC_OPT_KEEPALIVE, 1 if on else 0)
