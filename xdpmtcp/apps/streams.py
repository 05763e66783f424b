"""Per-connection applications.  Each gets ``step(conn)`` when the
connection may have become readable or writable, and says when it is done."""
import hashlib
import os
import random
import time

from ..tcp.connection import AGAIN

CHUNK = 65536
SEND_CHUNK = CHUNK * 4
# An app stops reading while this much waits to be sent: a peer that writes
# and never reads meets a full window, as with the kernel, not our memory.
BACKLOG_MAX = 4 * SEND_CHUNK
REQUEST_MAX = 65536          # an HTTP request head larger than this gets 431


def pattern_bytes(seed, n):
    """n deterministic pseudo-random bytes (both ends can regenerate them)."""
    return random.Random(seed).randbytes(n)


class _Base:
    # EchoApp holds idle connections by the 100,000: no __dict__ there;
    # subclasses without __slots__ get one as usual
    __slots__ = ("done", "bytes_in", "bytes_out", "_in_hash", "_out_hash", "error", "failure",
                 "failure_trace")
    hashed = True      # sha256 both ways (off for benchmarks: it costs a core)

    def __init__(self):
        self.done = False
        self.bytes_in = 0
        self.bytes_out = 0
        self._in_hash = hashlib.sha256()
        self._out_hash = hashlib.sha256()
        self.error = None
        self.failure = None    # set by the runner when step() raised

    def _read_all(self, conn, keep=None, limit=None):
        """Drain what is readable (into keep, up to limit bytes held there);
        True at end of stream or on an error."""
        while True:
            if limit is not None and len(keep) >= limit:
                return False
            try:
                chunk = conn.read(CHUNK)
            except OSError as e:
                self._failed(e.errno)
                return True
            if chunk is None:             # nothing more for now
                return False
            if not chunk:
                return True
            self.bytes_in += len(chunk)
            if self.hashed:
                self._in_hash.update(chunk)
            if keep is not None:
                keep.extend(chunk)

    def _write(self, conn, pending):
        """Send from the bytearray pending; returns bytes taken.  On an error
        (the peer reset, the connection timed out) pending is dropped, the
        errno kept in self.error and the app's step() ends the connection."""
        if not pending:
            return 0
        view = memoryview(pending)
        try:
            n = conn.send(view[:SEND_CHUNK])
        except OSError as e:
            self._failed(e.errno)
            n = -1
        if n > 0 and self.hashed:
            self._out_hash.update(view[:n])
        # the bytearray cannot shrink while a view of it lives: release ours;
        # the exception (and the slice its traceback held) is gone by now
        view.release()
        if n < 0:
            pending.clear()
            return 0
        if n:
            del pending[:n]
            self.bytes_out += n
        return n

    def _failed(self, err):
        # the first error is the cause (ECONNRESET, then EPIPE on the next send)
        if self.error is None:
            self.error = err

    def _end_on_error(self, conn):
        """A failed connection ends the app: abort what is left, done."""
        if self.error is None:
            return False
        conn.abort()
        self.done = True
        return True

    def report(self):
        h_in = self._in_hash.hexdigest() if self.hashed else None
        h_out = self._out_hash.hexdigest() if self.hashed else None
        return {"bytes_in": self.bytes_in, "sha256_in": h_in,
                "bytes_out": self.bytes_out, "sha256_out": h_out,
                "error": os.strerror(self.error) if self.error else None,
                **({"failure": self.failure} if self.failure else {})}


class EchoApp(_Base):
    """Every byte back, until the peer closes; then close."""
    __slots__ = ("hashed", "pending", "eof")

    def __init__(self, hashed=True):
        super().__init__()
        self.hashed = hashed
        self.pending = bytearray()
        self.eof = False

    def step(self, conn):
        if not self.pending and not self.eof and self._echo_at_once(conn):
            return
        while True:
            if not self.eof and len(self.pending) < BACKLOG_MAX:
                self.eof = self._read_all(conn, self.pending, BACKLOG_MAX)
            sent = 0
            while self.pending and self._write(conn, self.pending):
                sent += 1
            # the send buffer took it all and more is readable: go again
            if not sent or self.eof or self.pending:
                break
        if self._end_on_error(conn):
            return
        if self.eof and not self.pending:
            conn.close()
            self.done = True


    def _echo_at_once(self, conn):
        """The common case in two C calls: all that is readable (less than a
        chunk) read and sent straight back.  False when the general loop
        must run (more to read, a short send, end of stream, an error); the
        bytes read are then pending."""
        data = conn.read_now(CHUNK)
        if data is AGAIN:
            return True
        if data is None:
            return False
        n = len(data)
        self.bytes_in += n
        sent = conn.send_now(data)
        if self.hashed:
            self._in_hash.update(data)
            if sent:
                self._out_hash.update(memoryview(data)[:sent])
        if sent:
            self.bytes_out += sent
        if sent == n and n < CHUNK:
            return True
        self.pending += memoryview(data)[sent or 0:]
        return False


class SinkApp(_Base):
    """Read and hash everything until the peer closes; send nothing."""

    def __init__(self, hashed=True):
        super().__init__()
        self.hashed = hashed

    def step(self, conn):
        if self._read_all(conn) and not self._end_on_error(conn):
            conn.close()
            self.done = True


