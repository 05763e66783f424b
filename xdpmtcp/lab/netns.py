"""Network-namespace primitives for the lab.

Built on pyroute2.netns (create/remove/setns) rather than the `ip` tool, so the
lab works from plain Python and reports errors as exceptions.

Two ways to act inside a namespace:

* ``in_netns(name)`` moves the *current thread* into the namespace and back.
  setns(2) with CLONE_NEWNET is per thread, so other threads are unaffected.
  Sockets (netlink, AF_XDP, BPF links made through netlink) stay bound to the
  namespace they were created in, even after the thread leaves it.
  Limitation: /sys/class/net keeps showing the namespace of whoever mounted
  /sys (normally the host), because sysfs is tagged at mount time; use
  netlink (pyroute2) or ioctls to look up interfaces from inside a thread.

* ``popen(ns, argv)`` / ``run(ns, argv)`` start a child process in the
  namespace.  By default the child also gets a private mount namespace with a
  fresh sysfs (what ``ip netns exec`` does) so /sys/class/net lists the
  namespace's own interfaces; side effect: mounts below /sys (cgroup, bpffs,
  debugfs, tracefs) are not visible in the child.  Pass ``own_sysfs=False``
  to keep the parent's /sys instead.
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import time
from typing import Iterator, List, Optional, Sequence

from pyroute2 import netns as _pr_netns

NETNS_DIR = _pr_netns.NETNS_RUN_DIR  # /var/run/netns, shared with `ip netns`

_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_SLAVE = 1 << 19
_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class NetnsError(RuntimeError):
    """A namespace is missing, already exists or could not be entered."""


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> List[str]:
    return sorted(_pr_netns.listnetns())


def create(name: str) -> None:
    """Create a named namespace; refuse to adopt an existing one."""
    if exists(name):
        raise NetnsError(f"network namespace {name!r} already exists")
    _pr_netns.create(name)


def remove(name: str) -> bool:
    """Remove a named namespace; return False if it was already gone."""
    if not exists(name):
        return False
    _pr_netns.remove(name)
    return True


def _open(name: str) -> int:
    try:
        return os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(f"network namespace {name!r} does not exist") from None


def _setns(fd: int) -> None:
    # flags=0: pyroute2's default O_CREAT would silently *create* a missing
    # namespace when given a name; with an fd it is irrelevant but explicit.
    _pr_netns.setns(fd, flags=0)


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the body with the current thread inside namespace ``name``."""
    target = _open(name)
    # /proc/thread-self, not /proc/self: the latter is the main thread's
    # namespace, which is wrong when this thread was already elsewhere.
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)


def _private_sysfs() -> None:
    """preexec_fn: give the child a sysfs that matches its namespace."""
    steps = (
        lambda: _libc.unshare(_CLONE_NEWNS),
        # slave, so nothing the child mounts leaks back to the host
        lambda: _libc.mount(b"none", b"/", None, _MS_SLAVE | _MS_REC, None),
        lambda: _libc.umount2(b"/sys", _MNT_DETACH),
        lambda: _libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None),
    )
    for step in steps:
        if step() != 0:
            err = ctypes.get_errno()
            raise OSError(err, "private sysfs: " + os.strerror(err))


def popen(ns: str, argv: Sequence[str], *, own_sysfs: bool = True,
          **kwargs) -> subprocess.Popen:
    """subprocess.Popen(argv, **kwargs) with the child inside ``ns``.

    The calling thread enters the namespace just around fork, so the child
    inherits it; no `ip netns exec` wrapper process is involved.
    """
    user_preexec = kwargs.pop("preexec_fn", None)
    preexec = user_preexec
    if own_sysfs:
        def preexec():
            _private_sysfs()
            if user_preexec is not None:
                user_preexec()
    with in_netns(ns):
        return subprocess.Popen(list(argv), preexec_fn=preexec, **kwargs)


def run(ns: str, argv: Sequence[str], *, timeout: Optional[float] = 30,
        check: bool = True, capture: bool = True, text: bool = True,
        own_sysfs: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Like subprocess.run inside ``ns``; output captured as text by default."""
    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    proc = popen(ns, argv, own_sysfs=own_sysfs, text=text, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:  # timeout or Ctrl-C: never leave the child behind
        proc.kill()
        proc.wait()
        raise
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result


def pids_in(name: str) -> List[int]:
    """PIDs (other than ours) whose main thread lives in namespace ``name``."""
    try:
        st = os.stat(path(name))
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            ps = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue  # exited meanwhile, or a kernel thread we cannot read
        if (ps.st_dev, ps.st_ino) == (st.st_dev, st.st_ino):
            found.append(int(entry))
    return found


def kill_all_in(name: str, grace: float = 1.0) -> List[int]:
    """SIGTERM then SIGKILL every process left in ``name``.

    A process still inside keeps the namespace (and its veth) alive after the
    name is removed, so teardown must not rely on them exiting on their own.
    """
    pids = pids_in(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pids_in(name):
        time.sleep(0.05)
    for pid in pids_in(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids
