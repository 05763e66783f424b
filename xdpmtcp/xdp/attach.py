"""Attach the steering program with guaranteed detach.

Rules (docs/architecture.md, "Never break the host"; docs/deploy.md): never replace an XDP
program xdpmtcp did not attach unless forced; never take over one a live
xdpmtcp process runs unless forced; replace a stale one of ours (its
process is gone) with a note; detach on close, interpreter exit, SIGINT,
SIGTERM and SIGHUP; and only ever detach the program we attached.  A
SIGKILLed process cannot detach, but its AF_XDP sockets close, the XSKMAP
entries vanish and the program passes every frame to the kernel.

Who attached what is recorded in /run/xdpmtcp/<netns>.xdp-<ifindex>.json
(pid, process start time, program id), so `xdpmtcp xdp status` and
`detach` can tell a live owner from a stale program.
"""
import atexit
import os
import signal
import socket
from dataclasses import dataclass
from typing import Optional

from .._core import ffi, lib
from ..kernel import runstate
from .program import OUR_PROGRAMS, XdpError

XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
MODES = {"native": XDP_FLAGS_DRV_MODE, "skb": XDP_FLAGS_SKB_MODE}
ATTACH_MODE_NAMES = {0: "none", 1: "native", 2: "skb", 3: "hw", 4: "multi"}


@dataclass
class AttachedProgram:
    prog_id: int
    mode: str
    name: str


def attached_program(ifindex):
    """What XDP program the interface runs (in this thread's netns)."""
    prog_id = ffi.new("uint32_t *")
    mode = ffi.new("uint32_t *")
    name = ffi.new("char[32]")
    if lib.xc_xdp_query(ifindex, prog_id, mode, name, 32):
        raise XdpError("cannot query XDP state of ifindex %d" % ifindex)
    return AttachedProgram(prog_id[0], ATTACH_MODE_NAMES.get(mode[0], str(mode[0])),
                           ffi.string(name).decode(errors="replace"))


@dataclass
class XdpOwner:
    """The process that attached an interface's program, from its record."""
    pid: Optional[int]      # None: no record names the attached program
    alive: bool


def _owner_record_name(ifindex):
    return runstate.netns_id() + ".xdp-%d.json" % ifindex


def program_owner(ifindex, attached):
    """Who attached ``attached`` (what ifindex runs, this thread's netns).
    A record naming another program id (replaced since, or the interface
    recreated) counts as no record."""
    rec = runstate.read_state(_owner_record_name(ifindex))
    if not rec or not attached.prog_id or rec.get("prog_id") != attached.prog_id:
        return XdpOwner(None, False)
    return XdpOwner(rec.get("pid"), runstate.is_alive(rec))


def forget_owner(ifindex):
    """Drop the record of ifindex's program (it was detached); call locked."""
    runstate.write_state(_owner_record_name(ifindex), None)


class AttachGuard:
    """Holds one attachment; ``detach`` is idempotent and safe from any
    thread or netns (it returns to the attachment's netns to detach)."""

    def __init__(self, program, ifname, mode="auto", force=False):
        if mode not in ("auto", "native", "skb"):
            raise ValueError("mode must be auto, native or skb")
        self.program = program
        self.ifname = ifname
        self.requested_mode = mode
        self.force = force
        self.notes = []
        self.flags = None
        self._ns_fd = None
        self._pid = None
        self._old_handlers = {}

    # -- attach ------------------------------------------------------------
    def attach(self):
        try:
            self.ifindex = socket.if_nametoindex(self.ifname)
        except OSError:
            raise XdpError("no interface %r in this network namespace" % self.ifname) from None
        with runstate.locked():
            self._check_current()
            BPF = self.program._BPF
            modes = ["native", "skb"] if self.requested_mode == "auto" else [self.requested_mode]
            last = None
            for m in modes:
                try:
                    BPF.attach_xdp(self.ifname.encode(), self.program.fn, MODES[m])
                except Exception as e:  # BCC raises bare Exception
                    last = e
                    continue
                self.flags, self.mode = MODES[m], m
                break
            else:
                raise XdpError("cannot attach XDP to %s: %s" % (self.ifname, last))
            self._ns_fd = runstate.open_netns_fd()
            self._pid = os.getpid()
            atexit.register(self.detach)
            runstate.write_state(_owner_record_name(self.ifindex), dict(
                runstate.this_process(), prog_id=self.program.prog_id, ifname=self.ifname))
        self._install_signal_handlers()
        return self

    def _check_current(self):
        cur = attached_program(self.ifindex)
        if not cur.prog_id:
            return
        if cur.name not in OUR_PROGRAMS:
            if not self.force:
                raise XdpError(
                    "%s already runs XDP program %r (id %d, %s mode) that xdpmtcp "
                    "did not attach; refusing to replace it (use --force)"
                    % (self.ifname, cur.name, cur.prog_id, cur.mode))
            self.notes.append("replacing foreign XDP program %r (id %d) on %s (forced)"
                              % (cur.name, cur.prog_id, self.ifname))
        else:
            owner = program_owner(self.ifindex, cur)
            if owner.alive and owner.pid == os.getpid():
                self.notes.append("replacing this process's own earlier program (id %d) on %s"
                                  % (cur.prog_id, self.ifname))
            elif owner.alive:
                if not self.force:
                    raise XdpError("%s is in use by xdpmtcp process %d (use --force to take over)"
                                   % (self.ifname, owner.pid))
                self.notes.append("taking over %s from live xdpmtcp process %d (forced)"
                                  % (self.ifname, owner.pid))
            else:
                self.notes.append("replacing stale xdpmtcp program (id %d) on %s%s" % (
                    cur.prog_id, self.ifname,
                    "; its process %d is gone" % owner.pid if owner.pid else ""))
        # A program in the other mode blocks ours: remove it first.
        flags = XDP_FLAGS_SKB_MODE if cur.mode == "skb" else XDP_FLAGS_DRV_MODE
        self.program._BPF.remove_xdp(self.ifname.encode(), flags)

    # -- detach ------------------------------------------------------------
    def detach(self):
        if self._ns_fd is None or self._pid != os.getpid():
            return      # not attached, or a forked worker's inherited copy: the parent detaches
        try:
            with runstate.entered_netns(self._ns_fd), runstate.locked():
                try:
                    cur = attached_program(self.ifindex)
                    if cur.prog_id == self.program.prog_id:
                        self.program._BPF.remove_xdp(self.ifname.encode(), self.flags)
                        forget_owner(self.ifindex)
                except (OSError, XdpError):
                    pass  # interface or namespace already gone: nothing to detach
        finally:
            os.close(self._ns_fd)
            self._ns_fd = None
            atexit.unregister(self.detach)
            self._restore_signal_handlers()

    @property
    def attached(self):
        return self._ns_fd is not None

    def __enter__(self):
        return self.attach() if not self.attached else self

    def __exit__(self, *exc):
        self.detach()

    # -- signals -----------------------------------------------------------
    def _install_signal_handlers(self):
        import threading
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; atexit still runs

        def on_signal(signum, frame):
            # Unwind normally: finally blocks and atexit detach.
            raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                self._old_handlers[sig] = signal.signal(sig, on_signal)
        # SIGINT already raises KeyboardInterrupt, which unwinds too.

    def _restore_signal_handlers(self):
        for sig, old in self._old_handlers.items():
            try:
                signal.signal(sig, old)
            except ValueError:
                pass
        self._old_handlers.clear()
