"""A connection row of a snapshot: struct xc_conn_row (api_tcp.h) decoded
into the keys `xdpmtcp trace --json` prints, named as `ss -ti` and Linux's
tcp_info name them.  FIELDS is the schema, declared once as data: the
decoder, the CSV header, the docs (docs/trace.md) and the tests read it."""
import functools

from .._core import ffi, lib
from ..wire.addr import ip_str, port_str

ROW_TYPE = "struct xc_conn_row"
ROW_SIZE = ffi.sizeof(ROW_TYPE)

# ss's names for the states (ss -t prints these)
SS_STATE = {
    lib.XC_TCP_CLOSED: "CLOSED", lib.XC_TCP_LISTEN: "LISTEN", lib.XC_TCP_SYN_SENT: "SYN-SENT",
    lib.XC_TCP_SYN_RCVD: "SYN-RECV", lib.XC_TCP_ESTABLISHED: "ESTAB",
    lib.XC_TCP_FIN_WAIT_1: "FIN-WAIT-1", lib.XC_TCP_FIN_WAIT_2: "FIN-WAIT-2",
    lib.XC_TCP_CLOSE_WAIT: "CLOSE-WAIT", lib.XC_TCP_CLOSING: "CLOSING",
    lib.XC_TCP_LAST_ACK: "LAST-ACK", lib.XC_TCP_TIME_WAIT: "TIME-WAIT",
}
# tcpi_ca_state's names (Linux's TCP_CA_*)
CA_STATE = {0: "open", 1: "disorder", 2: "cwr", 3: "recovery", 4: "loss"}
COUNTER_NAMES = tuple(name for name, _ in ffi.typeof("struct xc_tcp_counters").fields)

# (key, JSON type, meaning): the order is the CSV's and the table's
FIELDS = (
    ("id", "int", "the connection's id in its engine (unique per context while it lives)"),
    ("state", "str", "ss's state name: ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, TIME-WAIT, ..."),
    ("local", "str", "local address:port"),
    ("remote", "str", "remote address:port"),
    ("accepted", "bool", "false while it waits in a listener's SYN or accept queue"),
    ("rtt_us", "int", "smoothed RTT (tcpi_rtt); 0 before the first sample"),
    ("rttvar_us", "int", "RTT variation (tcpi_rttvar)"),
    ("min_rtt_us", "int", "lowest RTT seen (tcpi_min_rtt)"),
    ("rto_ms", "int", "retransmission timeout (ss's rto)"),
    ("snd_mss", "int", "MSS we send with (tcpi_snd_mss)"),
    ("rcv_mss", "int", "MSS we advertised (tcpi_advmss)"),
    ("snd_cwnd", "int", "congestion window in segments (tcpi_snd_cwnd, ss's cwnd)"),
    ("cwnd_bytes", "int", "congestion window in bytes"),
    ("ssthresh", "int|null", "slow-start threshold in segments; null before the first loss (ss hides it)"),
    ("unacked", "int", "segments sent and not acknowledged (tcpi_unacked)"),
    ("unacked_bytes", "int", "bytes sent and not acknowledged"),
    ("ca_state", "str", "open, disorder, recovery or loss (tcpi_ca_state)"),
    ("cc", "str", "congestion control"),
    ("options", "str", "negotiated options as ss prints them: ts sack wscale:S,R"),
    ("history", "str", "Zeek-style history: a letter per kind of segment, the first time each side "
                       "sent one (S SYN, H SYN-ACK, A ACK, D data, F FIN, R RST, T retransmission, "
                       "W zero window); upper case the originator's"),
    ("bytes_sent", "int", "payload bytes sent, retransmissions included (tcpi_bytes_sent)"),
    ("bytes_acked", "int", "our bytes the peer acknowledged (tcpi_bytes_acked)"),
    ("bytes_received", "int", "in-order payload bytes received (tcpi_bytes_received)"),
    ("bytes_retrans", "int", "payload bytes retransmitted (tcpi_bytes_retrans)"),
    ("retrans_total", "int", "segments retransmitted (tcpi_total_retrans)"),
    ("retransmits", "int", "timeouts in a row without progress (tcpi_retransmits)"),
    ("backoff", "int", "RTO doublings (tcpi_backoff)"),
    ("segs_in", "int", "segments received (tcpi_segs_in)"),
    ("segs_out", "int", "segments sent (tcpi_segs_out)"),
    ("snd_wnd", "int", "the peer's window in bytes (tcpi_snd_wnd)"),
    ("rcv_wnd", "int", "the window we advertise, bytes"),
    ("rcv_space", "int", "free receive buffer, bytes"),
    ("recv_q", "int", "bytes received, not read by the application (ss's Recv-Q)"),
    ("send_q", "int", "bytes written, not acknowledged (ss's Send-Q)"),
    ("rcvbuf", "int", "receive buffer size, bytes"),
    ("sndbuf", "int", "send buffer size, bytes"),
    ("buffer_storage", "int", "pool storage both buffers hold now, bytes"),
    ("last_recv_ms", "int", "since data last arrived (tcpi_last_data_recv)"),
    ("last_send_ms", "int", "since data last left (tcpi_last_data_sent); 0: never"),
    ("counters", "object", "every per-connection counter of the C engine (docs/tcp.md)"),
)
FIELD_NAMES = tuple(f[0] for f in FIELDS)


