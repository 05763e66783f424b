"""Socket options: what each one stores, how its value is read and written
(int, struct linger, struct timeval, tcp_info, a name), and what it does
to the connection under the socket.

Levels SOL_SOCKET (the sixteen options of the OSKit page) and IPPROTO_TCP
(TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
TCP_INFO, TCP_CONGESTION).  Errors: ENOSYS for an unknown level or option
and for setting a get-only one; EPERM for SOL_MONSOCKET options on an
endpoint socket; EINVAL for a bad value or too short a buffer.
"""
import dataclasses
import errno
import struct

from .._core import ffi, lib
from ..tcp import TcpState
from . import constants as C
from .errors import error
from .structs import INT_SIZE, TCPSTATE_TO_LINUX, linger, tcp_info, timeval

TCP_MIN_MSS = 88            # Linux's bounds for TCP_MAXSEG
TCP_MAX_MSS = 32767
KEEPIDLE_MAX = 32767
KEEPCNT_MAX = 127


@dataclasses.dataclass
class SocketOptions:
    """What setsockopt stored on one socket (accepted sockets start with a
    copy of their listener's, as in Linux)."""
    debug: bool = False
    reuseaddr: bool = False
    reuseport: bool = False
    keepalive: bool = False
    dontroute: bool = False
    broadcast: bool = False
    oobinline: bool = False
    linger_on: bool = False
    linger_s: int = 0
    sndbuf: int = 0
    rcvbuf: int = 0
    rcvbuf_locked: bool = False  # SO_RCVBUF was set: no autotuning, window scale from its size
    sndbuf_locked: bool = False  # SO_SNDBUF was set: no send-buffer autotuning
    sndlowat: int = 1024
    rcvlowat: int = 1
    sndtimeo: float = 0.0       # seconds; 0 = wait forever
    rcvtimeo: float = 0.0
    nodelay: bool = False
    maxseg: int = 0             # 0 = the interface's MSS
    keepidle: int = 7200
    keepintvl: int = 75
    keepcnt: int = 9
    congestion: str = "cubic"

    @classmethod
    def defaults(cls, t):
        return cls(sndbuf=t.sndbuf, rcvbuf=t.rcvbuf, sndlowat=t.sndlowat,
                   keepidle=max(1, int(t.keepalive_idle_s)), keepintvl=max(1, int(t.keepalive_intvl_s)),
                   keepcnt=t.keepalive_cnt, congestion=t.congestion)


# --- values in and out ----------------------------------------------------------------

