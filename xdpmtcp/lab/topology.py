"""Lab topologies: hosts in network namespaces joined by veth pairs.

``Lab.create()``         stack <-veth-> peer               (198.18.0.1 / .2)
                         queues=N: an N-queue veth whose peer end emulates
                         a NIC's RSS (lab/rss.py, docs/rss.md)
``Lab.create_inline()``  client <-> monitor <-> server     (198.18.1.1 / .2,
                         the monitor has two interfaces and no addresses)

Every lab gets a unique name (prefix + 6 hex digits) used for its namespaces
("<name>-<role>") and interfaces ("<name><role initial><n>"), so parallel
runs never collide.  A JSON record under /run/xdpmtcp/labs lets another
process list, load and destroy a lab.  The record is written *before* any
namespace exists, so a crash at any point leaves something to clean up.
"""

import atexit
import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import re
import secrets
import subprocess
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from pyroute2 import IPRoute
from pyroute2.ethtool import Ethtool

from . import netns
from ..osutil import pid_alive

log = logging.getLogger(__name__)

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking
DEFAULT_SUBNET = "198.18.0.0/24"
INLINE_SUBNET = "198.18.1.0/24"
RECORD_DIR = "/run/xdpmtcp/labs"
IFNAME_MAX = 15  # IFNAMSIZ minus the terminating NUL
MAX_QUEUES = 64  # veth queues of a pair lab (the XSKMAP default is 64)
NAME_TOKEN_HEX = 6
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*$")
# the longest prefix that still leaves room for the token and "<role><n>"
PREFIX_MAX = IFNAME_MAX - NAME_TOKEN_HEX - 2

# Legacy `ethtool -k` names that must read back off on every lab veth.
# A veth with tx checksum offload emits TCP segments that carry only the
# pseudo-header checksum, and TSO/GSO emit super-frames: the stack on the
# other side would see neither on a real NIC.
REQUIRED_OFF = ("tx-checksumming", "tcp-segmentation-offload",
                "generic-segmentation-offload")
GRO_OFF = ("generic-receive-offload",)


class LabError(RuntimeError):
    """The lab could not be built, loaded or torn down."""


class OffloadError(LabError):
    """The kernel kept an offload on that the lab needs off."""


# ---------------------------------------------------------------- naming

