"""The guest's Debian 12 root filesystem: built once with debootstrap,
cached, brought up to date with the checkout before each boot.

What the cache holds (default /var/cache/xdpmtcp-vm, --cache to move it):
  rootfs/           the guest's tree: minbase + kernel + the kernel's own
                    headers (so BCC finds /lib/modules/$(uname -r)/build)
                    + whatever tools/setup installs, run in a chroot
  rootfs/xdpmtcp/   a copy of the checkout, with the .venv tools/setup made
                    (the guest reaches no network: pip ran in the chroot)
  vmlinuz, initrd   the guest kernel, booted directly by QEMU
  .stamp            what the tree was built from; another value rebuilds

Every boot gets a fresh ext4 disk made from rootfs/ by mke2fs -d (no loop
device, no mount), so nothing a test does in the guest reaches the cache.
"""
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("XDPMTCP_VM_CACHE", "/var/cache/xdpmtcp-vm"))
SUITE = "bookworm"
GUEST_CHECKOUT = "/xdpmtcp"          # where the checkout lives in the guest
# What the guest needs beyond minbase and tools/setup's packages: a kernel
# with its own headers, an init that mounts the checkout (9p modules are in
# the kernel package), ip/ethtool for the init script.
BASE_PACKAGES = ["linux-image-amd64", "linux-headers-amd64", "kmod", "udev",
                 "iproute2", "ethtool", "procps", "ca-certificates"]
# the checkout's files the copy leaves out: made per machine, or too big
COPY_EXCLUDES = [".venv/", "build/", ".git/", "__pycache__/", "*.so", "*.o",
                 "xdpmtcp/_core/_xdpmtcp_core.c", ".pytest_cache/", "*.egg-info/"]
# Bump when the recipe below changes in a way the stamp cannot see.
RECIPE_VERSION = "1"


def say(msg):
    print("vm: %s" % msg, flush=True)


def run(cmd, **kw):
    """A command whose failure ends the build with its own message."""
    try:
        return subprocess.run(cmd, check=True, **kw)
    except subprocess.CalledProcessError as e:
        raise SystemExit("vm: %s failed (exit %d)" % (cmd[0] if isinstance(cmd, list) else cmd, e.returncode))


def host_debian_mirror():
    """The Debian mirror the host's apt uses (deb822 or one-line sources),
    so the image comes from where the host's packages come from."""
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        if not f.is_file() or f.suffix not in ("", ".list", ".sources"):
            continue
        text = f.read_text(errors="replace")
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "/debian" in uris.group(1) \
                    and "security" not in uris.group(1):
                return uris.group(1)
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == SUITE and "security" not in m.group(1):
                return m.group(1)
    return None


def stamp(mirror):
    """What the debootstrapped tree depends on.  Not tools/setup: it runs
    again in the chroot before every boot and installs what it gained."""
    h = hashlib.sha256()
    for part in [RECIPE_VERSION, SUITE, mirror, *BASE_PACKAGES]:
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


# The host's network settings the chroot borrows while it runs (it uses
# the host's network): resolver, CA bundle (a site's TLS proxy), pip config.
# Copied under the chroot's /tmp and removed after, so the image keeps none.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_PIP_CONF = Path("/etc/pip.conf")


@contextmanager
def chroot_mounts(root):
    """proc, sys, dev and the host's network settings inside root, for apt
    and pip; all undone in reverse order whatever happens."""
    done = []
    borrowed = []
    try:
        for fs, target, opts in (("proc", "proc", ["-t", "proc"]), ("sysfs", "sys", ["-t", "sysfs"]),
                                 ("/dev", "dev", ["--bind"]), ("devpts", "dev/pts", ["-t", "devpts"])):
            path = root / target
            path.mkdir(parents=True, exist_ok=True)
            run(["mount", *opts, fs, str(path)])
            done.append(path)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf", follow_symlinks=True)
        for src, name in ((HOST_CA, "host-ca.pem"), (HOST_PIP_CONF, "host-pip.conf")):
            if src.exists():
                shutil.copy(src, root / "tmp" / name)
                borrowed.append(root / "tmp" / name)
        yield
    finally:
        for path in borrowed:
            path.unlink(missing_ok=True)
        for path in reversed(done):
            subprocess.run(["umount", "-l", str(path)])


def in_chroot(root, script, env=None):
    e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    # pip's settings from the environment (an index mirror, timeouts); paths
    # of the host's own file system mean nothing in the chroot
    e.update({k: v for k, v in os.environ.items()
              if k.startswith("PIP_") and k not in ("PIP_FIND_LINKS", "PIP_CERT")})
    if (root / "tmp/host-ca.pem").exists():
        e.update(PIP_CERT="/tmp/host-ca.pem", SSL_CERT_FILE="/tmp/host-ca.pem",
                 REQUESTS_CA_BUNDLE="/tmp/host-ca.pem")
    if (root / "tmp/host-pip.conf").exists():
        e["PIP_CONFIG_FILE"] = "/tmp/host-pip.conf"
    e.update(env or {})
    run(["chroot", str(root), "/bin/bash", "-euo", "pipefail", "-c", script], env=e)