def int_value(value):
    """An int option's value: an int (bools too) or the C bytes of an int."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) < INT_SIZE:
            raise error(errno.EINVAL, "an int option needs %d bytes, got %d" % (INT_SIZE, len(value)))
        return struct.unpack("i", bytes(value[:INT_SIZE]))[0]
    raise error(errno.EINVAL, "an int option takes an int or bytes, not %s" % type(value).__name__)


def linger_value(value):
    if isinstance(value, linger):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return linger(int(value[0]), int(value[1]))
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) < linger.size():
            raise error(errno.EINVAL, "struct linger is %d bytes, got %d" % (linger.size(), len(value)))
        return linger.from_bytes(value)
    raise error(errno.EINVAL, "SO_LINGER takes linger(l_onoff, l_linger), a pair or bytes")


def timeval_seconds(value):
    if isinstance(value, timeval):
        tv = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) < timeval.size():
            raise error(errno.EINVAL, "struct timeval is %d bytes, got %d" % (timeval.size(), len(value)))
        tv = timeval.from_bytes(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        tv = timeval.from_seconds(value)
    else:
        raise error(errno.EINVAL, "a timeout takes timeval(sec, usec), seconds or bytes")
    if tv.tv_sec < 0 or not 0 <= tv.tv_usec < 1000000:
        raise error(errno.EINVAL, "timeval out of range: %r" % tv)
    return tv.seconds()


def name_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).split(b"\0", 1)[0].decode("ascii", "replace")
    raise error(errno.EINVAL, "TCP_CONGESTION takes a name (str or bytes)")


# --- the table ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    kind: str                   # int | linger | timeval | tcp_info | name
    get: object                 # get(sock) -> python value
    set: object = None          # set(sock, converted value); None = get only


def _flag(attr):
    def get(sock):
        return int(getattr(sock.opts, attr))

    def set_(sock, v):
        setattr(sock.opts, attr, bool(v))
    return get, set_


def _debug_set(sock, v):
    sock.opts.debug = bool(v)
    sock.trace("SO_DEBUG %s" % ("on" if v else "off"))


def _keepalive_set(sock, v):
    sock.opts.keepalive = bool(v)
    conn = sock.live_conn()
    if conn is not None:
        apply_keepalive(sock.opts, conn)


def _buf_get(which):
    def get(sock):
        conn = sock.live_conn()
        if conn is not None:
            return conn.getopt(lib.XC_OPT_RCVBUF if which == "rcv" else lib.XC_OPT_SNDBUF)
        return getattr(sock.opts, which + "buf")
    return get


def _buf_set(which):
    def set_(sock, v):
        if v < 0:
            raise error(errno.EINVAL, "negative buffer size")
        t = sock.ctx.tunables
        size = min(max(v, t.sockbuf_min), t.sockbuf_max)
        setattr(sock.opts, which + "buf", size)
        setattr(sock.opts, which + "buf_locked", True)
        conn = sock.live_conn()
        if conn is not None:
            if which == "rcv":
                conn.rcvbuf_autotune = False     # the application chose: keep it
            else:
                conn.setopt(lib.XC_OPT_SNDBUF_FIXED, 1)
            rcv, snd = conn.engine.resize_buffers(conn, **{which + "buf": size})
            setattr(sock.opts, which + "buf", rcv if which == "rcv" else snd)
        sock.wake()              # EPOLLOUT/EPOLLIN thresholds may have moved
    return set_


def _lowat_set(which):
    def set_(sock, v):
        if v < 0:
            raise error(errno.EINVAL, "negative low-water mark")
        setattr(sock.opts, which + "lowat", max(1, v))
        sock.wake()
    return set_


def _timeo_get(which):
    def get(sock):
        return timeval.from_seconds(getattr(sock.opts, which + "timeo"))
    return get


def _timeo_set(which):
    def set_(sock, seconds):
        setattr(sock.opts, which + "timeo", seconds)
    return set_


def _linger_get(sock):
    return linger(int(sock.opts.linger_on), sock.opts.linger_s)


def _linger_set(sock, lg):
    if lg.l_linger < 0:
        raise error(errno.EINVAL, "negative linger interval")
    sock.opts.linger_on, sock.opts.linger_s = bool(lg.l_onoff), lg.l_linger


def _error_get(sock):
    return sock.take_error()


def _nodelay_set(sock, v):
    sock.opts.nodelay = bool(v)
    conn = sock.live_conn()
    if conn is not None:
        apply_nodelay(sock.opts, conn)


def _maxseg_get(sock):
    conn = sock.live_conn()
    if conn is not None and conn.state.synchronized:
        return conn.getopt(lib.XC_OPT_MAXSEG)
    return sock.opts.maxseg or 536             # Linux: the default MSS before a connection


def _maxseg_set(sock, v):
    if v and not TCP_MIN_MSS <= v <= TCP_MAX_MSS:
        raise error(errno.EINVAL, "TCP_MAXSEG must be 0 or %d..%d" % (TCP_MIN_MSS, TCP_MAX_MSS))
    sock.opts.maxseg = v
    conn = sock.live_conn()
    if conn is not None:
        apply_maxseg(sock.opts, conn)


def _keep_set(attr, high):
    def set_(sock, v):
        if not 1 <= v <= high:
            raise error(errno.EINVAL, "%s must be 1..%d" % (attr.upper(), high))
        setattr(sock.opts, attr, v)
        conn = sock.live_conn()
        if conn is not None:
            apply_keepalive(sock.opts, conn)
    return set_


def _congestion_get(sock):
    conn = sock.live_conn()
    if conn is not None:
        return ffi.string(lib.xc_cc_name(conn.getopt(lib.XC_OPT_CONGESTION))).decode()
    return sock.opts.congestion


def _congestion_set(sock, name):
    if lib.xc_cc_by_name(name.encode()) < 0:
        raise error(errno.EINVAL, "unknown congestion control %r (have: %s)"
                    % (name, ", ".join(congestion_names())))
    sock.opts.congestion = name
    conn = sock.live_conn()
    if conn is not None:
        apply_congestion(sock.opts, conn)


def congestion_names():
    return [ffi.string(lib.xc_cc_name(i)).decode() for i in range(lib.xc_cc_count())]


SOCKET_OPTIONS = {
    C.SO_DEBUG: Option("SO_DEBUG", "int", _flag("debug")[0], _debug_set),
    C.SO_REUSEADDR: Option("SO_REUSEADDR", "int", *_flag("reuseaddr")),
    C.SO_REUSEPORT: Option("SO_REUSEPORT", "int", *_flag("reuseport")),
    C.SO_KEEPALIVE: Option("SO_KEEPALIVE", "int", _flag("keepalive")[0], _keepalive_set),
    C.SO_DONTROUTE: Option("SO_DONTROUTE", "int", *_flag("dontroute")),
    C.SO_LINGER: Option("SO_LINGER", "linger", _linger_get, _linger_set),
    C.SO_BROADCAST: Option("SO_BROADCAST", "int", *_flag("broadcast")),
    C.SO_OOBINLINE: Option("SO_OOBINLINE", "int", *_flag("oobinline")),
    C.SO_SNDBUF: Option("SO_SNDBUF", "int", _buf_get("snd"), _buf_set("snd")),
    C.SO_RCVBUF: Option("SO_RCVBUF", "int", _buf_get("rcv"), _buf_set("rcv")),
    C.SO_SNDLOWAT: Option("SO_SNDLOWAT", "int", lambda s: s.opts.sndlowat, _lowat_set("snd")),
    C.SO_RCVLOWAT: Option("SO_RCVLOWAT", "int", lambda s: s.opts.rcvlowat, _lowat_set("rcv")),
    C.SO_SNDTIMEO: Option("SO_SNDTIMEO", "timeval", _timeo_get("snd"), _timeo_set("snd")),
    C.SO_RCVTIMEO: Option("SO_RCVTIMEO", "timeval", _timeo_get("rcv"), _timeo_set("rcv")),
    C.SO_TYPE: Option("SO_TYPE", "int", lambda s: C.SOCK_STREAM),
    C.SO_ERROR: Option("SO_ERROR", "int", _error_get),
}

TCP_OPTIONS = {
    C.TCP_NODELAY: Option("TCP_NODELAY", "int", lambda s: int(s.opts.nodelay), _nodelay_set),
    C.TCP_MAXSEG: Option("TCP_MAXSEG", "int", _maxseg_get, _maxseg_set),
    C.TCP_KEEPIDLE: Option("TCP_KEEPIDLE", "int", lambda s: s.opts.keepidle,
                           _keep_set("keepidle", KEEPIDLE_MAX)),
    C.TCP_KEEPINTVL: Option("TCP_KEEPINTVL", "int", lambda s: s.opts.keepintvl,
                            _keep_set("keepintvl", KEEPIDLE_MAX)),
    C.TCP_KEEPCNT: Option("TCP_KEEPCNT", "int", lambda s: s.opts.keepcnt,
                          _keep_set("keepcnt", KEEPCNT_MAX)),
    C.TCP_INFO: Option("TCP_INFO", "tcp_info", lambda s: build_tcp_info(s)),
    C.TCP_CONGESTION: Option("TCP_CONGESTION", "name", _congestion_get, _congestion_set),
}

LEVELS = {C.SOL_SOCKET: SOCKET_OPTIONS, C.IPPROTO_TCP: TCP_OPTIONS}
MONITOR_OPTIONS = {C.MOS_FRAGINFO_CLIBUF, C.MOS_FRAGINFO_SVRBUF, C.MOS_INFO_CLIBUF, C.MOS_INFO_SVRBUF,
                   C.MOS_TCP_STATE_CLI, C.MOS_TCP_STATE_SVR, C.MOS_CLIBUF, C.MOS_SVRBUF,
                   C.MOS_STOP_MON, C.MOS_CLIOVERLAP, C.MOS_SVROVERLAP}

NATURAL_SIZE = {"int": INT_SIZE, "linger": linger.size(), "timeval": timeval.size()}


def lookup(level, optname):
    """The Option, or the errno the pages name for asking."""
    if level == C.SOL_MONSOCKET:
        if optname in MONITOR_OPTIONS:
            raise error(errno.EPERM, "SOL_MONSOCKET option %d: not a monitor socket" % optname)
        raise error(errno.ENOSYS, "no SOL_MONSOCKET option %d" % optname)
    table = LEVELS.get(level)
    if table is None:
        raise error(errno.ENOSYS, "option level %d is not implemented" % level)
    opt = table.get(optname)
    if opt is None:
        raise error(errno.ENOSYS, "option %d at level %d is not implemented" % (optname, level))
    return opt


def getsockopt(sock, level, optname, buflen=None):
    """An int for int options, the typed object for struct options, the
    name (str) for TCP_CONGESTION; with buflen, the C layout as bytes (at
    most buflen of them, as getsockopt(2) truncates)."""
    opt = lookup(level, optname)
    if buflen is not None and buflen < 0:
        raise error(errno.EINVAL, "negative buffer length")
    if buflen is not None and buflen < NATURAL_SIZE.get(opt.kind, 0):
        raise error(errno.EINVAL, "%s needs a %d-byte buffer, got %d"
                    % (opt.name, NATURAL_SIZE[opt.kind], buflen))
    value = opt.get(sock)
    if buflen is None:
        return value
    if opt.kind == "int":
        return struct.pack("i", value)
    if opt.kind == "name":
        return value.encode()[:C.TCP_CA_NAME_MAX - 1].ljust(C.TCP_CA_NAME_MAX, b"\0")[:buflen]
    return bytes(value)[:buflen]


def setsockopt(sock, level, optname, value):
    opt = lookup(level, optname)
    if opt.set is None:
        raise error(errno.ENOSYS, "%s is get-only" % opt.name)
    if opt.kind == "int":
        v = int_value(value)
    elif opt.kind == "linger":
        v = linger_value(value)
    elif opt.kind == "timeval":
        v = timeval_seconds(value)
    else:
        v = name_value(value)
    opt.set(sock, v)
    group = getattr(sock, "group", None)
    if group is not None and group.members and group.members[0] is sock:
        group.configure(sock.opts)        # a listener's children inherit it


# --- effects on a connection -----------------------------------------------------------------

def apply_nodelay(opts, conn):
    conn.setopt(lib.XC_OPT_NODELAY, 1 if opts.nodelay else 0)   # on: what Nagle held goes now


def apply_maxseg(opts, conn):
    """Before the handshake: the MSS we announce (and so both directions'
    segment size).  After it: a cap on the segments we send (C applies
    either, by the state)."""
    if opts.maxseg:
        conn.setopt(lib.XC_OPT_MAXSEG, min(conn.engine.mss, opts.maxseg))


def apply_congestion(opts, conn):
    """Switching mid-connection keeps the window it has (Linux does too)."""
    algo = lib.xc_cc_by_name(opts.congestion.encode())
    if algo >= 0:
        conn.setopt(lib.XC_OPT_CONGESTION, algo)


def apply_keepalive(opts, conn):
    conn.keepalive_idle_s = opts.keepidle
    conn.keepalive_intvl_s = opts.keepintvl
    conn.keepalive_cnt = opts.keepcnt
    # (re)armed with the new idle time; before the handshake, armed when it ends
    conn.set_keepalive(opts.keepalive)


def inherit_options(opts, children, engine):
    """What apply_before_syn does to a connection, for the ones a listener
    will make (xdpmtcp.tcp.listener.ChildOptions; C applies them at the SYN)."""
    t = engine.tunables
    children.rcvbuf, children.sndbuf = opts.rcvbuf, opts.sndbuf
    if engine.buffer_memory + opts.rcvbuf + opts.sndbuf > t.buffer_memory_max:
        children.rcvbuf, children.sndbuf = t.rcvbuf, t.sndbuf   # the default buffers, as before
    children.rcvbuf_fixed = bool(opts.rcvbuf_locked)
    children.sndbuf_fixed = bool(opts.sndbuf_locked)
    children.nodelay = bool(opts.nodelay)
    children.mss = min(engine.mss, opts.maxseg) if opts.maxseg else engine.mss
    algo = lib.xc_cc_by_name(opts.congestion.encode())
    children.cc_algo = algo if algo >= 0 else engine.cc_algo
    children.keepalive = bool(opts.keepalive)
    children.keepalive_idle_s = opts.keepidle
    children.keepalive_intvl_s = opts.keepintvl
    children.keepalive_cnt = opts.keepcnt


def apply_before_syn(opts, conn):
    """Everything that shapes a connection's SYN or SYN-ACK (Engine.connect's
    setup hook).  A new block has the engine's defaults (buffers, Nagle on,
    the default congestion control, no MSS cap, no keepalive): only what
    differs is applied, so a plain connect makes no call here."""
    engine = conn.engine
    t = engine.tunables
    if (opts.rcvbuf, opts.sndbuf) != (t.rcvbuf, t.sndbuf):
        engine.resize_buffers(conn, opts.rcvbuf, opts.sndbuf)
    if opts.rcvbuf_locked:
        conn.rcvbuf_autotune = False             # SO_RCVBUF set: no autotuning
    if opts.sndbuf_locked:
        conn.setopt(lib.XC_OPT_SNDBUF_FIXED, 1)  # nor with SO_SNDBUF
    if opts.nodelay:
        apply_nodelay(opts, conn)
    apply_maxseg(opts, conn)
    if opts.congestion != t.congestion:
        apply_congestion(opts, conn)
    apply_keepalive(opts, conn)


# --- TCP_INFO ----------------------------------------------------------------------------------

def build_tcp_info(sock):
    """A tcp_info for the socket's connection (state only, without one)."""
    info = tcp_info()
    conn = sock.live_conn()
    if conn is None:
        info.tcpi_state = TCPSTATE_TO_LINUX[TcpState.LISTEN if sock.listening else TcpState.CLOSED]
        return info
    d = conn.info()
    t = conn.c_info()
    for name, value in d.items():
        if hasattr(info, name) and name not in ("tcpi_state", "tcpi_snd_ssthresh"):
            setattr(info, name, min(int(value), (1 << 64) - 1))
    info.tcpi_state = TCPSTATE_TO_LINUX[conn.state]
    info.tcpi_ca_state = t.ca_state
    info.tcpi_probes = min(t.probes, 255)
    info.tcpi_backoff = min(t.backoff, 255)
    info.tcpi_retransmits = min(t.retransmits, 255)
    info.tcpi_snd_ssthresh = (0x7fffffff if t.ssthresh >= lib.XC_CC_SSTHRESH_INF
                              else t.ssthresh // max(t.snd_mss, 1))
    info.tcpi_ato = conn.engine.tunables.delack_ms and int(conn.engine.tunables.delack_ms * 1000)
    info.tcpi_pmtu = conn.engine.mss + 40
    info.tcpi_advmss = t.rcv_mss
    info.tcpi_rcv_ssthresh = t.rcvbuf
    info.tcpi_last_data_recv = info.tcpi_last_ack_recv = min(t.last_data_recv_ms, 0xffffffff)
    info.tcpi_last_data_sent = min(t.last_data_sent_ms, 0xffffffff)
    info.tcpi_notsent_bytes = max(0, t.snd_queued - t.in_flight)
    info.tcpi_rcv_wnd = t.rcv_wnd
    info.tcpi_rcv_ooopack = t.c.ooo_segs_in
    info.tcpi_delivered = t.c.bytes_acked // max(t.snd_mss, 1)
    info.tcpi_total_rto = min(t.c.rto_events, 0xffff)
    info.tcpi_reordering = 3
    return info
