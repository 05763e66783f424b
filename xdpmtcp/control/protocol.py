"""The control channel's wire format, shared by server and client.

A request is one JSON object on one line.  The answer starts with one JSON
line ({"ok": true, ...} or {"ok": false, "error": "..."}); when it says
"rows": true, chunks of connection rows follow, each a CHUNK header
(payload bytes, engine index) and that many bytes of struct xc_conn_row
(api_tcp.h, this host's build: "row_size" in the first line lets the reader
check), ended by a header with length 0."""
import json
import struct

VERSION = 1
CHUNK = struct.Struct("<IH")        # payload length, engine index
MAX_REQUEST = 4096                  # bytes of one request line


def encode_line(obj):
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"
