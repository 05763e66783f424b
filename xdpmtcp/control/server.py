"""The control socket of a running context: snapshots for `xdpmtcp trace`,
`status` and the metrics endpoint of another process, and capture on
demand.

It runs in the context's own loop, between batches (service(), which the
engine's housekeeping calls): the C engine is never read from another
thread, and a snapshot never stalls the data path for long, because rows
leave in chunks of ROWS_PER_CHUNK, one chunk per batch, and only when the
reader has taken the previous one.

Caps (and what happens at each): MAX_CLIENTS readers at once (the next is
told "busy" and closed); one request line of protocol.MAX_REQUEST bytes
(longer: an error and closed); a reader idle IDLE_NS after connecting is
closed; one chunk of rows buffered per reader."""
import errno
import json
import os
import socket
import time

from .._core import ffi, lib
from . import paths
from .protocol import CHUNK, MAX_REQUEST, VERSION, encode_line
from .rows import ROW_SIZE, ROW_TYPE

MAX_CLIENTS = 8
ROWS_PER_CHUNK = 256       # 137 KB: well under a millisecond of the loop per chunk
IDLE_NS = 5_000_000_000
PERIOD_NS = 50_000_000       # how often an idle server looks for readers


class _Reader:
    __slots__ = ("sock", "inbuf", "out", "rows", "since")

    def __init__(self, sock, now):
        self.sock = sock
        self.inbuf = b""
        self.out = bytearray()
        self.rows = None          # [engine index, cursor] while rows follow
        self.since = now


class ControlServer:
    """describe(): the context's JSON-able description (status, counters);
    engines(): its Engine objects, whose rows snapshots carry;
    flows(): a monitor's (flow rows, omitted), carried in the first line;
    capture(path or None): start or stop writing a pcap, returns a note."""

    def __init__(self, ifnames, describe, engines=list, flows=None, capture=None):
        self.describe = describe
        self.engines = engines
        self.flows = flows
        self.capture = capture
        self.path = paths.socket_path(ifnames)
        self.requests = 0
        self.refused = 0
        self._readers = []
        self._due = 0
        self._rowbuf = ffi.new(ROW_TYPE + "[]", ROWS_PER_CHUNK)
        self._cursor = ffi.new("uint32_t *")
        self._sock = None

    def open(self):
        paths.CTL_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.path.unlink()           # our pid's, left by a namesake that died
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)            # 0600 from the start: root reads it
        try:
            s.bind(str(self.path))
        finally:
            os.umask(old)
        s.listen(MAX_CLIENTS)
        self._sock = s
        return self

    def close(self):
        for r in self._readers:
            r.sock.close()
        self._readers = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    # -- the loop's side -------------------------------------------------------------------
    def service(self, now_ns):
        """Accept, read requests, write answers; returns when it wants to
        run next (now while a reader has rows coming)."""
        if self._sock is None:
            return now_ns + PERIOD_NS
        self._accept(now_ns)
        busy = False
        for r in list(self._readers):
            try:
                if r.rows is None and not r.out:
                    self._read(r, now_ns)
                self._write(r, now_ns)
            except OSError:
                self._drop(r)
                continue
            busy = busy or bool(r.out) or r.rows is not None
        return now_ns if busy else now_ns + PERIOD_NS

    def _accept(self, now):
        while True:
            try:
                sock, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            if len(self._readers) >= MAX_CLIENTS:
                self.refused += 1
                try:
                    sock.send(encode_line({"ok": False, "error": "busy: %d readers already" % MAX_CLIENTS}))
                except OSError:
                    pass
                sock.close()
                continue
            self._readers.append(_Reader(sock, now))

    def _drop(self, r):
        r.sock.close()
        self._readers.remove(r)

    def _read(self, r, now):
        try:
            data = r.sock.recv(MAX_REQUEST)
        except BlockingIOError:
            if now - r.since > IDLE_NS:
                raise OSError(errno.ETIMEDOUT, "idle reader")
            return
        if not data:
            raise OSError(errno.ECONNRESET, "reader left")
        r.inbuf += data
        line, nl, rest = r.inbuf.partition(b"\n")
        if not nl:
            if len(r.inbuf) > MAX_REQUEST:
                r.out += encode_line({"ok": False, "error": "request longer than %d bytes" % MAX_REQUEST})
                r.rows = None
            return
        r.inbuf, r.since = rest, now
        self.requests += 1
        self._answer(r, line)

    def _answer(self, r, line):
        try:
            req = json.loads(line)
            cmd = req["cmd"]
        except (ValueError, KeyError, TypeError):
            r.out += encode_line({"ok": False, "error": "a request is one JSON object with a \"cmd\""})
            return
        if cmd == "snapshot":
            meta = self.describe()
            rows = bool(req.get("rows", True))
            if rows and self.flows is not None:
                meta["flows"], meta["flows_omitted"] = self.flows()
            r.out += encode_line(dict(meta, ok=True, version=VERSION, rows=rows, row_size=ROW_SIZE,
                                      time=time.time()))
            if rows:
                r.rows = [0, 0]
        elif cmd == "pcap":
            if self.capture is None:
                r.out += encode_line({"ok": False, "error": "this context cannot capture"})
                return
            try:
                note = self.capture(req.get("path"), int(req.get("max_bytes") or 0))
            except (OSError, ValueError) as e:
                r.out += encode_line({"ok": False, "error": str(e)})
                return
            r.out += encode_line({"ok": True, "note": note})
        else:
            r.out += encode_line({"ok": False, "error": "unknown command %r (snapshot, pcap)" % cmd})

    def _next_chunk(self, r, now):
        """Queue the next chunk of rows (or the end)."""
        engines = self.engines()
        while r.rows[0] < len(engines):
            idx, cursor = r.rows
            self._cursor[0] = cursor
            n = lib.xc_engine_conns(engines[idx].raw, self._cursor, self._rowbuf, ROWS_PER_CHUNK, now)
            if n:
                r.rows[1] = self._cursor[0]
                r.out += CHUNK.pack(n * ROW_SIZE, idx)
                r.out += ffi.buffer(self._rowbuf, n * ROW_SIZE)
                return
            r.rows = [idx + 1, 0]
        r.out += CHUNK.pack(0, 0)
        r.rows = None

    def _write(self, r, now):
        if not r.out and r.rows is not None:
            self._next_chunk(r, now)
        if r.out:
            try:
                sent = r.sock.send(r.out)
            except BlockingIOError:
                return
            del r.out[:sent]
