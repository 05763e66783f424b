"""Where running contexts publish their control sockets, and how a reader
finds them: /run/xdpmtcp/ctl/<netns>.<interface>.<pid>.sock, one per
process and interface set, mode 0600 (root reads them), removed on exit.
A socket whose process is gone (SIGKILL) is skipped and removed by the
next reader."""
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..kernel import runstate

CTL_DIR = runstate.RUN_DIR / "ctl"
_NAME = re.compile(r"^(?P<netns>netns-[^.]+)\.(?P<iface>[^/]+)\.(?P<pid>\d+)\.sock$")


@dataclass(frozen=True)
class ControlAddress:
    path: Path
    netns: str           # runstate.netns_id() of the context
    iface: str           # its interfaces, joined by "+"
    pid: int

    @property
    def alive(self):
        return runstate.process_start(self.pid) is not None


def socket_path(ifnames, pid=None):
    """The path this process publishes on, in this thread's netns."""
    iface = "+".join(ifnames) or "none"
    return CTL_DIR / ("%s.%s.%d.sock" % (runstate.netns_id(), iface, pid or os.getpid()))


def parse(path):
    m = _NAME.match(Path(path).name)
    if m is None:
        return None
    return ControlAddress(Path(path), m["netns"], m["iface"], int(m["pid"]))


def discover(pid=None, iface=None, remove_stale=True):
    """The control sockets of live contexts on this host, by pid; pid and
    iface (an interface name) narrow the list."""
    found = []
    try:
        names = sorted(os.listdir(CTL_DIR))
    except FileNotFoundError:
        return found
    for name in names:
        addr = parse(CTL_DIR / name)
        if addr is None:
            continue
        if not addr.alive:
            if remove_stale:
                try:
                    addr.path.unlink()
                except OSError:
                    pass
            continue
        if pid is not None and addr.pid != pid:
            continue
        if iface is not None and iface not in addr.iface.split("+"):
            continue
        found.append(addr)
    return found