def copy_checkout(root):
    """The checkout as it is (uncommitted changes too) into root/xdpmtcp;
    .venv and build products in the copy stay (rsync --delete skips them)."""
    dest = root / GUEST_CHECKOUT.lstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["rsync", "-a", "--delete"]
    for pat in COPY_EXCLUDES:
        cmd += ["--exclude", pat]
    run(cmd + ["%s/" % REPO, "%s/" % dest])


def build_rootfs(cache, mirror):
    """debootstrap, then tools/setup in a chroot, into rootfs.new, renamed
    rootfs when whole.  A tree whose debootstrap finished is reused by the
    next attempt (the slow half: minutes)."""
    root = cache / "rootfs"
    tmp = cache / "rootfs.new"
    done = tmp / ".debootstrap-done"
    if tmp.exists() and not done.exists():
        say("removing a half-built tree from an earlier run: %s" % tmp)
        shutil.rmtree(tmp)
    if not done.exists():
        say("debootstrap %s from %s into %s (a few minutes)" % (SUITE, mirror, tmp))
        log = cache / "debootstrap.log"
        with open(log, "w") as out:
            rc = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
                                 SUITE, str(tmp), mirror], stdout=out, stderr=subprocess.STDOUT).returncode
        if rc:
            subprocess.run(["tail", "-n", "20", str(log)])
            raise SystemExit("vm: debootstrap failed (exit %d), log: %s" % (rc, log))
        done.write_text(mirror + "\n")
    else:
        say("reusing the debootstrapped tree %s" % tmp)
    # apt inside uses the same mirror as the host
    (tmp / "etc/apt/sources.list").write_text(
        "deb %s %s main\ndeb %s %s-updates main\n" % (mirror, SUITE, mirror, SUITE))
    (tmp / "etc/hostname").write_text("xdpmtcp-vm\n")
    (tmp / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 xdpmtcp-vm\n")
    copy_checkout(tmp)
    with chroot_mounts(tmp):
        say("tools/setup in the chroot: the project's packages, .venv, the C core")
        in_chroot(tmp, "apt-get update -q >/dev/null && cd %s && tools/setup" % GUEST_CHECKOUT)
        in_chroot(tmp, "apt-get clean")
    done.unlink()
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)


@contextmanager
def locked(cache):
    """One user of the cache at a time (two clones running make vm-test
    would copy their checkouts into the same tree): the second waits."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("the image cache %s is in use by another run: waiting" % cache)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def guest_kernel(root):
    """(release, vmlinuz, initrd) of the newest kernel in the tree."""
    kernels = sorted(root.glob("boot/vmlinuz-*"), key=lambda p: [int(x) if x.isdigit() else x
                                                                 for x in re.split(r"[.-]", p.name)])
    if not kernels:
        raise SystemExit("vm: no kernel in %s/boot" % root)
    release = kernels[-1].name[len("vmlinuz-"):]
    return release, kernels[-1], root / "boot" / ("initrd.img-" + release)


def ensure(cache=DEFAULT_CACHE, mirror=None, rebuild=False):
    """The cached tree, built if missing or stale; returns its path."""
    cache.mkdir(parents=True, exist_ok=True)
    mirror = mirror or host_debian_mirror()
    if not mirror:
        raise SystemExit("vm: no Debian %s mirror in the host's apt sources; pass --mirror URL" % SUITE)
    want = stamp(mirror)
    root = cache / "rootfs"
    have = (cache / ".stamp").read_text().strip() if (cache / ".stamp").exists() else None
    if rebuild or have != want or not root.is_dir():
        why = "asked to" if rebuild else "none cached" if have is None else "the recipe changed"
        say("building the image (%s)" % why)
        (cache / ".stamp").unlink(missing_ok=True)
        build_rootfs(cache, mirror)
        (cache / ".stamp").write_text(want + "\n")
    else:
        say("image cached: %s (stamp %s)" % (root, want))
    return root


def refresh_checkout(root):
    """The current checkout into the tree; tools/setup again in the chroot,
    which reinstalls only what changed (the C core when its sources did)."""
    copy_checkout(root)
    with chroot_mounts(root):
        in_chroot(root, "cd %s && tools/setup" % GUEST_CHECKOUT)


def make_disk(root, disk, extra_mib=1024):
    """A fresh ext4 image holding root, for one boot."""
    used = int(subprocess.run(["du", "-sm", "--one-file-system", str(root)], check=True,
                              capture_output=True, text=True).stdout.split()[0])
    size = used + extra_mib
    disk.parent.mkdir(parents=True, exist_ok=True)
    disk.unlink(missing_ok=True)
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "xdpmtcp-vm", "-d", str(root), str(disk), "%dM" % size],
        stdout=subprocess.DEVNULL)
    return size


if __name__ == "__main__":
    sys.exit("use tools/vm/vm (--help)")
