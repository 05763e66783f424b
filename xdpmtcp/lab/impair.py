"""Impairing bridge: the lab's stand-in for netem (these kernels have none).

In an inline lab (client <-> monitor <-> server) a process in the middle
namespace forwards every frame between its two veths with two AF_PACKET
ports and ``xc_port_forward`` (C, one Python call per batch), applying the
seeded fault injector on receive: the client-facing port's RX faults impair
client->server traffic (``c2s``), the server-facing port's impair ``s2c``.
The two kernel TCP endpoints see a lossy, reordering, duplicating link.

    with impaired_path(lab, "drop=0.02,reorder=0.02,dup=0.01,seed=1") as br:
        ...traffic between lab.client and lab.server...
    br.counters["c2s"]["dropped"]

The lab already turns off tx checksum offload, TSO and GSO on every veth,
so forwarded frames carry real checksums and none is a GSO super-frame.

``python -m xdpmtcp.lab.impair IF_A IF_B --faults SPEC`` is the process
itself (run it inside the namespace that holds both interfaces): it prints
one JSON line when ready and one with its counters when SIGTERM/SIGINT
stops it.
"""

import argparse
import contextlib
import ctypes
import ctypes.util
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, Optional

DIRECTIONS = ("c2s", "s2c")
_PR_SET_PDEATHSIG = 1
# A second, independent decision stream for the server->client direction.
_S2C_SEED_OFFSET = 1_000_003


class BridgeError(RuntimeError):
    pass


# ---------------------------------------------------------------- the process

class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def direction_counters(rx, tx, rx_backend, tx_backend) -> Dict[str, int]:
    """One direction's story from the receiving port's (rx) and the sending
    port's (tx) stats: what arrived, what the injector did, what left."""
    return {
        "received": rx["rx_frames"] + rx["fault_dropped_rx"]
        - rx["fault_duplicated_rx"],
        "forwarded": tx["tx_frames"],
        "dropped": rx["fault_dropped_rx"],
        "duplicated": rx["fault_duplicated_rx"],
        "reordered": rx["fault_reordered_rx"],
        "delayed": rx["fault_delayed_rx"],
        "corrupted": rx["fault_corrupted_rx"],
        "hold_overflow": rx["fault_hold_overflow_rx"],
        "oversize": rx["rx_oversize"],
        "no_room": tx["tx_no_room"],
        "kernel_drops": rx_backend["kernel_drops"],
        "tx_errors": tx_backend["tx_errors"],
    }


def _refuse_taken(ifname):
    """An XDP program on the interface would take the frames before the
    bridge's AF_PACKET socket sees them: refuse, naming who holds it."""
    import socket

    from ..xdp.attach import OUR_PROGRAMS, attached_program, program_owner
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        return                # opening the port says which one is missing
    cur = attached_program(ifindex)
    if not cur.prog_id:
        return
    if cur.name in OUR_PROGRAMS:
        owner = program_owner(ifindex, cur)
        if not owner.alive:
            return            # left by a dead stack: it passes every frame on
        raise OSError("%s is in use by xdpmtcp process %d (%s): stop it before bridging"
                      % (ifname, owner.pid, cur.name))
    raise OSError("%s runs XDP program %r (id %d), which would take the frames before the "
                  "bridge sees them; detach it first (xdpmtcp xdp status -i %s)"
                  % (ifname, cur.name, cur.prog_id, ifname))


# which ports' RX the faults impair: if_a's frames go client to server
DIRECTIONS = {"both": (0, 1), "c2s": (0,), "s2c": (1,)}


