"""Per-connection records: the Zeek conn.log-like line of ``--json`` and the
entry of ``index.json``, built once per flow at its end from the C flow.

History letters (Zeek's): s SYN, h SYN-ACK, a pure ACK, d data, f FIN,
r RST, t retransmitted data, g content gap, w zero window; upper case for
the client (originator).  t, g and w are logged again at 10, 100, 1000...
occurrences.
"""
from .._core import ffi, lib
from .community_id import community_id_v1
from .core import CLI, SVR, END_REASONS, TcpState, flow_ips, port_of


def _flags(side):
    return int(side.sflags)


def conn_state(f):
    """Zeek's conn_state from what each endpoint did."""
    c, s = _flags(f.side[CLI]), _flags(f.side[SVR])
    syn = lambda x: bool(x & lib.XC_MON_SF_SYN)  # noqa: E731
    fin = lambda x: bool(x & lib.XC_MON_SF_FIN)  # noqa: E731
    rst = lambda x: bool(x & lib.XC_MON_SF_RST)  # noqa: E731
    orig_syn, resp_syn = syn(c), syn(s)
    if rst(c) or rst(s):
        if orig_syn and not resp_syn:
            return "REJ" if rst(s) else "RSTOS0"
        if resp_syn and not orig_syn:
            return "RSTRH" if rst(s) else "RSTO"
        return "RSTO" if rst(c) else "RSTR"
    if orig_syn and not resp_syn:
        return "SH" if fin(c) else "S0"
    if resp_syn and not orig_syn:
        return "SHR" if fin(s) else "OTH"
    if not orig_syn and not resp_syn:
        return "OTH"
    if fin(c) and fin(s):
        return "SF"
    if fin(c):
        return "S2"
    if fin(s):
        return "S3"
    return "S1"


def stream_bytes(rcv_side, sender_side):
    """Bytes of one direction's stream as the sequence space says (Zeek's
    orig_bytes/resp_bytes): the highest data byte seen or acknowledged."""
    n = int(rcv_side.seen_end)
    if int(rcv_side.sflags) & lib.XC_MON_SF_ACKED:
        acked = int(rcv_side.ack_off)
        if int(sender_side.sflags) & lib.XC_MON_SF_FIN and acked > int(rcv_side.fin_off):
            acked = int(rcv_side.fin_off)
        n = max(n, acked)
    return n


def conn_record(f):
    """One conn.log line (a dict) for the flow (struct xc_mon_flow *)."""
    c, s = f.side[CLI], f.side[SVR]
    cip, sip = flow_ips(f)
    cport, sport = port_of(f.cli_port), port_of(f.svr_port)
    first, last = int(f.first_ns), int(f.last_ns)
    return {
        "ts": first / 1e9,
        "uid": "F%d" % int(f.uid),
        "id.orig_h": cip, "id.orig_p": cport,
        "id.resp_h": sip, "id.resp_p": sport,
        "proto": "tcp",
        "duration": round((last - first) / 1e9, 6),
        "orig_bytes": stream_bytes(s, c),
        "resp_bytes": stream_bytes(c, s),
        "conn_state": conn_state(f),
        "missed_bytes": int(c.gap_bytes) + int(s.gap_bytes),
        "history": ffi.string(f.history).decode(),
        "orig_pkts": int(c.pkts), "orig_ip_bytes": int(c.ip_bytes),
        "resp_pkts": int(s.pkts), "resp_ip_bytes": int(s.ip_bytes),
        "community_id": community_id_v1(cip, sip, cport, sport),
        "end_reason": END_REASONS.get(int(f.end_reason)),
        "midstream": bool(int(f.fflags) & lib.XC_MON_FF_MIDSTREAM),
    }


def direction_record(rcv_side, sender_side):
    """One direction of index.json: what the sender sent, what the
    receiver's ring got, and what was missing or contradictory."""
    return {
        "bytes": int(rcv_side.delivered),
        "stream_bytes": stream_bytes(rcv_side, sender_side),
        "gap_bytes": int(rcv_side.gap_bytes),
        "pkts": int(sender_side.pkts),
        "payload_bytes": int(sender_side.payload_bytes),
        "rexmit_pkts": int(sender_side.rexmit_pkts),
        "rexmit_bytes": int(sender_side.rexmit_bytes),
        "overlap_anomalies": int(rcv_side.overlaps),
        "overlap_bytes": int(rcv_side.overlap_bytes),
        "outrun_bytes": int(rcv_side.outrun_bytes),
        "unbuffered_bytes": int(rcv_side.unbuffered),
    }


def index_record(f, flow_name, gaps, overlaps):
    """index.json entry; gaps/overlaps: {'c2s': [[off, len]...], 's2c': ...}."""
    c, s = f.side[CLI], f.side[SVR]
    rec = conn_record(f)
    out = {
        "flow": flow_name,
        "uid": int(f.uid),
        "community_id": rec["community_id"],
        "client": {"ip": rec["id.orig_h"], "port": rec["id.orig_p"]},
        "server": {"ip": rec["id.resp_h"], "port": rec["id.resp_p"]},
        "first_ts": rec["ts"],
        "last_ts": int(f.last_ns) / 1e9,
        "state": {"client": TcpState(int(c.state)).name,
                  "server": TcpState(int(s.state)).name},
        "conn_state": rec["conn_state"],
        "end_reason": rec["end_reason"],
        "history": rec["history"],
        "midstream": rec["midstream"],
        "roles_guessed": bool(int(f.fflags) & lib.XC_MON_FF_ROLES_GUESSED),
    }
    for name, rcv, snd in (("c2s", s, c), ("s2c", c, s)):
        d = direction_record(rcv, snd)
        d["file"] = "%s.%s" % (flow_name, name)
        d["gaps"] = gaps.get(name, [])
        d["overlaps"] = overlaps.get(name, [])
        out[name] = d
    return out