def make_lab_name(prefix: str = "xm", token: Optional[str] = None) -> str:
    """prefix + 6 random hex digits, short enough for interface names."""
    if not _PREFIX_RE.match(prefix) or len(prefix) > PREFIX_MAX:
        raise LabError(f"lab prefix {prefix!r}: want 1-{PREFIX_MAX} "
                       "characters [a-z0-9], starting with a letter")
    token = secrets.token_hex(NAME_TOKEN_HEX // 2) if token is None else token
    return prefix + token


def ns_name_for(lab_name: str, role: str) -> str:
    return f"{lab_name}-{role}"


def ifname_for(lab_name: str, role: str, index: int) -> str:
    """Interface name: lab name, role initial, per-host interface number."""
    name = f"{lab_name}{role[0]}{index}"
    if len(name) > IFNAME_MAX:
        raise LabError(f"interface name {name!r} exceeds {IFNAME_MAX} chars")
    return name


def check_subnet(subnet: str) -> ipaddress.IPv4Network:
    """Parse a lab subnet; it must lie in 198.18.0.0/15 and hold two hosts."""
    try:
        net = ipaddress.IPv4Network(subnet)  # strict: host bits must be 0
    except ValueError as exc:
        raise LabError(f"bad lab subnet {subnet!r}: {exc}") from None
    if not net.subnet_of(LAB_RANGE):
        raise LabError(f"lab subnet {subnet} is outside {LAB_RANGE}")
    if net.prefixlen > 30:
        raise LabError(f"lab subnet {subnet} is too small for two hosts")
    return net


def host_address(subnet: str, n: int) -> Tuple[str, int]:
    """The n-th host address of ``subnet`` and its prefix length."""
    net = check_subnet(subnet)
    if not 0 < n < net.num_addresses - 1:
        raise LabError(f"host number {n} does not fit in {subnet}")
    return str(net.network_address + n), net.prefixlen


# ---------------------------------------------------------------- hosts

@dataclasses.dataclass
class Interface:
    ifname: str
    ifindex: int = 0
    mac: str = ""
    ip: Optional[str] = None
    prefixlen: Optional[int] = None
    peer: str = ""  # "<ns>/<ifname>" of the other veth end


@dataclasses.dataclass
class Host:
    """One namespace of the lab.  The flat fields describe its first
    interface; ``interfaces`` lists all of them (the monitor has two)."""
    name: str  # the role: stack, peer, client, monitor, server
    ns: str
    ifname: Optional[str] = None
    ip: Optional[str] = None
    prefixlen: Optional[int] = None
    mac: Optional[str] = None
    ifindex: Optional[int] = None
    interfaces: List[Interface] = dataclasses.field(default_factory=list)
    gro_off: bool = False  # our code receives here: no coalesced frames
    _procs: List[subprocess.Popen] = dataclasses.field(
        default_factory=list, repr=False, compare=False)

    def enter(self):
        """Context manager moving the current thread into this host."""
        return netns.in_netns(self.ns)

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start a process here; the lab stops it on destroy."""
        proc = netns.popen(self.ns, argv, **kwargs)
        self._procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        return netns.run(self.ns, argv, **kwargs)

    def iproute(self) -> IPRoute:
        """An IPRoute whose socket lives in this namespace (caller closes)."""
        with self.enter():
            return IPRoute()

    def offloads(self, ifname: Optional[str] = None) -> Dict[str, bool]:
        """Current offload state of an interface, legacy and feature names."""
        return read_offloads(self.ns, ifname or self.ifname)

    def _stop_processes(self, grace: float = 1.0) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc in self._procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def to_json(self) -> dict:
        # not dataclasses.asdict: it would deep-copy the Popen objects
        data = {f.name: getattr(self, f.name)
                for f in dataclasses.fields(self) if f.name != "_procs"}
        data["interfaces"] = [dataclasses.asdict(i) for i in self.interfaces]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Host":
        ifaces = [Interface(**i) for i in data.pop("interfaces", [])]
        return cls(interfaces=ifaces, **data)


# ---------------------------------------------------------------- offloads

def _wants_tx_off(feature: str) -> bool:
    return (feature.startswith("tx-checksum-")
            or (feature.startswith("tx-tcp") and feature.endswith("segmentation"))
            or feature == "tx-generic-segmentation")


def read_offloads(ns: str, ifname: str) -> Dict[str, bool]:
    with netns.in_netns(ns), Ethtool() as ethtool:
        state = ethtool.get_features(ifname)
    flags = dict(state.offload_flags)
    flags.update({name: f.enable for name, f in state.features.items()})
    return flags


def disable_offloads(ns: str, ifname: str, gro: bool = False) -> Dict[str, bool]:
    """Turn tx checksum offload, TSO and GSO (and GRO if asked) off, then
    read them back: the kernel silently ignores changes to fixed features."""
    # Ethtool opens its ioctl and generic-netlink sockets in __init__, so it
    # must be constructed inside the namespace.
    with netns.in_netns(ns), Ethtool() as ethtool:
        state = ethtool.get_features(ifname)
        for name, feature in state.features.items():
            if _wants_tx_off(name) or (gro and name == "rx-gro"):
                feature.enable = False
        ethtool.set_features(ifname, state)
    after = read_offloads(ns, ifname)
    required = REQUIRED_OFF + (GRO_OFF if gro else ())
    still_on = [k for k in required if after.get(k)]
    still_on += [k for k, on in after.items()
                 if on and (_wants_tx_off(k) or (gro and k == "rx-gro"))]
    if still_on:
        raise OffloadError(f"{ns}/{ifname}: kernel refused to turn off "
                           + ", ".join(sorted(set(still_on))))
    return after


# ---------------------------------------------------------------- lab

_LIVE: Dict[str, "Lab"] = {}  # labs this process must tear down at exit


@atexit.register
def _destroy_live_labs() -> None:
    for lab in list(_LIVE.values()):
        # a forked child must not tear down its parent's lab
        if lab.owner_pid == os.getpid():
            try:
                lab.destroy()
            except Exception as exc:  # exit path: report, keep going
                log.warning("lab %s: teardown at exit failed: %s", lab.name, exc)


class Lab:
    """A set of namespaces joined by veth pairs.  Use as a context manager,
    or call destroy(); labs created here are also destroyed at exit unless
    created with auto_destroy=False (e.g. by `xdpmtcp lab up`)."""

    def __init__(self, name: str, kind: str, subnet: str, *,
                 hosts: Optional[Dict[str, Host]] = None,
                 namespaces: Optional[List[str]] = None,
                 state: str = "creating", owner_pid: Optional[int] = None,
                 created: Optional[float] = None, auto_destroy: bool = False,
                 queues: int = 1, rss_key: Optional[str] = None):
        self.name = name
        self.kind = kind
        self.subnet = subnet
        self.hosts: Dict[str, Host] = hosts or {}
        self.namespaces: List[str] = namespaces or []
        self.state = state
        self.owner_pid = os.getpid() if owner_pid is None else owner_pid
        self.created = time.time() if created is None else created
        self.auto_destroy = auto_destroy
        self.destroyed = False
        # pair labs: RX/TX queues of each veth end; with more than one, the
        # RSS key (hex) the peer's emulator hashes with, else None
        self.queues = queues
        self.rss_key = rss_key
        self.rss_emulator = None   # this process's handle on it, if it attached it

    # -- construction

    @classmethod
    def create(cls, prefix: str = "xm", subnet: str = DEFAULT_SUBNET, *,
               ipv6: bool = False, auto_destroy: bool = True,
               queues: int = 1) -> "Lab":
        """Two hosts: "stack" (.1, GRO off) and "peer" (.2) on one veth.
        queues > 1: both ends get that many RX and TX queues, and the peer's
        end steers IPv4 TCP frames as RSS with MICROSOFT_KEY and the default
        indirection table would at a NIC (``lab.rss_key``, ``lab.queues``)."""
        if not 1 <= queues <= MAX_QUEUES:
            raise LabError(f"queues={queues}: want 1..{MAX_QUEUES}")
        a, b = host_address(subnet, 1), host_address(subnet, 2)
        lab = cls._begin(prefix, "pair", subnet, auto_destroy)
        lab.queues = queues
        with lab._building():
            stack = lab._add_host("stack", ipv6=ipv6, gro_off=True)
            peer = lab._add_host("peer", ipv6=ipv6)
            lab._add_link(stack, peer, a, b, queues=queues)
            if queues > 1:
                lab._attach_rss_emulator()
        return lab

    def _attach_rss_emulator(self) -> None:
        from ..tcp.rss import MICROSOFT_KEY
        from .rss import RssEmulator
        peer = self.peer
        self.rss_key = MICROSOFT_KEY.hex()
        self.save()
        self.rss_emulator = RssEmulator(peer.ns, peer.ifname, MICROSOFT_KEY,
                                        self.queues).attach()

    @classmethod
    def create_inline(cls, prefix: str = "xm", subnet: str = INLINE_SUBNET, *,
                      ipv6: bool = False, auto_destroy: bool = True) -> "Lab":
        """client (.1) <-> monitor <-> server (.2), one /24 across the
        monitor, which has no addresses and must forward frames itself."""
        c, s = host_address(subnet, 1), host_address(subnet, 2)
        lab = cls._begin(prefix, "inline", subnet, auto_destroy)
        with lab._building():
            client = lab._add_host("client", ipv6=ipv6)
            monitor = lab._add_host("monitor", ipv6=ipv6, gro_off=True)
            server = lab._add_host("server", ipv6=ipv6)
            lab._add_link(client, monitor, c, None)
            lab._add_link(monitor, server, None, s)
        return lab

    @classmethod
    def _begin(cls, prefix: str, kind: str, subnet: str,
               auto_destroy: bool) -> "Lab":
        taken = set(netns.list_names())
        os.makedirs(RECORD_DIR, exist_ok=True)
        for _ in range(16):
            name = make_lab_name(prefix)
            if any(ns.startswith(name + "-") for ns in taken):
                continue
            try:  # O_EXCL claims the name atomically against other processes
                os.close(os.open(_record_path(name),
                                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                break
            except FileExistsError:
                continue
        else:
            raise LabError(f"no free lab name with prefix {prefix!r}")
        lab = cls(name, kind, subnet, auto_destroy=auto_destroy)
        lab.save()
        if auto_destroy:
            _LIVE[name] = lab
        return lab

    @contextlib.contextmanager
    def _building(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.destroy()
            raise
        self.state = "ready"
        self.save()

    def _add_host(self, role: str, *, ipv6: bool = False,
                  gro_off: bool = False) -> Host:
        if any(r[0] == role[0] for r in self.hosts):
            raise LabError(f"role {role!r}: initial clashes in interface names")
        host = Host(name=role, ns=ns_name_for(self.name, role), gro_off=gro_off)
        self.hosts[role] = host
        self.namespaces.append(host.ns)
        self.save()  # record first: a crash now still leaves a trail
        netns.create(host.ns)
        with host.enter():
            if not ipv6:
                # no link-local chatter (RS, MLD, DAD) in captures and rings
                for scope in ("all", "default"):
                    _write_sysctl(f"net/ipv6/conf/{scope}/disable_ipv6", "1")
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0],
                         state="up")
        return host

    def _add_link(self, a: Host, b: Host,
                  addr_a: Optional[Tuple[str, int]],
                  addr_b: Optional[Tuple[str, int]], queues: int = 1) -> None:
        """One veth pair between two hosts; either end may stay unaddressed.
        Works for any number of links per host (the monitor has two).
        queues: RX and TX queues of each end (ethtool -l shows them)."""
        if_a = ifname_for(self.name, a.name, len(a.interfaces))
        if_b = ifname_for(self.name, b.name, len(b.interfaces))
        peer_fd = os.open(netns.path(b.ns), os.O_RDONLY | os.O_CLOEXEC)
        sizes = ({"num_rx_queues": queues, "num_tx_queues": queues}
                 if queues > 1 else {})
        try:
            with a.enter(), IPRoute() as ipr:
                # create the pair in place: no name ever appears in the
                # caller's namespace, so parallel labs cannot clash there
                ipr.link("add", ifname=if_a, kind="veth", **sizes,
                         peer={"ifname": if_b, "net_ns_fd": peer_fd, **sizes})
        finally:
            os.close(peer_fd)
        ends = ((a, if_a, addr_a, f"{b.ns}/{if_b}"),
                (b, if_b, addr_b, f"{a.ns}/{if_a}"))
        for host, ifname, addr, peer in ends:
            host.interfaces.append(Interface(ifname=ifname, peer=peer))
        self.save()
        for host, ifname, addr, _ in ends:
            disable_offloads(host.ns, ifname, gro=host.gro_off)
            self._configure(host, host.interfaces[-1], addr)
        self.save()

    @staticmethod
    def _configure(host: Host, iface: Interface,
                   addr: Optional[Tuple[str, int]]) -> None:
        with host.enter(), IPRoute() as ipr:
            index = ipr.link_lookup(ifname=iface.ifname)[0]
            if addr is not None:
                ipr.addr("add", index=index, address=addr[0], prefixlen=addr[1])
                iface.ip, iface.prefixlen = addr
            ipr.link("set", index=index, state="up")
            link = ipr.link("get", index=index)[0]
        iface.ifindex, iface.mac = index, link.get("address")
        if len(host.interfaces) == 1:
            host.ifname, host.ifindex, host.mac = iface.ifname, index, iface.mac
            host.ip, host.prefixlen = iface.ip, iface.prefixlen

    # -- access

    def host(self, role: str) -> Host:
        try:
            return self.hosts[role]
        except KeyError:
            raise LabError(f"lab {self.name} ({self.kind}) has no {role!r} "
                           "host") from None

    stack = property(lambda self: self.host("stack"))
    peer = property(lambda self: self.host("peer"))
    client = property(lambda self: self.host("client"))
    monitor = property(lambda self: self.host("monitor"))
    server = property(lambda self: self.host("server"))

    def missing_namespaces(self) -> List[str]:
        return [ns for ns in self.namespaces if not netns.exists(ns)]

    @property
    def orphaned(self) -> bool:
        """Its owner meant to tear it down at exit but died first (SIGKILL,
        SIGTERM without a handler): nobody else will."""
        return ((self.auto_destroy or self.state == "creating")
                and not pid_alive(self.owner_pid))

    @property
    def stale(self) -> bool:
        """True when the record no longer matches a usable, owned lab."""
        return (self.state != "ready" and self.state != "creating") \
            or self.orphaned or not self.namespaces \
            or bool(self.missing_namespaces())

    def __repr__(self) -> str:
        return f"<Lab {self.name} {self.kind} {self.state} {self.namespaces}>"

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # -- teardown

    def destroy(self, kill_processes: bool = True) -> None:
        """Remove processes, veths, namespaces and the record.  Safe to call
        twice, from any process, and on half-built or stale labs."""
        errors = []
        for host in self.hosts.values():
            host._stop_processes()
        if self.rss_emulator is not None:   # the filter goes with the veth
            self.rss_emulator.close()
            self.rss_emulator = None
        # namespaces named after this lab but missing from the record
        # (e.g. a corrupt record) are ours too
        ours = list(self.namespaces) + [
            ns for ns in netns.list_names()
            if ns.startswith(self.name + "-") and ns not in self.namespaces]
        for ns in ours:
            if kill_processes:
                netns.kill_all_in(ns)
        for host in self.hosts.values():
            for iface in host.interfaces:
                try:
                    _delete_link(host.ns, iface.ifname)
                except Exception as exc:
                    errors.append(f"{host.ns}/{iface.ifname}: {exc}")
        for ns in ours:
            try:
                netns.remove(ns)
            except Exception as exc:
                errors.append(f"{ns}: {exc}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_record_path(self.name))
        _LIVE.pop(self.name, None)
        self.destroyed = True
        if errors:
            raise LabError(f"lab {self.name}: teardown incomplete: "
                           + "; ".join(errors))

    # -- persistence

    def to_json(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "subnet": self.subnet,
            "state": self.state, "owner_pid": self.owner_pid,
            "created": self.created, "auto_destroy": self.auto_destroy,
            "namespaces": self.namespaces,
            "hosts": [h.to_json() for h in self.hosts.values()],
            "queues": self.queues, "rss_key": self.rss_key,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Lab":
        hosts = [Host.from_json(dict(h)) for h in data.get("hosts", [])]
        return cls(data["name"], data["kind"], data["subnet"],
                   hosts={h.name: h for h in hosts},
                   namespaces=list(data.get("namespaces", [])),
                   state=data.get("state", "ready"),
                   owner_pid=data.get("owner_pid"),
                   created=data.get("created"),
                   auto_destroy=bool(data.get("auto_destroy", False)),
                   queues=int(data.get("queues", 1)),
                   rss_key=data.get("rss_key"))

    def save(self) -> None:
        os.makedirs(RECORD_DIR, exist_ok=True)
        target = _record_path(self.name)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_json(), fh, indent=1)
        os.replace(tmp, target)  # readers never see half a record

    @classmethod
    def load(cls, name: str) -> "Lab":
        """The lab recorded as ``name``; destroy() on it works from any
        process.  Loading never registers an exit-time teardown here."""
        try:
            with open(_record_path(name)) as fh:
                data = json.load(fh)
            return cls.from_json(data)
        except FileNotFoundError:
            raise LabError(f"no lab named {name!r}") from None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("lab record %s is unreadable: %s", name, exc)
            # keep it listable and destroyable: destroy() still finds the
            # namespaces by name and removes the record
            return cls(name, "unknown", "", state="corrupt")

    @classmethod
    def list(cls) -> List["Lab"]:
        """Every recorded lab; check ``.stale`` for ones whose namespaces
        vanished or whose creator died half way."""
        try:
            files = sorted(os.listdir(RECORD_DIR))
        except FileNotFoundError:
            return []
        labs = []
        for fname in files:
            if fname.endswith(".json"):
                with contextlib.suppress(LabError):  # removed meanwhile
                    labs.append(cls.load(fname[:-len(".json")]))
        return labs


def _record_path(name: str) -> str:
    return os.path.join(RECORD_DIR, name + ".json")


def _write_sysctl(key: str, value: str) -> None:
    # /proc/sys/net resolves against the calling thread's namespace
    with contextlib.suppress(FileNotFoundError):  # IPv6 compiled out
        with open("/proc/sys/" + key, "w") as fh:
            fh.write(value)


def _delete_link(ns: str, ifname: str) -> None:
    if not netns.exists(ns):
        return
    with netns.in_netns(ns), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if found:  # already gone when the other end was deleted first
            ipr.link("del", index=found[0])
