"""What a running stack leaves with the host (reserved ports, an attached
XDP program), recorded under /run/xdpmtcp/ so that any later process can
tell a live owner from a dead one and undo what the dead one left.

One JSON file per network namespace and resource, replaced atomically, all
read and written under one lock.  A namespace is named by its cookie, which
the kernel never reuses while the host runs (/run is empty after a boot).
A process is named by pid and start time, so a recycled pid is not taken
for the owner; a zombie counts as gone (it can no longer clean up).
"""
import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

from pyroute2.netns import setns

RUN_DIR = Path("/run/xdpmtcp")
SO_NETNS_COOKIE = 71        # Linux >= 5.14; not in Python's socket module


def netns_id():
    """This thread's network namespace, as a file name part."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            cookie = s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
        return "netns-%d" % int.from_bytes(cookie, sys.byteorder)
    except OSError:
        # Older kernels: the inode, unique while the namespace exists.
        return "netns-ino%d" % os.stat("/proc/thread-self/ns/net").st_ino


def process_start(pid):
    """Start time of a running process (clock ticks after boot), or None
    when there is no such process or it is a zombie."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # comm may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def this_process():
    """This process as recorded in state files."""
    pid = os.getpid()
    return {"pid": pid, "start": process_start(pid)}


def is_alive(record):
    """True if the process a record names still runs (same pid, same start)."""
    start = record.get("start")
    return start is not None and process_start(record["pid"]) == start


def open_netns_fd():
    """A descriptor for this thread's network namespace (caller closes)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


@contextmanager
def entered_netns(ns_fd):
    """Run the body with this thread in the namespace ns_fd refers to (a
    resource must be undone where it was made), then come back."""
    here = open_netns_fd()
    try:
        same = os.fstat(here).st_ino == os.fstat(ns_fd).st_ino
        if not same:
            setns(ns_fd, flags=0)
        try:
            yield
        finally:
            if not same:
                setns(here, flags=0)
    finally:
        os.close(here)


@contextmanager
def locked():
    """Hold the lock every reader-modify-writer of RUN_DIR takes."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_DIR / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)            # releases the lock


def read_state(name):
    """The JSON object in RUN_DIR/name, or None (missing or unreadable)."""
    try:
        data = json.loads((RUN_DIR / name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(name, data):
    """Replace RUN_DIR/name atomically (a SIGKILL leaves old or new, never
    half); None removes it."""
    path = RUN_DIR / name
    if data is None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".%s.%d" % (name, os.getpid()))
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)
