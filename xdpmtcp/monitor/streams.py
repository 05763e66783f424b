"""``--streams DIR``: per flow, the bytes each side sent, reassembled, in
``DIR/<flow>.c2s`` and ``DIR/<flow>.s2c``, and ``DIR/index.json`` listing
every flow (written as flows end, so memory does not grow with them).

Files hold only bytes the capture had: a gap is not padded, it is listed
(offset in the stream, length) under the direction's ``gaps`` in the index.
Open files are capped (``max_open``, least recently written closed first
and reopened for append when needed), so any number of flows works within
the process's descriptor limit.  Gap and overlap lists are capped per
direction (``MAX_LISTED``); the totals are always complete.
"""
import collections
import json
import os

MAX_LISTED = 1000


class StreamWriter:
    def __init__(self, directory, max_open=128):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.max_open = max_open
        self._files = collections.OrderedDict()     # (name, dir) -> file
        self._index_tmp = os.path.join(self.dir, ".index.json.partial")
        self._index = open(self._index_tmp, "w")
        self._index.write('{"flows": [\n')
        self._first = True
        self.flows = 0
        self.bytes = 0
        self.reopened = 0

    @staticmethod
    def flow_name(uid):
        return "%06d" % uid

    def _file(self, name, direction):
        key = (name, direction)
        f = self._files.get(key)
        if f is not None:
            self._files.move_to_end(key)
            return f
        while len(self._files) >= self.max_open:
            _, old = self._files.popitem(last=False)
            old.close()
            self.reopened += 1
        f = open(os.path.join(self.dir, "%s.%s" % key), "ab")
        self._files[key] = f
        return f

    def write(self, name, direction, data):
        self._file(name, direction).write(data)
        self.bytes += len(data)

    def end_flow(self, name, record):
        """Close the flow's files (creating empty ones for silent
        directions) and append its index entry."""
        for direction in ("c2s", "s2c"):
            f = self._files.pop((name, direction), None)
            if f is not None:
                f.close()
            else:
                path = os.path.join(self.dir, "%s.%s" % (name, direction))
                if not os.path.exists(path):
                    open(path, "wb").close()
        self._index.write(("" if self._first else ",\n") + json.dumps(record, sort_keys=True))
        self._first = False
        self.flows += 1

    def close(self, summary=None):
        for f in self._files.values():
            f.close()
        self._files.clear()
        if self._index is None:
            return
        self._index.write('\n],\n"summary": %s}\n' % json.dumps(summary or {}, sort_keys=True))
        self._index.close()
        self._index = None
        os.replace(self._index_tmp, os.path.join(self.dir, "index.json"))
