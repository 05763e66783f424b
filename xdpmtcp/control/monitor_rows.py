"""A monitor's flow as a row of `xdpmtcp trace` (both emulated sides'
states, Zeek-style history, bytes each way).  MONITOR_FIELDS is its schema,
beside rows.FIELDS for the endpoint's connections; local and remote name
the client (the first SYN's sender) and the server, so both kinds share
the table's columns."""
from .._core import ffi, lib
from ..monitor.core import CLI, SVR, endpoint_text, flow_summary
from .rows import SS_STATE

MAX_FLOW_ROWS = 20000      # per snapshot; the rest are counted in flows_omitted
IDS_CHUNK = 4096

MONITOR_FIELDS = (
    ("kind", "str", "\"monitor\" (endpoint connections carry no kind)"),
    ("id", "int", "the flow's slot in the monitor's table"),
    ("uid", "int", "the flow's serial number, never reused"),
    ("state", "str", "client state/server state, as ss names them (ESTAB/ESTAB)"),
    ("client_state", "str", "the emulated client's state"),
    ("server_state", "str", "the emulated server's state"),
    ("local", "str", "the client, address:port"),
    ("remote", "str", "the server, address:port"),
    ("history", "str", "Zeek-style history: upper case the client's segments (S h A D F R ...)"),
    ("bytes_c2s", "int", "payload bytes the client sent"),
    ("bytes_s2c", "int", "payload bytes the server sent"),
    ("retrans_c2s", "int", "segments the client retransmitted"),
    ("retrans_s2c", "int", "segments the server retransmitted"),
    ("gap_bytes", "int", "bytes the monitor saw missing, both directions"),
    ("midstream", "bool", "picked up after its handshake"),
    ("age_ms", "int", "since the flow's first packet (packet clock)"),
)


def _state(side):
    return SS_STATE.get(side.state, str(side.state))


def flow_row(f):
    c, s = f.side[CLI], f.side[SVR]
    summary = flow_summary(f)
    return {
        "kind": "monitor", "id": int(f.id), "uid": int(f.uid),
        "state": "%s/%s" % (_state(c), _state(s)),
        "client_state": _state(c), "server_state": _state(s),
        "local": endpoint_text(*summary["client"]), "remote": endpoint_text(*summary["server"]),
        "history": summary["history"],
        "bytes_c2s": int(c.payload_bytes), "bytes_s2c": int(s.payload_bytes),
        "retrans_c2s": int(c.rexmit_pkts), "retrans_s2c": int(s.rexmit_pkts),
        "gap_bytes": int(c.gap_bytes + s.gap_bytes),
        "midstream": bool(f.fflags & lib.XC_MON_FF_MIDSTREAM),
        "age_ms": int((f.last_ns - f.first_ns) // 1_000_000),
    }


def flow_rows(mon):
    """(rows, omitted) of the flows in a Monitor's table, at most MAX_FLOW_ROWS."""
    cursor = ffi.new("uint32_t *")
    ids = ffi.new("uint32_t[]", IDS_CHUNK)
    rows, omitted = [], 0
    while True:
        n = lib.xc_mon_flow_ids(mon.raw, cursor, ids, IDS_CHUNK)
        if not n:
            return rows, omitted
        for i in range(n):
            if len(rows) >= MAX_FLOW_ROWS:
                omitted += 1
                continue
            f = mon.flow(ids[i])
            if f is not None:
                rows.append(flow_row(f))
