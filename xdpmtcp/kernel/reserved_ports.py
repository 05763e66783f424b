"""Reserve the stack's ephemeral port range with the kernel.

net.ipv4.ip_local_reserved_ports keeps the kernel from picking these ports
for its own connections, so active opens of both stacks never collide.

The sysctl is per network namespace, several stacks may share one, and a
SIGKILLed stack cannot undo its change.  So a ledger per namespace
(/run/xdpmtcp/<netns>.reserved-ports.json, see runstate) records the user's
own value, as it was when the first stack came, and the ports each live
reservation holds.  Every change first drops holders whose process is gone
and removes their ports; a stack leaving removes its ports unless another
live reservation holds them.  Ports of the user's own value are never
removed, and ports the user adds while stacks run are kept: once no stack
runs, the value is the user's again.
"""
import atexit
import os
from pathlib import Path

from . import runstate

SYSCTL = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
SYSCTL_NAME = "net.ipv4.ip_local_reserved_ports"
LEDGER_SUFFIX = ".reserved-ports.json"


def parse_ports(text):
    """The set of ports a sysctl value such as "5,61000-61999" names."""
    ports = set()
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        ports.update(range(int(lo), int(hi or lo) + 1))
    return ports


def port_ranges(ports):
    """Sorted (first, last) runs of a port set, adjacent runs merged, as the
    kernel prints them."""
    runs = []
    for p in sorted(ports):
        if runs and runs[-1][1] == p - 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return [tuple(r) for r in runs]


def format_ports(ports):
    return ",".join("%d-%d" % r if r[0] != r[1] else str(r[0]) for r in port_ranges(ports))


def _read_sysctl():
    return parse_ports(SYSCTL.read_text())


def _write_sysctl(ports):
    try:
        SYSCTL.write_text(format_ports(ports) + "\n")
    except OSError as e:
        raise OSError("cannot set %s to %r: %s"
                      % (SYSCTL_NAME, format_ports(ports), e.strerror or e)) from None


def _ledger_name():
    return runstate.netns_id() + LEDGER_SUFFIX


def _union(holders):
    out = set()
    for h in holders:
        out |= parse_ports(h["ports"])
    return out


def _settle(leaving=None):
    """Under the lock: drop the holders whose process is gone, and the one
    with id ``leaving``; remove from the sysctl the ports only they held.
    Returns (ledger or None when no holder stays, sysctl ports, dropped)."""
    name = _ledger_name()
    ledger = runstate.read_state(name) or {}
    try:
        holders = list(ledger.get("holders", []))
        current = _read_sysctl()
        user = parse_ports(ledger["user"]) if holders else current
    except (KeyError, TypeError, ValueError):
        raise OSError("unreadable ledger %s; remove it and check %s"
                      % (runstate.RUN_DIR / name, SYSCTL_NAME)) from None
    dropped = [h for h in holders if h.get("id") == leaving or not runstate.is_alive(h)]
    if not dropped:
        return (ledger if holders else None), current, []
    staying = [h for h in holders if h not in dropped]
    removable = (_union(dropped) - user - _union(staying)) & current
    if removable:
        # The sysctl first: a death in between leaves the ledger still
        # naming these ports, so the next process removes them.
        current -= removable
        _write_sysctl(current)
    ledger = {"user": format_ports(user), "holders": staying} if staying else None
    runstate.write_state(name, ledger)
    return ledger, current, dropped


class PortReservation:
    def __init__(self, first, last):
        if not 1024 <= first <= last <= 65535:
            raise ValueError("port range must be within 1024-65535, got %d-%d" % (first, last))
        self.first, self.last = first, last
        self.ports = set(range(first, last + 1))
        self._id = None
        self._ns_fd = None
        self.notes = []         # one-line remarks for the user

    def reserve(self):
        if self._id is not None:
            return self
        holder = dict(runstate.this_process(), id=os.urandom(8).hex(),
                      ports=format_ports(self.ports))
        self._ns_fd = runstate.open_netns_fd()
        self._id = holder["id"]
        self._pid = os.getpid()
        atexit.register(self.release)
        try:
            with runstate.locked():
                ledger, current, dropped = _settle()
                self.notes.extend("released reserved ports %s left by process %d, which is gone"
                                  % (h["ports"], h["pid"]) for h in dropped)
                user = ledger["user"] if ledger else format_ports(current)
                holders = ledger["holders"] if ledger else []
                # The ledger first: a death in between leaves it naming
                # ports we may not have added, which is harmless.
                runstate.write_state(_ledger_name(),
                                     {"user": user, "holders": holders + [holder]})
                if not self.ports <= current:
                    _write_sysctl(current | self.ports)
        except BaseException:
            self.release()
            raise
        return self

    def release(self):
        """Give our ports back unless another live stack holds them; safe
        to call twice and from any network namespace."""
        if self._id is None or self._pid != os.getpid():
            return      # a forked worker's inherited copy: the reserving process releases
        try:
            with runstate.entered_netns(self._ns_fd), runstate.locked():
                _settle(leaving=self._id)
        finally:
            os.close(self._ns_fd)
            self._id = self._ns_fd = None
            atexit.unregister(self.release)

    def reserved(self):
        """The sysctl's value now, as (first, last) ranges."""
        return port_ranges(_read_sysctl())

    def __enter__(self):
        return self.reserve()

    def __exit__(self, *exc):
        self.release()


def release_dead_reservations():
    """Undo what stacks of this namespace that died left reserved; returns
    [(pid, ports text)] of those dropped (the caller's netns)."""
    with runstate.locked():
        _, _, dropped = _settle()
    return [(h["pid"], h["ports"]) for h in dropped]


def reservation_holders():
    """[(pid, ports text, alive)] from this namespace's ledger."""
    ledger = runstate.read_state(_ledger_name()) or {}
    return [(h["pid"], h["ports"], runstate.is_alive(h)) for h in ledger.get("holders", [])]
