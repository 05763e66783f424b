"""The monitor loop: an input's bursts through the C core, the events that
come back (one list per C call) to the stream writer and the connection
log.  Python work is per call and per flow, never per packet: DATA events
carry a whole drained block (one per ring per call), and flows are read
only when they end.
"""
import time

from ..housekeeping import Housekeeping
from .connlog import conn_record, index_record
from .core import CLI, Ev, ERRORS, Monitor, SVR

# The events the bulk path needs; the rest stay in C.
BULK_EVENTS = Ev.DATA | Ev.GAP | Ev.OVERLAP | Ev.ERROR | Ev.CONN_END
# The ring of side SVR holds what the client sent.
DIRECTION = {SVR: "c2s", CLI: "s2c"}
HOUSEKEEPING_NS = 100_000_000     # periodic work between bursts, at most this often


class _FlowNotes:
    __slots__ = ("name", "gaps", "overlaps", "listed")

    def __init__(self, name):
        self.name = name
        self.gaps = {"c2s": [], "s2c": []}
        self.overlaps = {"c2s": [], "s2c": []}


class MonitorRun:
    """Feed bursts, collect what the outputs need.

    streams: a StreamWriter or None; conn_log: callable(record dict) or
    None, called once per connection end; table: a report.ConnTable (or
    None) given every connection at its end; on_events: callable(list)
    for anything else that wants the raw event tuples.
    """

    def __init__(self, monitor: Monitor, *, streams=None, conn_log=None, table=None,
                 on_events=None, max_listed=1000):
        self.mon = monitor
        self.streams = streams
        self.conn_log = conn_log
        self.table = table
        self.on_events = on_events
        self.max_listed = max_listed
        self._notes = {}
        self.errors = {name: 0 for name in ERRORS.values()}
        self.connections = 0
        self.frames = 0
        # periodic work between bursts (the control channel)
        self.housekeeping = Housekeeping(HOUSEKEEPING_NS)

    def _note(self, flow_id):
        n = self._notes.get(flow_id)
        if n is None:
            f = self.mon.flow(flow_id)
            n = self._notes[flow_id] = _FlowNotes("%06d" % f.uid)
        return n

    def handle(self, events):
        if self.on_events is not None:
            self.on_events(events)
        streams = self.streams
        for kind, flow, pkt, side, hook, code, arg, val, pos, _ in events:
            if kind == Ev.DATA:
                if streams is not None:
                    streams.write(self._note(flow).name, DIRECTION[side], self.mon.out(pos, val))
            elif kind == Ev.GAP:
                lst = self._note(flow).gaps[DIRECTION[side]]
                if len(lst) < self.max_listed:
                    lst.append([arg, val])
            elif kind == Ev.OVERLAP:
                lst = self._note(flow).overlaps[DIRECTION[side]]
                if len(lst) < self.max_listed:
                    lst.append([arg, val])
            elif kind == Ev.ERROR:
                self.errors[ERRORS.get(code, str(code))] = self.errors.get(ERRORS.get(code, str(code)), 0) + 1
            elif kind == Ev.CONN_END:
                self._end(flow)

    def _end(self, flow_id):
        f = self.mon.flow(flow_id)
        notes = self._notes.pop(flow_id, None) or _FlowNotes("%06d" % f.uid)
        self.connections += 1
        if self.streams is not None:
            self.streams.end_flow(notes.name, index_record(f, notes.name, notes.gaps,
                                                           notes.overlaps))
        if self.conn_log is not None:
            self.conn_log(conn_record(f))
        if self.table is not None:
            self.table.add(f)

    def feed(self, burst, now_ns=0):
        self.frames += len(burst)
        for events in self.mon.feed(burst, now_ns):
            self.handle(events)

    def finish(self):
        for events in self.mon.flush():
            self.handle(events)

    def run(self, source):
        """Every burst of source, then the end of every flow left."""
        start = time.perf_counter()
        for burst, now_ns in source.bursts():
            self.feed(burst, now_ns)
            source.after(burst)
            hk = self.housekeeping
            if hk.tasks:
                now = time.monotonic_ns()
                if now >= hk.due:
                    hk.run(now)
        self.finish()
        return time.perf_counter() - start

    def summary(self, seconds=None, source_stats=None):
        out = {"connections": self.connections, "errors": self.errors,
               "monitor": self.mon.stats()}
        if source_stats is not None:
            out["input"] = source_stats
        if seconds is not None:
            out["seconds"] = round(seconds, 6)
        if self.streams is not None:
            out["streams"] = {"dir": self.streams.dir, "flows": self.streams.flows,
                              "bytes": self.streams.bytes,
                              "files_reopened": self.streams.reopened}
        return out
