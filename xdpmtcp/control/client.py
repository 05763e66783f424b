"""Reading a running context's control socket (server.py) from another
process: snapshots with their connection rows, capture on demand."""
import json
import socket

from .protocol import CHUNK, encode_line
from .rows import ROW_SIZE, decode_rows

TIMEOUT_S = 5.0


class ControlError(OSError):
    pass


class ControlClient:
    def __init__(self, address, timeout=TIMEOUT_S):
        self.address = address            # paths.ControlAddress
        self.timeout = timeout

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(self.timeout)
        try:
            s.connect(str(self.address.path))
        except OSError as e:
            s.close()
            raise ControlError(e.errno, "cannot reach pid %d at %s: %s"
                               % (self.address.pid, self.address.path, e.strerror)) from None
        return s

    @staticmethod
    def _recv_exact(f, n):
        data = f.read(n)
        if len(data) != n:
            raise ControlError("the context closed its control socket mid-answer")
        return data

    def request(self, cmd, **args):
        """One request; (first answer line as a dict, rows as dicts or None)."""
        with self._connect() as s, s.makefile("rb") as f:
            try:
                s.sendall(encode_line(dict(args, cmd=cmd)))
            except (BrokenPipeError, ConnectionResetError):
                pass        # a server at its cap answers "busy" and closes before reading: read that
            try:
                line = f.readline()
            except socket.timeout:
                raise ControlError("pid %d did not answer in %.0f s" % (self.address.pid, self.timeout)) from None
            if not line:
                raise ControlError("pid %d closed the control socket without an answer" % self.address.pid)
            meta = json.loads(line)
            if not meta.get("ok"):
                raise ControlError("pid %d: %s" % (self.address.pid, meta.get("error", "refused")))
            if not meta.get("rows"):
                return meta, None
            rows = meta.pop("flows", None) or []      # a monitor's
            if meta.get("row_size") != ROW_SIZE:
                raise ControlError("pid %d runs another build of xdpmtcp (rows of %s bytes, ours %d)"
                                   % (self.address.pid, meta.get("row_size"), ROW_SIZE))
            while True:
                length, engine = CHUNK.unpack(self._recv_exact(f, CHUNK.size))
                if not length:
                    return meta, rows
                for row in decode_rows(self._recv_exact(f, length)):
                    row["engine"] = engine
                    rows.append(row)

    def snapshot(self, rows=True):
        return self.request("snapshot", rows=rows)

    def capture(self, path, max_bytes=0):
        """Ask the context to write what it sends and receives to path
        (None stops); returns its note."""
        meta, _ = self.request("pcap", path=path, max_bytes=max_bytes)
        return meta.get("note", "")
