"""One boot of the test guest: a host namespace with two taps, the kernel
peer in it, QEMU, and the teardown that leaves nothing behind.

  host namespace xvm<id>-host                   guest (QEMU, in that namespace)
    <id>t0 198.19.10.1/24 <-- virtio-net, 1 queue -->  NIC under test 198.19.10.2
    <id>t1 198.19.11.1/24 <-- virtio-net ----------->  control 198.19.11.2: hostpeer.py
    <id>t2 198.19.12.1/24 <-- virtio-net, N queues ->  multi-queue NIC 198.19.12.2

The NIC the stack serves has one queue pair: on virtio-net, attaching
native XDP enables one more queue pair per CPU for XDP_TX when the device
has them, and the tap then hashes some flows into those as RX queues,
where no AF_XDP socket is bound (docs/testing.md).  The multi-queue NIC
is for what status reports of N channels.

Everything made here is registered in a Boot and undone in reverse by
Boot.close(), which also runs on an exception, Ctrl-C and SIGTERM.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (host, guest, prefix) of each NIC
NETS = {"test": ("198.19.10.1", "198.19.10.2", 24),     # the NIC under test, one queue pair
        "ctl": ("198.19.11.1", "198.19.11.2", 24),      # control: the host peer
        "mq": ("198.19.12.1", "198.19.12.2", 24)}       # multi-queue
HOSTPEER_PORT = 7000
GUEST_MAC = {"test": "52:54:00:13:0a:02", "ctl": "52:54:00:13:0b:02", "mq": "52:54:00:13:0c:02"}


def say(msg):
    print("vm: %s" % msg, flush=True)


def sh(*argv, check=True):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True)


def kvm_usable(kernel, timeout=12.0):
    """True when a KVM guest really runs here: /dev/kvm can exist while
    nested guests stall before their first console line, so boot the
    guest kernel with no root for a moment and look for its banner."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "no usable /dev/kvm"
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
                          "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(kernel),
                          "-append", "console=ttyS0 panic=-1 root=/dev/null"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(p.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        if any(b"Linux version" in line for line in seen):
            break
        time.sleep(0.2)
    ok = any(b"Linux version" in line for line in seen)
    exited = p.poll()
    if exited is None:
        p.kill()
    p.wait()
    reader.join(2)
    if ok:
        return True, "a KVM guest printed its banner"
    if exited is not None:          # e.g. "failed to set MSR": KVM there, unusable
        last = seen[-1].decode(errors="replace").strip() if seen else "no output"
        return False, "QEMU with KVM stopped (exit %d) before the guest printed anything: %s" % (exited, last)
    return False, "a KVM guest printed nothing in %.0f s (stalled)" % timeout


class Boot:
    def __init__(self, run_dir, queues=4, vcpus=1, memory_mib=2048):
        self.id = "xvm" + secrets.token_hex(2)
        self.ns = self.id + "-host"
        self.taps = {"test": self.id + "t0", "ctl": self.id + "t1", "mq": self.id + "t2"}
        self.run_dir = Path(run_dir)
        self.queues, self.vcpus, self.memory = queues, vcpus, memory_mib
        self.qemu = None
        self.peer = None
        self._undo = []                       # (what, callable), undone in reverse

    # -- the host side ------------------------------------------------------------
    def _ns(self, *argv):
        return sh("ip", "netns", "exec", self.ns, *argv)

    def make_network(self):
        sh("ip", "netns", "add", self.ns)
        self._undo.append(("namespace %s" % self.ns, lambda: sh("ip", "netns", "del", self.ns, check=False)))
        self._ns("ip", "link", "set", "lo", "up")
        for role, (addr, _guest, plen) in NETS.items():
            tap = self.taps[role]
            extra = ["multi_queue"] if role == "mq" and self.queues > 1 else []
            self._ns("ip", "tuntap", "add", "dev", tap, "mode", "tap", *extra)
            self._undo.append(("tap %s" % tap, lambda t=tap: self._ns_quiet("ip", "link", "del", t)))
            self._ns("ip", "addr", "add", "%s/%d" % (addr, plen), "dev", tap)
            self._ns("ip", "link", "set", tap, "up")
        # the kernel peer as the netns tests have it: offloads off on its side,
        # so frames on the wire are what each side's TCP sent
        for role in ("test", "mq"):
            self._ns_quiet("ethtool", "-K", self.taps[role], "tso", "off", "gso", "off", "gro", "off")

    def _ns_quiet(self, *argv):
        subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True)

    def start_peer(self):
        web = self.run_dir / "peer-www"
        web.mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "hostpeer.log", "w")
        self.peer = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, str(HERE / "hostpeer.py"),
                                      "--addr", NETS["ctl"][0], "--port", str(HOSTPEER_PORT), "--root", str(web)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._undo.append(("host peer pid %d" % self.peer.pid, lambda: self._stop(self.peer, 5)))

    # -- the guest ------------------------------------------------------------------
    def qemu_argv(self, accel, kernel, initrd, disk, cmdline, interactive=False):
        cpu = "host" if accel == "kvm" else "max"
        argv = ["qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-cpu", cpu,
                "-smp", str(self.vcpus), "-m", str(self.memory), "-display", "none", "-no-reboot",
                "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
                "-drive", "file=%s,format=raw,if=virtio,cache=unsafe" % disk,
                "-virtfs", "local,path=%s,mount_tag=vm,security_model=none,id=vm" % self.run_dir,
                "-netdev", "tap,id=nt,ifname=%s,script=no,downscript=no" % self.taps["test"],
                "-device", "virtio-net-pci,netdev=nt,mac=%s" % GUEST_MAC["test"],
                "-netdev", "tap,id=nc,ifname=%s,script=no,downscript=no" % self.taps["ctl"],
                "-device", "virtio-net-pci,netdev=nc,mac=%s" % GUEST_MAC["ctl"],
                # N queue pairs; MSI-X vectors = 2N + 2 (config, control).  No
                # rss=on: QEMU 7.2 then reports a key and table to the guest
                # (ethtool -x) but did not steer by them here (docs/testing.md)
                "-netdev", "tap,id=nm,ifname=%s,script=no,downscript=no%s" % (
                    self.taps["mq"], ",queues=%d" % self.queues if self.queues > 1 else ""),
                "-device", "virtio-net-pci,netdev=nm,mac=%s%s" % (
                    GUEST_MAC["mq"], ",mq=on,vectors=%d" % (2 * self.queues + 2) if self.queues > 1 else "")]
        if interactive:
            argv += ["-serial", "mon:stdio"]
        else:
            argv += ["-serial", "file:%s" % (self.run_dir / "console.log"), "-monitor", "none"]
        return ["ip", "netns", "exec", self.ns] + argv

    def start_qemu(self, argv, interactive=False):
        (self.run_dir / "qemu.argv").write_text(" ".join(argv) + "\n")
        self.qemu = subprocess.Popen(argv, stdin=None if interactive else subprocess.DEVNULL,
                                     stdout=None if interactive else open(self.run_dir / "qemu.log", "w"),
                                     stderr=subprocess.STDOUT if not interactive else None,
                                     start_new_session=not interactive)
        self._undo.append(("qemu pid %d" % self.qemu.pid, lambda: self._stop(self.qemu, 5)))
        return self.qemu

    def follow_console(self, timeout, on_line):
        """Feed the console's lines to on_line until QEMU exits (the guest
        powers off when its tests end) or timeout; returns QEMU's exit code,
        None on timeout."""
        path = self.run_dir / "console.log"
        deadline = time.monotonic() + timeout
        pos, partial = 0, b""
        while True:
            exited = self.qemu.poll() is not None
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
                pos += len(data)
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    on_line(line.decode(errors="replace").rstrip("\r"))
            if exited:
                if partial:
                    on_line(partial.decode(errors="replace"))
                return self.qemu.returncode
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)

    # -- teardown ----------------------------------------------------------------------
    @staticmethod
    def _stop(proc, grace):
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def leftover_pids(self):
        r = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []

    def close(self):
        """Undo everything, last made first; a process still in the
        namespace (one this boot started: QEMU, the peer, its servers) is
        killed by pid before the namespace goes."""
        while self._undo:
            what, undo = self._undo.pop()
            if what.startswith("namespace"):
                for pid in self.leftover_pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                undo()
            except Exception as e:              # keep undoing the rest
                say("teardown: %s: %s" % (what, e))
        left = [n for n in sh("ip", "netns", "list").stdout.split() if n == self.ns]
        if left:
            say("teardown: namespace %s still there" % self.ns)
        return not left

    def __enter__(self):
        # SIGTERM (make killed, CI's timeout) tears down like Ctrl-C does
        self._old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        finally:
            signal.signal(signal.SIGTERM, self._old_term)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def qemu_present():
    return shutil.which("qemu-system-x86_64") is not None
