"""C layouts of the struct-valued options and of mTCP's ``struct mtcp_conf``,
declared once, as ctypes data: ``bytes(obj)`` is the C layout (what
getsockopt returns when given a buffer length), ``T.from_bytes(b)`` reads
one back, and the fields carry the C names."""
import ctypes

from ..tcp.state import TcpState

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class _Struct(ctypes.Structure):
    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % (f[0], getattr(self, f[0])) for f in self._fields_))

    def __eq__(self, other):
        return type(other) is type(self) and bytes(self) == bytes(other)

    def __hash__(self):
        return hash(bytes(self))

    @classmethod
    def size(cls):
        return ctypes.sizeof(cls)

    @classmethod
    def from_bytes(cls, data):
        """Read the C layout; short data is zero-padded (a truncated getsockopt)."""
        data = bytes(data)[:ctypes.sizeof(cls)]
        return cls.from_buffer_copy(data.ljust(ctypes.sizeof(cls), b"\0"))

    def as_dict(self):
        return {f[0]: getattr(self, f[0]) for f in self._fields_}


class linger(_Struct):
    """struct linger (SO_LINGER): l_onoff, l_linger seconds."""
    _fields_ = [("l_onoff", ctypes.c_int), ("l_linger", ctypes.c_int)]


class timeval(_Struct):
    """struct timeval (SO_RCVTIMEO, SO_SNDTIMEO)."""
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]

    @classmethod
    def from_seconds(cls, seconds):
        sec = int(seconds)
        return cls(sec, int(round((seconds - sec) * 1e6)))

    def seconds(self):
        return self.tv_sec + self.tv_usec / 1e6


class tcp_info(_Struct):
    """Linux's struct tcp_info (include/uapi/linux/tcp.h, up to 6.7's
    tcpi_total_rto_time): same names, same offsets, same units (µs for
    times, segments for cwnd/ssthresh).  tcpi_state uses Linux's TCP state
    numbers so raw bytes read like the kernel's; ``tcpstate`` gives the
    mOS enum.  Fields the engine has no counterpart for stay 0."""
    _fields_ = [
        ("tcpi_state", u8), ("tcpi_ca_state", u8), ("tcpi_retransmits", u8), ("tcpi_probes", u8),
        ("tcpi_backoff", u8), ("tcpi_options", u8),
        ("tcpi_snd_wscale", u8, 4), ("tcpi_rcv_wscale", u8, 4),
        ("tcpi_delivery_rate_app_limited", u8, 1), ("tcpi_fastopen_client_fail", u8, 2),
        ("tcpi_rto", u32), ("tcpi_ato", u32), ("tcpi_snd_mss", u32), ("tcpi_rcv_mss", u32),
        ("tcpi_unacked", u32), ("tcpi_sacked", u32), ("tcpi_lost", u32), ("tcpi_retrans", u32),
        ("tcpi_fackets", u32),
        ("tcpi_last_data_sent", u32), ("tcpi_last_ack_sent", u32), ("tcpi_last_data_recv", u32),
        ("tcpi_last_ack_recv", u32),
        ("tcpi_pmtu", u32), ("tcpi_rcv_ssthresh", u32), ("tcpi_rtt", u32), ("tcpi_rttvar", u32),
        ("tcpi_snd_ssthresh", u32), ("tcpi_snd_cwnd", u32), ("tcpi_advmss", u32),
        ("tcpi_reordering", u32),
        ("tcpi_rcv_rtt", u32), ("tcpi_rcv_space", u32),
        ("tcpi_total_retrans", u32),
        ("tcpi_pacing_rate", u64), ("tcpi_max_pacing_rate", u64),
        ("tcpi_bytes_acked", u64), ("tcpi_bytes_received", u64),
        ("tcpi_segs_out", u32), ("tcpi_segs_in", u32),
        ("tcpi_notsent_bytes", u32), ("tcpi_min_rtt", u32),
        ("tcpi_data_segs_in", u32), ("tcpi_data_segs_out", u32),
        ("tcpi_delivery_rate", u64),
        ("tcpi_busy_time", u64), ("tcpi_rwnd_limited", u64), ("tcpi_sndbuf_limited", u64),
        ("tcpi_delivered", u32), ("tcpi_delivered_ce", u32),
        ("tcpi_bytes_sent", u64), ("tcpi_bytes_retrans", u64),
        ("tcpi_dsack_dups", u32), ("tcpi_reord_seen", u32),
        ("tcpi_rcv_ooopack", u32),
        ("tcpi_snd_wnd", u32), ("tcpi_rcv_wnd", u32),
        ("tcpi_rehash", u32),
        ("tcpi_total_rto", u16), ("tcpi_total_rto_recoveries", u16),
        ("tcpi_total_rto_time", u32),
    ]

    @property
    def tcpstate(self):
        """tcpi_state as mOS's tcpstate enum."""
        return LINUX_TO_TCPSTATE[self.tcpi_state]


class mtcp_conf(_Struct):
    """mTCP's struct mtcp_conf (mtcp_getconf/mtcp_setconf)."""
    _fields_ = [("num_cores", ctypes.c_int), ("max_concurrency", ctypes.c_int),
                ("num_ip", ctypes.c_int), ("max_num_buffers", ctypes.c_int),
                ("rcvbuf_size", ctypes.c_int), ("sndbuf_size", ctypes.c_int),
                ("tcp_timewait", ctypes.c_int), ("tcp_timeout", ctypes.c_int)]


INT_SIZE = ctypes.sizeof(ctypes.c_int)

# Linux's TCP state numbers (include/net/tcp_states.h) for tcpi_state
TCPSTATE_TO_LINUX = {
    TcpState.ESTABLISHED: 1, TcpState.SYN_SENT: 2, TcpState.SYN_RCVD: 3, TcpState.FIN_WAIT_1: 4,
    TcpState.FIN_WAIT_2: 5, TcpState.TIME_WAIT: 6, TcpState.CLOSED: 7, TcpState.CLOSE_WAIT: 8,
    TcpState.LAST_ACK: 9, TcpState.LISTEN: 10, TcpState.CLOSING: 11,
}
LINUX_TO_TCPSTATE = {v: k for k, v in TCPSTATE_TO_LINUX.items()}
LINUX_TO_TCPSTATE[0] = TcpState.CLOSED
