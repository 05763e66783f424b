"""The live view of `xdpmtcp trace`: a header with each context's rates and
totals, the connection table (sort, filter, select), a per-connection
detail view with sparklines of throughput, cwnd and RTT, and a log of state
changes.  It only reads snapshots (control/gather.py) once a second."""
import collections
import time

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..commands.trace import SORT_KEYS, filter_rows, row_bytes, sort_rows
from ..control.monitor_rows import MONITOR_FIELDS
from ..control.gather import gather
from .keys import Keys
from .sparkline import sparkline

REFRESH_S = 1.0
HISTORY = 120          # snapshots kept per connection for the sparklines
LOG_LINES = 6
DETAIL_COLUMNS = 3     # key/value pairs per line: the details fit 80x24
DETAIL_FIELDS = ("history", "options", "cc", "ca_state", "rto_ms", "snd_mss", "ssthresh", "unacked", "snd_wnd",
                 "rcv_wnd", "rcv_space", "rcvbuf", "sndbuf", "bytes_sent", "bytes_acked", "bytes_received",
                 "bytes_retrans", "segs_in", "segs_out", "last_recv_ms", "last_send_ms", "recv_q")


def _key(row):
    return (row["pid"], row.get("engine", -1), row["id"], row["local"], row["remote"])


def _monitor(row):
    return row.get("kind") == "monitor"


def _rate(n):
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return "%.1f%s" % (n / div, unit)
    return "%.0f" % n