class SourceApp(_Base):
    """Send nbytes of the seeded pattern, then close; read and hash whatever
    the peer sends meanwhile."""

    def __init__(self, nbytes, seed=1, hashed=True):
        super().__init__()
        self.hashed = hashed
        self.rng = random.Random(seed)
        # unhashed: one block of the pattern, repeated (no per-byte work)
        self.block = None if hashed else self.rng.randbytes(CHUNK * 4)
        self.block_off = 0
        self.left = nbytes
        self.pending = bytearray()
        self.closed = False

    def step(self, conn):
        self._read_all(conn)
        if self.block is not None:
            self._send_block(conn)
        while True:
            if not self.pending and self.left:
                n = min(self.left, CHUNK * 4)
                self.pending += self.rng.randbytes(n)
                self.left -= n
            if not self.pending or not self._write(conn, self.pending):
                break
        if self._end_on_error(conn):
            return
        if not self.pending and not self.left and not self.closed:
            conn.close()
            self.closed = True
            self.done = True

    def _send_block(self, conn):
        """Unhashed: straight from the block, no copy in Python (the
        kernel-side benchmark sender writes its block the same way)."""
        view = memoryview(self.block)
        while self.left:
            k = min(self.left, len(view) - self.block_off)
            try:
                n = conn.send(view[self.block_off:self.block_off + k])
            except OSError as e:
                self._failed(e.errno)
                self.left = 0
                return
            if not n:
                return
            self.block_off = (self.block_off + n) % len(view)
            self.left -= n
            self.bytes_out += n


class HttpApp(_Base):
    """GET of static files under root, HTTP/1.1 keep-alive, one request at
    a time (enough for curl and the tests; examples/epserver.py is the full
    server)."""

    def __init__(self, root):
        super().__init__()
        self.root = os.path.realpath(root)
        self.buf = bytearray()
        self.pending = bytearray()
        self.close_after = False
        self.requests = 0

    def _respond(self, head):
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (ln.partition(":") for ln in lines[1:] if ln)}
        self.requests += 1
        version = parts[2] if len(parts) == 3 else "HTTP/1.0"
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        status, body = "404 Not Found", b"not found\n"
        if len(parts) != 3 or parts[0] != "GET":
            status, body, keep = "400 Bad Request", b"bad request\n", False
        else:
            path = os.path.realpath(os.path.join(self.root, parts[1].split("?")[0].lstrip("/")))
            if os.path.isdir(path):
                path = os.path.join(path, "index.html")
            if path.startswith(self.root + os.sep) and os.path.isfile(path):
                with open(path, "rb") as f:
                    status, body = "200 OK", f.read()
        self.pending += ("HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
                         % (status, len(body), "keep-alive" if keep else "close")).encode()
        self.pending += body
        self.close_after = not keep

    def step(self, conn):
        # pipelined requests wait in the receive window while answers queue
        eof = False
        if len(self.pending) < BACKLOG_MAX:
            eof = self._read_all(conn, self.buf, REQUEST_MAX)
        while not self.close_after:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(self.buf[:end])
            del self.buf[:end + 4]
            self._respond(head)
        if len(self.buf) >= REQUEST_MAX and self.buf.find(b"\r\n\r\n") < 0:
            self.pending += b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            self.close_after = True
        while self.pending and self._write(conn, self.pending):
            pass
        if self._end_on_error(conn):
            return
        if (eof or self.close_after) and not self.pending:
            conn.close()
            self.done = True


class ClientApp(_Base):
    """Send payload then nbytes of the seeded pattern, half-close (unless
    half_close is False), read (into keep, if given) until the server
    closes, then close.  The first HEAD_MAX bytes received stay in head
    whatever keep is (the connect command checks an HTTP response there)."""

    HEAD_MAX = 16384

    def __init__(self, payload=b"", nbytes=0, seed=1, keep=None, half_close=True):
        super().__init__()
        self.pending = bytearray(payload)
        self.left = nbytes
        self.rng = random.Random(seed)
        self.keep = keep
        self.half_close = half_close
        self.head = bytearray()
        self._received = _Prefix(self.head, self.HEAD_MAX, keep)
        self.shut = False           # everything sent (and the FIN queued, with half_close)
        self.eof = False
        self.started = time.monotonic()
        self.first_byte = None

    def step(self, conn):
        if conn.state.name in ("SYN_SENT", "SYN_RCVD"):
            if conn.error:
                self.error = conn.take_error()
                self.done = True
            return
        while True:
            if not self.pending and self.left:
                n = min(self.left, CHUNK * 4)
                self.pending += self.rng.randbytes(n)
                self.left -= n
            if not self.pending or not self._write(conn, self.pending):
                break
        if not self.pending and not self.left and not self.shut and not self.error:
            if self.half_close:
                conn.shutdown_write()
            self.shut = True
        if not self.eof:
            before = self.bytes_in
            self.eof = self._read_all(conn, self._received)
            if self.bytes_in > before and self.first_byte is None:
                self.first_byte = time.monotonic() - self.started
        # the server's FIN only ends its direction: finish sending first
        if self._end_on_error(conn):
            return
        if self.eof and self.shut:
            conn.close()
            self.done = True


class _Prefix:
    """What _read_all extends: the first size bytes go to head, every byte
    to rest (when there is one)."""

    def __init__(self, head, size, rest):
        self.head = head
        self.size = size
        self.rest = rest

    def extend(self, chunk):
        room = self.size - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        if self.rest is not None:
            self.rest.extend(chunk)
