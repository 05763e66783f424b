"""The host's secret for initial sequence numbers, timestamp offsets and
SYN cookies: one per boot, shared by every xdpmtcp process, as Linux keeps
one for its own TCP.

Why not one per process: a peer keeps our closed connections in TIME-WAIT
and takes a new SYN on the same 4-tuple only when its sequence number or
timestamp is newer (RFC 6191).  Both come from this key; with a new key a
restarted client's SYN is as likely older as newer, and an older one costs
the connection a RST and a one-second SYN retransmission.

The key lives in /run/xdpmtcp (tmpfs: gone at the next boot), readable by
root only.  Where that cannot be written (no /run, not root), the process
draws its own and says nothing: correctness is the same, only the restart
case above is slower.
"""
import os

from .runstate import RUN_DIR

KEY_BYTES = 16
KEY_FILE = RUN_DIR / "isn.key"

_key = None


def _read_or_create(path):
    try:
        with open(path, "rb") as f:
            key = f.read(KEY_BYTES + 1)
        if len(key) == KEY_BYTES:
            return key
        os.unlink(path)                  # damaged: replace it
    except FileNotFoundError:
        pass
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    tmp = path.with_name("%s.%d" % (path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)               # the first writer wins: every process reads its key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path, "rb") as f:
        key = f.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise OSError("%s: not a %d-byte key" % (path, KEY_BYTES))
    return key


def boot_secret(path=KEY_FILE):
    """The key (16 bytes), the same for every process until the next boot."""
    global _key
    if _key is None:
        try:
            _key = _read_or_create(path)
        except OSError:
            _key = os.urandom(KEY_BYTES)
    return _key