class TraceView:
    def __init__(self, args):
        self.args = args
        self.sort = SORT_KEYS.index(args.sort)
        self.reverse = True
        self.filter = args.filter
        self.editing = None             # the filter being typed, or None
        self.selected = 0
        self.detail = False
        self.views = []
        self.rows = []
        self.errors = []
        self.history = {}               # key -> deque[(t, bytes, cwnd_bytes, rtt_us)]
        self.states = {}                # key -> last state seen
        self.log = collections.deque(maxlen=200)
        self.port_prev = {}             # (pid, ifname) -> (t, port stats)
        self.rates = {}                 # (pid, ifname) -> (rx pps, rx bit/s, tx pps, tx bit/s)
        self.quit = False

    # -- data ------------------------------------------------------------------------------
    def refresh(self):
        now = time.time()
        self.errors = []
        self.views = gather(pid=self.args.pid, iface=self.args.iface, netns=self.args.netns,
                            errors=self.errors)
        seen = set()
        rows = []
        for v in self.views:
            for itf in v.meta.get("interfaces", []):
                k = (v.address.pid, itf["ifname"])
                p = itf.get("port") or itf.get("input", {})       # an endpoint's or a monitor's
                prev = self.port_prev.get(k)
                if prev is not None and now > prev[0]:
                    dt, q = now - prev[0], prev[1]
                    self.rates[k] = tuple((p.get(n, 0) - q.get(n, 0)) * m / dt for n, m in
                                          (("rx_frames", 1), ("rx_bytes", 8), ("tx_frames", 1), ("tx_bytes", 8)))
                self.port_prev[k] = (now, p)
            for r in v.rows:
                k = _key(r)
                seen.add(k)
                old = self.states.get(k)
                if old != r["state"]:
                    self.log.append("%s  pid %d  %s > %s  %s -> %s" % (
                        time.strftime("%H:%M:%S"), r["pid"], r["local"], r["remote"], old or "new", r["state"]))
                    self.states[k] = r["state"]
                h = self.history.setdefault(k, collections.deque(maxlen=HISTORY))
                h.append((now, row_bytes(r), r.get("cwnd_bytes", 0), r.get("rtt_us", 0)))
                rows.append(r)
        for k in [k for k in self.states if k not in seen]:
            self.log.append("%s  pid %d  %s > %s  %s -> gone" % (time.strftime("%H:%M:%S"), k[0], k[3], k[4],
                                                                  self.states.pop(k)))
            self.history.pop(k, None)
        self.rows = sort_rows(filter_rows(rows, self.filter), SORT_KEYS[self.sort], self.reverse)
        self.selected = min(self.selected, max(0, len(self.rows) - 1))

    # -- keys ------------------------------------------------------------------------------
    def on_key(self, key):
        if self.editing is not None:
            if key == "enter":
                self.filter, self.editing = self.editing, None
            elif key == "esc":
                self.filter, self.editing = "", None
            elif key == "backspace":
                self.editing = self.editing[:-1]
            elif len(key) == 1 and key.isprintable():
                self.editing += key
            return
        if key == "q":
            self.quit = True
        elif key == "s":
            self.sort = (self.sort + 1) % len(SORT_KEYS)
        elif key == "r":
            self.reverse = not self.reverse
        elif key == "/":
            self.editing = ""
        elif key == "up":
            self.selected = max(0, self.selected - 1)
        elif key == "down":
            self.selected = min(max(0, len(self.rows) - 1), self.selected + 1)
        elif key == "enter" and self.rows:
            self.detail = True
        elif key == "esc":
            self.detail = False

    # -- drawing ---------------------------------------------------------------------------
    def header(self):
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold")
        t.add_column()
        total = 0
        for v in self.views:
            n = len(v.rows)
            total += n
            parts = []
            for itf in v.meta.get("interfaces", []):
                rx_pps, rx_bps, tx_pps, tx_bps = self.rates.get((v.address.pid, itf["ifname"]), (0, 0, 0, 0))
                e = itf.get("engine", {})
                parts.append("%s %s q%d  rx %s pkt/s %sbit/s  tx %s pkt/s %sbit/s  fast %d slow %d" % (
                    itf["ifname"], itf.get("xdp_mode") or "?", itf.get("queue", 0), _rate(rx_pps), _rate(rx_bps),
                    _rate(tx_pps), _rate(tx_bps), e.get("fast_path", 0), e.get("slow_path", 0)))
            t.add_row("%s pid %d" % (v.meta.get("role", "?"), v.address.pid),
                      "%d conns  %s" % (n, "; ".join(parts)))
        if not self.views:
            t.add_row("no context", "no running xdpmtcp context matches (waiting)")
        title = "xdpmtcp trace  %d context(s), %d connection(s)  sort %s%s%s" % (
            len(self.views), total, SORT_KEYS[self.sort], "" if self.reverse else " (ascending)",
            "  filter %r" % self.filter if self.filter else "")
        return Panel(t, title=title, title_align="left")

    def table(self, height):
        t = Table(expand=True, box=None, header_style="bold")
        for name, justify in (("PID", "right"), ("IFACE", "left"), ("STATE", "left"), ("LOCAL", "left"),
                              ("REMOTE", "left"), ("RTT ms", "right"), ("CWND", "right"),
                              ("RETRANS", "right"), ("ACKED", "right"), ("RECEIVED", "right"),
                              ("RECV-Q", "right"), ("SEND-Q", "right")):
            t.add_column(name, justify=justify, no_wrap=True)
        top = max(0, self.selected - height + 1)
        for i, r in enumerate(self.rows[top:top + height], start=top):
            if _monitor(r):          # client > server; ACKED/RECEIVED: what each sent
                cells = ("-", "-", str(r["retrans_c2s"] + r["retrans_s2c"]), _rate(r["bytes_c2s"]),
                         _rate(r["bytes_s2c"]), "-", "-")
            else:
                cells = ("%.2f" % (r["rtt_us"] / 1000), str(r["snd_cwnd"]), str(r["retrans_total"]),
                         _rate(r["bytes_acked"]), _rate(r["bytes_received"]), str(r["recv_q"]),
                         str(r["send_q"]))
            t.add_row(str(r["pid"]), r["iface"], r["state"], r["local"], r["remote"], *cells,
                      style="reverse" if i == self.selected else None)
        return t

    def _detail_grid(self, r):
        """The details' key/value grid, opened by the throughput sparkline
        of r's history; (grid, history)."""
        h = list(self.history.get(_key(r), ()))
        thr = [(b2 - b1) * 8 / max(t2 - t1, 1e-6) for (t1, b1, _, _), (t2, b2, _, _) in zip(h, h[1:])]
        g = Table.grid(padding=(0, 2))
        g.add_column(style="bold")
        g.add_column()
        g.add_row("connection", "%s > %s  %s  pid %d %s" % (r["local"], r["remote"], r["state"], r["pid"], r["iface"]))
        g.add_row("throughput", "%s  %sbit/s" % (sparkline(thr, 60), _rate(thr[-1] if thr else 0)))
        return g, h

    def monitor_detail(self, r):
        g, _ = self._detail_grid(r)
        for key, _, meaning in MONITOR_FIELDS:
            g.add_row(key, "%s  [dim]%s[/]" % (r[key], meaning))
        return Panel(g, title="monitor flow %d (Esc: back)" % r["id"], title_align="left")

    def detail_view(self):
        r = self.rows[self.selected]
        if _monitor(r):
            return self.monitor_detail(r)
        g, h = self._detail_grid(r)
        g.add_row("cwnd", "%s  %d segments" % (sparkline([x[2] for x in h], 60), r["snd_cwnd"]))
        g.add_row("rtt", "%s  %.2f ms (var %.2f, min %.2f)" % (
            sparkline([x[3] for x in h], 60), r["rtt_us"] / 1000, r["rttvar_us"] / 1000, r["min_rtt_us"] / 1000))
        fields = Table.grid(padding=(0, 1))
        for _ in range(DETAIL_COLUMNS):
            fields.add_column(style="bold")
            fields.add_column(min_width=12)
        cells = [(k, str(r[k])) for k in DETAIL_FIELDS]
        for i in range(0, len(cells), DETAIL_COLUMNS):
            fields.add_row(*(x for kv in cells[i:i + DETAIL_COLUMNS] for x in kv))
        g.add_row("", fields)
        nonzero = ["%s %d" % kv for kv in r["counters"].items() if kv[1]]
        g.add_row("counters", Text("  ".join(nonzero), overflow="fold"))
        return Panel(g, title="connection %d (Esc: back)" % r["id"], title_align="left")

    def render(self, height):
        parts = [self.header()]
        if self.detail and self.rows:
            parts.append(self.detail_view())
        else:
            parts.append(self.table(max(3, height - 8 - LOG_LINES - 2 * len(self.views))))
        log = list(self.log)[-(2 if self.detail else LOG_LINES):]
        foot = "\n".join(log) if log else "(no state changes yet)"
        if self.errors:
            foot += "\n" + "; ".join(self.errors)
        prompt = ("filter: %s_" % self.editing) if self.editing is not None else \
            "q quit  s sort  r reverse  / filter  up/down select  Enter details  Esc back"
        parts.append(Panel(Text(foot, overflow="ellipsis"), title="state changes", title_align="left"))
        parts.append(Text(prompt, style="dim"))
        return Group(*parts)


def run_live(args):
    view = TraceView(args)
    view.refresh()
    with Keys() as keys, Live(view.render(24), auto_refresh=False, screen=True) as live:
        next_refresh = time.monotonic() + REFRESH_S
        while not view.quit:
            for key in keys.read(max(0.0, next_refresh - time.monotonic())):
                view.on_key(key)
            if time.monotonic() >= next_refresh:
                view.refresh()
                next_refresh = time.monotonic() + (args.interval or REFRESH_S)
            live.update(view.render(live.console.size.height), refresh=True)
    return 0
