"""What `xdpmtcp monitor` says in plain text: nothing the JSON summary knows
is left out of it.  Frames skipped, per reason (the capture reader's and
the core's); bytes the connections lack and how many connections lack
some; a one-line hint where the cause is known (offloads, snaplen,
capture drops); and the per-connection table (like ``tshark -z
conv,tcp``, with the monitor's columns), built from rows kept per flow.
"""
import heapq

from rich import box
from rich.table import Table

from .connlog import conn_state, stream_bytes
from .core import CLI, END_REASONS, SVR, endpoint_text, flow_ips, port_of

# Connections the table lists at most: the largest by bytes (memory stays
# bounded); the others are counted in its last line.
TABLE_ROWS_MAX = 1000

# Frames skipped, and why: the capture reader's (xc_pcap_read_stats), then
# the core's (xc_mon_stats).
READER_SKIPPED = [("oversize", "longer than 256 KiB"),
                  ("unsupported_linktype", "of unsupported link types"),
                  ("bad_link_header", "too short for their link header")]
MONITOR_SKIPPED = [("not_ipv4", "not IP"), ("not_tcp", "not TCP"),
                   ("ip_fragments", "IP fragments (not reassembled)"),
                   ("malformed", "malformed"), ("bad_csum", "with bad checksums")]
LIVE_SKIPPED = [("rx_oversize", "too long (over 64 KiB, or long and not TCP)")]


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def skipped_line(mon, inp, live=False):
    """'skipped: 3 not TCP, 1 malformed' or 'skipped: none'."""
    parts = []
    if live:
        for st in inp.values():
            if isinstance(st, dict):
                parts += [(st.get(k, 0), why) for k, why in LIVE_SKIPPED]
    else:
        parts += [(inp[k], why) for k, why in READER_SKIPPED]
    parts += [(mon[k], why) for k, why in MONITOR_SKIPPED]
    named = ["%d %s" % (n, why) for n, why in parts if n]
    return "skipped frames: " + (", ".join(named) if named else "none")


def gaps_line(mon):
    if not mon["gap_bytes"]:
        return "gaps: none (every byte of every connection was in the capture)"
    return "gaps: %d bytes missing, in %d of %d connections" % (
        mon["gap_bytes"], mon["flows_gapped"], mon["flows_ended"])


def hints(mon, inp, live=False):
    """One line per cause of missing or skipped data that is known."""
    out = []
    if live:
        drops = sum(st.get("kernel_drops", 0) for st in inp.values() if isinstance(st, dict))
        big = sum(st.get("rx_oversize", 0) for st in inp.values() if isinstance(st, dict))
        if drops:
            out.append("the kernel dropped %s before the monitor read them (socket buffer "
                       "full)%s" % (plural(drops, "frame"), gaps_hint(mon)))
        if big:
            out.append("%s dropped, over 64 KiB (BIG TCP offloads: set the interface's "
                       "gro_max_size and gso_max_size to 65536) or long and not TCP"
                       % plural(big, "frame"))
    else:
        if inp.get("capture_drops"):
            out.append("the capture lost %s (pcapng interface statistics)%s"
                       % (plural(inp["capture_drops"], "packet"), gaps_hint(mon)))
        if inp["oversize"]:
            out.append("%s over 256 KiB skipped (BIG TCP offloads): capture with "
                       "gro_max_size/gso_max_size at 65536, or GRO/TSO off"
                       % plural(inp["oversize"], "frame"))
    if mon["snapped"]:
        out.append("%s captured shorter than sent (snaplen): the rest of their payload "
                   "is in the gaps; capture whole packets (tcpdump -s 0)"
                   % plural(mon["snapped"], "frame"))
    if mon["bad_csum"]:
        out.append("%s failed --verify-csum: on a host with checksum offload the capture "
                   "holds unfinished checksums; leave --verify-csum out"
                   % plural(mon["bad_csum"], "frame"))
    return out


def gaps_hint(mon):
    return ": the gaps are likely those" if mon["gap_bytes"] else ""


def offload_line(inp):
    """Super-frames taken as their segments (a capture with offloads on)."""
    if not inp.get("superframes"):
        return None
    return "offloads: %s (GRO/TSO, jumbo) taken as the %d segments they stand for" % (
        plural(inp["superframes"], "super-frame"), inp["superframe_pieces"])


class ConnTable:
    """Rows of ended connections for the table, the TABLE_ROWS_MAX largest
    by bytes kept (a heap); one row is made per flow at its end."""

    def __init__(self, cap=TABLE_ROWS_MAX):
        self.cap = cap
        self._heap = []
        self.unlisted = 0
        self._serial = 0

    def add(self, f):
        c, s = f.side[CLI], f.side[SVR]
        c2s, s2c = stream_bytes(s, c), stream_bytes(c, s)
        cip, sip = flow_ips(f)
        row = (endpoint_text(cip, port_of(f.cli_port)), endpoint_text(sip, port_of(f.svr_port)),
               conn_state(f), int(c.pkts), c2s, int(s.pkts), s2c,
               int(c.gap_bytes) + int(s.gap_bytes),
               int(c.rexmit_pkts) + int(s.rexmit_pkts),
               int(c.overlaps) + int(s.overlaps),
               (int(f.last_ns) - int(f.first_ns)) / 1e9,
               END_REASONS.get(int(f.end_reason), "?"))
        self._serial += 1
        item = (c2s + s2c, -self._serial, row)
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, item)
        else:
            heapq.heappushpop(self._heap, item)
            self.unlisted += 1

    def rows(self):
        """Largest first, then in the order they ended."""
        return [row for _, _, row in sorted(self._heap, key=lambda i: (-i[0], -i[1]))]

    def render(self):
        rows = self.rows()
        overlaps = any(row[9] for row in rows)
        # one space between columns (the box's): 80 columns hold an IPv4 row
        t = Table(title="TCP connections, largest first", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=0)
        # c2s, s2c: stream bytes each way; pkts: client's/server's; retx:
        # retransmitted packets; gaps: bytes the capture lacks
        cols = ["client", "server", "state", "c2s", "s2c", "pkts", "gaps", "retx"]
        cols += ["overlaps"] * overlaps + ["secs", "end"]
        for col in cols:
            t.add_column(col, justify="left" if col in ("client", "server", "state", "end")
                         else "right", no_wrap=col in ("client", "server"))
        for (cli, svr, state, cp, cb, sp, sb, gaps, rexmit, ovl, secs, end) in rows:
            cells = [cli, svr, state, size(cb), size(sb), "%d/%d" % (cp, sp),
                     "[red]%s[/]" % size(gaps) if gaps else "0", str(rexmit)]
            cells += [str(ovl)] * overlaps + ["%.3f" % secs, END_WORDS.get(end, end)]
            t.add_row(*cells)
        if self.unlisted:
            t.caption = "and %d more connection%s, smaller" % (
                self.unlisted, "" if self.unlisted == 1 else "s")
        return t


# How a connection ended, in a word (END_REASONS' end_of_input: still open).
END_WORDS = {"end_of_input": "open"}


def size(n):
    """Bytes for a table cell: 512, 9.8k, 2.0M, 1.2G (powers of 1000)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return "%.1f%s" % (n / scale, unit)
    return str(n)