def _options(info):
    out = []
    if info.flags & lib.XC_TF_TS_OK:
        out.append("ts")
    if info.flags & lib.XC_TF_SACK_OK:
        out.append("sack")
    if info.flags & lib.XC_TF_WS_OK:
        out.append("wscale:%d,%d" % (info.snd_wscale, info.rcv_wscale))
    return " ".join(out)


@functools.lru_cache(maxsize=None)
def _cc_name(algo):
    p = lib.xc_cc_name(algo)
    return ffi.string(p).decode() if p != ffi.NULL else str(algo)


def decode_row(row):
    """One struct xc_conn_row (cdata) as the schema's dict."""
    w, t = row.who, row.info
    mss = t.snd_mss or 1
    c = t.c
    return {
        "id": w.id,
        "state": SS_STATE.get(t.state, str(t.state)),
        "local": "%s:%d" % (ip_str(w.local_addr), port_str(w.local_port)),
        "remote": "%s:%d" % (ip_str(w.remote_addr), port_str(w.remote_port)),
        "accepted": row.listen_id == 0,
        "rtt_us": t.rtt_us, "rttvar_us": t.rttvar_us, "min_rtt_us": t.min_rtt_us,
        "rto_ms": t.rto_us // 1000,
        "snd_mss": t.snd_mss, "rcv_mss": t.rcv_mss,
        "snd_cwnd": t.cwnd // mss, "cwnd_bytes": t.cwnd,
        "ssthresh": None if t.ssthresh >= lib.XC_CC_SSTHRESH_INF else t.ssthresh // mss,
        "unacked": -(-t.unacked // mss), "unacked_bytes": t.unacked,
        "ca_state": CA_STATE.get(t.ca_state, str(t.ca_state)),
        "cc": _cc_name(t.cc_algo),
        "options": _options(t),
        "history": ffi.string(t.history).decode("ascii", "replace"),
        "bytes_sent": c.bytes_sent, "bytes_acked": c.bytes_acked,
        "bytes_received": c.bytes_received, "bytes_retrans": c.bytes_retrans,
        "retrans_total": c.retrans_segs, "retransmits": t.retransmits, "backoff": t.backoff,
        "segs_in": c.segs_in, "segs_out": c.segs_out,
        "snd_wnd": t.snd_wnd, "rcv_wnd": t.rcv_wnd, "rcv_space": t.rcv_space,
        "recv_q": t.rcv_queued, "send_q": t.snd_queued,
        "rcvbuf": t.rcvbuf, "sndbuf": t.sndbuf,
        "buffer_storage": t.rcv_storage + t.snd_storage,
        "last_recv_ms": t.last_data_recv_ms, "last_send_ms": t.last_data_sent_ms,
        "counters": {name: getattr(c, name) for name in COUNTER_NAMES},
    }


def decode_rows(blob):
    """The rows a snapshot carried (bytes, a whole number of rows)."""
    n = len(blob) // ROW_SIZE
    if not n:
        return []
    arr = ffi.from_buffer(ROW_TYPE + "[]", blob)
    return [decode_row(arr[i]) for i in range(n)]