def serve(if_a: str, if_b: str, faults: Optional[str], ring_frames: int = 0,
          batch: int = 256, out=None, direction: str = "both") -> Dict[str, Dict[str, int]]:
    """Forward between if_a (client side) and if_b (server side) until
    SIGTERM/SIGINT, faults on the direction(s) named; returns (and prints
    as JSON) the per-direction counters."""
    from ..phy import FaultInjector, Port  # the C core: only in the process

    out = out or sys.stdout
    for name in (if_a, if_b):
        _refuse_taken(name)
    ports = [Port.open_afpacket(if_a, ring_frames),
             Port.open_afpacket(if_b, ring_frames)]
    if faults:
        spec = FaultInjector.parse(faults)
        for i, port in enumerate(ports):
            if i not in DIRECTIONS[direction]:
                continue
            port.add(dataclasses.replace(
                spec, direction="rx", seed=spec.seed + i * _S2C_SEED_OFFSET))
    poller = select.poll()
    for port in ports:
        poller.register(port.fd, select.POLLIN)
    by_fd = {port.fd: i for i, port in enumerate(ports)}
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    print(json.dumps({"ready": True, "pid": os.getpid()}), file=out, flush=True)
    try:
        while True:
            due = [d for d in (p.next_due_ns() for p in ports) if d]
            timeout = None
            if due:
                timeout = max(0, (min(due) - time.monotonic_ns()) // 1_000_000 + 1)
            ready = poller.poll(timeout)
            todo = {by_fd[fd] for fd, _ in ready}
            if due:  # held frames are released by the next receive call
                todo.update(i for i, p in enumerate(ports) if p.next_due_ns())
            for i in todo:
                ports[i].forward_to(ports[1 - i], batch)
    except _Stop:
        pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    _release_held(ports)
    stats = [p.stats() for p in ports]
    backend = [p.afpacket_stats() for p in ports]
    counters = {name: direction_counters(stats[rx], stats[tx], backend[rx], backend[tx])
                for name, rx, tx in (("c2s", 0, 1), ("s2c", 1, 0))}
    for port in ports:
        port.close()
    print(json.dumps({"counters": counters}), file=out, flush=True)
    return counters


def _release_held(ports, limit_s: float = 1.0) -> None:
    """Send the frames the injector still holds (they are due within
    delay_us/reorder_us), so every received frame is accounted for."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        due = [d for d in (p.next_due_ns() for p in ports) if d]
        if not due:
            return
        time.sleep(max(0, min(due) - time.monotonic_ns()) / 1e9)
        for i, port in enumerate(ports):
            port.forward_to(ports[1 - i], 1 << 16)


# ---------------------------------------------------------------- the handle

def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the bridge when the process that started it
    dies, so an aborted test run cannot leave it forwarding."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Bridge:
    """The bridge process in ``lab``'s middle host.  ``counters`` is set by
    stop(): {"c2s": {...}, "s2c": {...}}."""

    def __init__(self, lab, faults: Optional[str] = None, *,
                 ring_frames: int = 0, python: str = sys.executable, direction: str = "both"):
        middle = lab.host("monitor")
        if len(middle.interfaces) != 2:
            raise BridgeError(f"lab {lab.name}: the middle host needs two "
                              "interfaces (use Lab.create_inline)")
        self.lab = lab
        self.host = middle
        self.faults = faults
        self.direction = direction
        self.ring_frames = ring_frames
        self.python = python
        self.proc: Optional[subprocess.Popen] = None
        self.counters: Optional[Dict[str, Dict[str, int]]] = None

    def argv(self):
        a, b = (i.ifname for i in self.host.interfaces)
        argv = [self.python, "-m", "xdpmtcp.lab.impair", a, b,
                "--ring-frames", str(self.ring_frames)]
        if self.faults:
            argv += ["--faults", self.faults, "--direction", self.direction]
        return argv

    def start(self, timeout: float = 10.0) -> "Bridge":
        if self.faults:  # a bad spec fails here, not in the child
            from ..phy import FaultInjector
            FaultInjector.parse(self.faults)
        parent = os.getpid()

        def preexec():
            _die_with_parent()
            if os.getppid() != parent:  # parent died before prctl
                os._exit(1)

        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        # stderr to a file: a pipe nobody drains could block the bridge
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = self.host.popen(self.argv(), stdout=subprocess.PIPE,
                                    stderr=self._stderr, text=True,
                                    env=env, preexec_fn=preexec)
        line = self._readline(timeout)
        if not line or not json.loads(line).get("ready"):
            err = self._abort()
            raise BridgeError(f"bridge in {self.host.ns} did not start: {err}")
        return self

    def _readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else ""

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().strip()[-2000:]

    def _abort(self) -> str:
        self.proc.kill()
        self.proc.communicate()
        return self._errors() or f"exit {self.proc.returncode}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> Dict[str, Dict[str, int]]:
        """SIGTERM the bridge and collect its counters."""
        if self.proc is None:
            raise BridgeError("bridge was never started")
        if self.counters is not None:
            return self.counters
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BridgeError(f"bridge did not stop: {self._abort()}") from None
        for line in reversed(out.strip().splitlines()):
            data = json.loads(line)
            if "counters" in data:
                self.counters = data["counters"]
                return self.counters
        raise BridgeError(f"bridge exited {self.proc.returncode} without "
                          f"counters: {self._errors()}")


@contextlib.contextmanager
def impaired_path(lab, faults: Optional[str] = "drop=0.02,reorder=0.02,duplicate=0.01,seed=1",
                  **kwargs) -> Iterator[Bridge]:
    """Forward between lab.client and lab.server with ``faults`` (a
    FaultInjector spec; None or "" for none) for the body; the bridge's
    counters are on the yielded object after the block."""
    bridge = Bridge(lab, faults, **kwargs).start()
    try:
        yield bridge
    finally:
        if bridge.running or bridge.counters is None:
            bridge.stop()


# ---------------------------------------------------------------- entry point

def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m xdpmtcp.lab.impair",
        description="Forward frames between two interfaces of this namespace "
        "with seeded faults (AF_PACKET, C data path).  Prints a JSON line "
        "when ready and the counters when stopped by SIGTERM or SIGINT.")
    p.add_argument("if_a", help="client-side interface (its RX faults impair c2s)")
    p.add_argument("if_b", help="server-side interface (its RX faults impair s2c)")
    p.add_argument("--faults", default="",
                   help="e.g. drop=0.02,reorder=0.02,dup=0.01,seed=1")
    p.add_argument("--ring-frames", type=int, default=0,
                   help="frames the kernel may queue per interface (0 = default)")
    p.add_argument("--batch", type=int, default=256, help="frames per forward call")
    p.add_argument("--direction", choices=sorted(DIRECTIONS), default="both",
                   help="which direction the faults impair (c2s: client to server)")
    args = p.parse_args(argv)
    try:
        serve(args.if_a, args.if_b, args.faults or None, args.ring_frames, args.batch,
              direction=args.direction)
    except (OSError, ValueError) as exc:
        print(f"impair: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
