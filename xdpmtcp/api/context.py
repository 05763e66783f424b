"""The per-core context: the engine(s) it runs, its descriptor table, and
the loop that blocking calls and epoll_wait drive.

A context owns one RX queue of each interface it runs on (one XDP steering
program, one AF_XDP socket, one TCP engine per interface).  Everything of a
context happens in the thread that made it: no locks on the data path.
Blocking calls and ``epoll_wait`` run the engines while they wait, the way
mTCP's per-core thread would.

Queues: a context for core N serves RX queue N of each of its interfaces;
num_cores may be at most the interface's RX queue count.  Contexts of one
process share the interface's steering program; for scale-out past the
GIL, api/supervisor.py runs each context in a process of its own.  Active
opens take source ports whose replies the NIC's RSS hash puts on the
context's queue (the key from ethtool, or the ``rss_key`` tunable where the
driver cannot report it; docs/rss.md).  Without a key a context past queue
0 still accepts, but its active opens are unpredictable: it says so.
"""
import collections
import errno
import heapq
import ipaddress
import os
import select
import sys
import threading
import time

from pyroute2 import IPRoute
from pyroute2.netns import setns

from ..kernel.channels import rx_queue_count
from ..storage import Memo
from ..tcp import Engine, TcpState
from ..tunables import DEFAULTS
from . import constants as C
from .errors import error
from .sockets import TcpSocket


class DescriptorTable:
    """Small-int descriptors, lowest free first (as POSIX and mTCP hand
    them out), at most ``capacity`` at a time (mTCP: max_concurrency)."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.items = {}
        self._free = []
        self._next = 0

    def __len__(self):
        return len(self.items)

    def full(self):
        return len(self.items) >= self.capacity

    def add(self, obj):
        if self.full():
            raise error(errno.ENFILE, "no descriptor left in this context's pool (%d)" % self.capacity)
        if self._free:
            fd = heapq.heappop(self._free)
        else:
            fd, self._next = self._next, self._next + 1
        obj.fd = fd
        self.items[fd] = obj
        return fd

    def get(self, fd):
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise error(errno.EBADF, "descriptor must be an int, got %r" % (fd,))
        obj = self.items.get(fd)
        if obj is None:
            raise error(errno.EBADF, "descriptor %d is not open in this context" % fd)
        return obj

    def release(self, obj):
        if self.items.get(obj.fd) is obj:
            del self.items[obj.fd]
            heapq.heappush(self._free, obj.fd)

    def values(self):
        return list(self.items.values())


def interface_networks(ifname):
    """The IPv4 networks an interface is directly attached to."""
    import socket as _socket
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            return []
        return [ipaddress.IPv4Network("%s/%d" % (a.get_attr("IFA_ADDRESS"), a["prefixlen"]), strict=False)
                for a in ipr.get_addr(family=_socket.AF_INET, index=idx[0])]


def check_core_queue(ifname, core):
    """EINVAL unless the interface has a queue for core."""
    nq = rx_queue_count(ifname)
    if core >= nq:
        raise error(errno.EINVAL, "%s has %d receive queue%s: there is no queue %d for core %d's "
                    "context (num_cores may be at most %d on it)"
                    % (ifname, nq, "" if nq == 1 else "s", core, core, nq))


class Context:
    """A per-core mTCP context (``mctx``), also the Pythonic entry point:

        with xdpmtcp.Context("eth1") as ctx:
            with ctx.socket() as s:
                s.connect(("198.18.0.2", 80))

    ``iface``: interface name or names (else ``config.ports``); ``engines``:
    run on existing engines instead (tests, the in-memory pair); then
    ``networks`` lists the directly attached networks (default: the /24 of
    each local address).
    """

    def __init__(self, iface=None, *, core=0, config=None, tunables=None, engines=None, force=False,
                 max_sockets=None, stat_print=None, networks=None, name=None):
        self.core = core
        self.closed = False
        self.netifs = []
        self.owns_engines = engines is None
        self._netns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if engines is None:
                names = [iface] if isinstance(iface, str) else list(iface or (config.ports if config else []))
                if not names:
                    raise ValueError("a Context needs an interface (or engines=)")
                tunables = tunables or (config.tunables() if config else DEFAULTS)
                engines = self._open_interfaces(names, core, tunables, force)
                networks = [n for nif in self.netifs for n in interface_networks(nif.ifname)]
                self.name = " ".join(names)
                stat_names = config.stat_print if (config and stat_print is None) else (stat_print or [])
            else:
                self.name = name or "engine"
                networks = networks or [ipaddress.IPv4Network(a + "/24", strict=False)
                                        for e in engines for a in e.local_addrs]
                stat_names = [self.name] if stat_print else []
        except BaseException:
            self._close_interfaces()
            os.close(self._netns_fd)
            raise
        self.engines = list(engines)
        self.tunables = self.engines[0].tunables
        self.networks = list(networks)
        self._destination = Memo(self._destination_verdict)   # ip -> check_destination's verdict
        self.table = DescriptorTable(max_sockets or self.tunables.max_concurrency)
        self.groups = {}                       # (addr or None, port) -> ListenGroup
        self.peers = []                        # contexts whose engines run with ours (in-memory pairs)
        self.source_pool = None                # mtcp_init_rss: source addresses for connect
        self._source_next = 0
        self._owner = threading.get_ident()
        self._cross = collections.deque()      # descriptors woken from other threads
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._wakefd, select.POLLIN)
        self._all_fds = True
        for eng in self.engines:
            if eng.port.fd >= 0:
                self._poller.register(eng.port.fd, select.POLLIN)
            else:
                self._all_fds = False          # an in-memory port: nothing to sleep on
        self._stat_names = set(stat_names)
        self._stat_next = time.monotonic() + 1.0
        self._stat_last = {}
        self.control = None
        if self.netifs:                        # a context on interfaces: `xdpmtcp trace` sees it
            from ..control import publish_endpoint
            self.control = publish_endpoint("mtcp", lambda: list(zip(self.engines, self.netifs)))

    def _open_interfaces(self, names, core, tunables, force):
        from ..netif import NetIf
        engines = []
        for ifname in names:
            check_core_queue(ifname, core)
            nif = NetIf(ifname, queue=core, tunables=tunables, force=force).open()
            self.netifs.append(nif)
            eng = Engine.on_netif(nif, tunables=tunables)   # it caches next hops ...
            eng.resolve.around = self.home_netns           # ... and asks this namespace's kernel
            engines.append(eng)
        return engines

    @property
    def notes(self):
        """One-line remarks for the user about its queues (RSS)."""
        return [note for nif in self.netifs for note in nif.remarks]

    def _close_interfaces(self):
        for nif in self.netifs:
            nif.close()
        self.netifs = []

    def __repr__(self):
        return "<Context core %d on %s: %d descriptors%s>" % (
            self.core, self.name, len(self.table), ", closed" if self.closed else "")

    # -- the loop ---------------------------------------------------------------------------
    def in_owner_thread(self):
        return threading.get_ident() == self._owner

    def adopt_current_thread(self):
        """Make the calling thread the one that runs this context (a
        per-core thread taking over a context made elsewhere)."""
        self._owner = threading.get_ident()

    def wake_from_any_thread(self, desc):
        if self.in_owner_thread():
            desc.wake()
        else:
            self._cross.append(desc)
            os.eventfd_write(self._wakefd, 1)

    def _engines_run(self):
        out = list(self.engines)
        for peer in self.peers:
            out.extend(peer.engines)
        return out

    def _sleep(self, timeout, engines):
        if self._cross or any(e.want_flush for e in engines):
            return
        now = time.monotonic_ns()
        wait = min(eng.wait_budget(timeout, now) for eng in engines)
        if len(engines) == 1:
            wait = engines[0].busy_wait(wait)
        if wait <= 0:
            return
        if self._all_fds and not self.peers:
            self._poller.poll(wait * 1000.0)
        else:
            time.sleep(min(wait, 0.0005))

    def poll(self, timeout=0.0):
        """One batch on every engine, waiting up to timeout seconds for
        frames or a timer first.  Returns frames received."""
        if self.closed:
            raise error(errno.EBADF, "context destroyed")
        engines = self._engines_run()
        if timeout > 0:
            self._sleep(timeout, engines)
        n = 0
        for eng in engines:
            n += eng.poll(0)
        if self._cross:
            try:
                os.eventfd_read(self._wakefd)
            except BlockingIOError:
                pass
            while self._cross:
                self._cross.popleft().wake()
        if self._stat_names:
            self._print_stats()
        return n

    def wait_until(self, predicate, timeout=None):
        """Run the engines until predicate() (True) or timeout seconds (False)."""
        step = self.tunables.poll_step_ms / 1000.0
        deadline = None if timeout is None else time.monotonic() + timeout
        while not predicate():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            self.poll(step if deadline is None else min(step, deadline - now))
        return True

    # -- addresses and ports ------------------------------------------------------------------
    def local_addresses(self):
        return [a for e in self.engines for a in e.local_addrs]

    def owns_address(self, ip):
        return ip in self.local_addresses()

    def engine_for_address(self, ip):
        for eng in self.engines:
            if ip in eng.local_addrs:
                return eng
        return self.engines[0]

    def _sockets_on_port(self, ip, port, exclude):
        for obj in self.table.values():
            if isinstance(obj, TcpSocket) and obj is not exclude and obj.bound and obj.bound[1] == port \
                    and (ip == "0.0.0.0" or obj.bound[0] in ("0.0.0.0", ip)):
                yield obj

    def _conns_on_port(self, ip, port):
        for eng in self.engines:
            for conn in eng.conns.values():
                if conn.local[1] == port and (ip == "0.0.0.0" or conn.local[0] == ip) \
                        and conn.state != TcpState.CLOSED:
                    yield conn

    def port_in_use(self, ip, port, sock, probe=False):
        return any(True for _ in self._sockets_on_port(ip, port, sock)) or \
            any(True for _ in self._conns_on_port(ip, port))

    def check_bind(self, ip, port, sock):
        """EADDRINUSE unless the port is free for sock, as Linux decides:
        SO_REUSEADDR on both allows sharing with sockets that are not
        listening, and with connections still using the port (TIME-WAIT);
        SO_REUSEPORT on both allows anything, listeners included."""
        mine = sock.opts
        for other in self._sockets_on_port(ip, port, sock):
            if mine.reuseport and other.opts.reuseport:
                continue
            if mine.reuseaddr and other.opts.reuseaddr and not other.listening:
                continue
            raise error(errno.EADDRINUSE, "%s:%d is bound by descriptor %d%s"
                        % (ip, port, other.fd, " (listening)" if other.listening else ""))
        if not (mine.reuseaddr or mine.reuseport):
            for conn in self._conns_on_port(ip, port):
                raise error(errno.EADDRINUSE, "%s:%d is used by a connection to %s:%d (%s); "
                            "SO_REUSEADDR allows it" % (ip, port, conn.remote[0], conn.remote[1],
                                                        conn.state.name))

    def port_listening(self, ip, port):
        return any(key[1] == port and (key[0] is None or ip == "0.0.0.0" or key[0] == ip)
                   for key in self.groups)

    def check_destination(self, ip, opts):
        verdict = self._destination(ip)
        if verdict[0]:
            # TCP cannot broadcast; SO_BROADCAST does not change that (Linux: ENETUNREACH)
            raise error(errno.ENETUNREACH, "%s is a broadcast or multicast address" % ip)
        if opts.dontroute and not verdict[1]:
            raise error(errno.ENETUNREACH, "SO_DONTROUTE: %s is not on a directly attached network" % ip)

    def _destination_verdict(self, ip):
        """(a broadcast or multicast address, on a directly attached network)"""
        addr = ipaddress.IPv4Address(ip)
        return (addr.is_multicast or addr.is_unspecified or ip == "255.255.255.255" or
                any(addr == n.broadcast_address and n.prefixlen < 31 for n in self.networks),
                any(addr in n for n in self.networks))

    def route(self, ip, local_ip=None):
        """(engine, source address) for a connection to ip."""
        if local_ip is not None:
            return self.engine_for_address(local_ip), local_ip
        if self.source_pool:
            src = self.source_pool[self._source_next % len(self.source_pool)]
            self._source_next += 1
            return self.engine_for_address(src), src
        if len(self.engines) == 1:
            return self.engines[0], None
        from ..kernel import resolve_next_hop
        with self.home_netns():
            try:
                hop = resolve_next_hop(ip, self.tunables.neighbour_timeout_s)
            except OSError as e:
                raise error(e.errno or errno.ENETUNREACH, str(e)) from None
        for eng, nif in zip(self.engines, self.netifs):
            if nif.ifname == hop.ifname:
                return eng, hop.src_ip if hop.src_ip in eng.local_addrs else None
        raise error(errno.ENETUNREACH, "%s is reached through %s, not an interface of this context"
                    % (ip, hop.ifname))

    def open_connection(self, engine, remote, local_ip, local_port, setup):
        try:
            return engine.connect(remote, local_ip, local_port or None, setup=setup)
        except OSError as e:
            if e.errno is None:          # kernel.RouteError: no route or no neighbour
                raise error(errno.EHOSTUNREACH if "neighbour" in str(e) else errno.ENETUNREACH,
                            str(e)) from None
            raise

    def home_netns(self):
        return _InNetns(self._netns_fd)

    # -- objects ----------------------------------------------------------------------------------
    def new_socket(self):
        return self._add(TcpSocket(self))

    def new_epoll(self):
        from .epoll import Epoll
        return self._add(Epoll(self))

    def new_pipe(self):
        from .pipe import PipeBuffer, PipeEnd
        if len(self.table) + 2 > self.table.capacity:
            raise error(errno.ENFILE, "no two descriptors left in this context's pool")
        buf = PipeBuffer(self.tunables.pipe_buf)
        buf.reader = self._add(PipeEnd(self, buf, True))
        buf.writer = self._add(PipeEnd(self, buf, False))
        return buf.reader, buf.writer

    def _add(self, obj):
        if self.closed:
            raise error(errno.EBADF, "context destroyed")
        self.table.add(obj)
        return obj

    # -- the Pythonic facade ---------------------------------------------------------------------------
    def socket(self, family=C.AF_INET, type=C.SOCK_STREAM, proto=0):
        """A blocking socket object, like socket.socket()."""
        from .facade import Socket
        return Socket._create(self, family, type, proto)

    def epoll(self):
        """An epoll object, like select.epoll()."""
        from .facade import EpollObject
        return EpollObject(self, self.new_epoll())

    def pipe(self):
        """(reader, writer) facade objects over mtcp_pipe."""
        from .facade import PipeObject
        r, w = self.new_pipe()
        return PipeObject(self, r), PipeObject(self, w)

    # -- statistics (stat_print) -------------------------------------------------------------------------
    def _print_stats(self):
        now = time.monotonic()
        if now < self._stat_next:
            return
        elapsed = now - self._stat_next + 1.0
        self._stat_next = now + 1.0
        for k, eng in enumerate(self.engines):
            ifname = self.netifs[k].ifname if k < len(self.netifs) else self.name
            if ifname not in self._stat_names:
                continue
            s = eng.port.stats()
            last = self._stat_last.get(ifname, s)
            self._stat_last[ifname] = s

            def rate(key):
                return (s[key] - last[key]) / elapsed
            print("[CPU %d] %s flows: %d, RX: %.0f pps (err: %d), %.3f Gbps, TX: %.0f pps, %.3f Gbps"
                  % (self.core, ifname, len(eng.conns), rate("rx_frames"),
                     s["rx_bad_ip_csum"] + s["rx_bad_tcp_csum"] + s["rx_malformed"],
                     rate("rx_bytes") * 8 / 1e9, rate("tx_frames"), rate("tx_bytes") * 8 / 1e9),
                  file=sys.stderr, flush=True)

    # -- end -------------------------------------------------------------------------------------------------
    def close(self, drain=1.0):
        """Close every descriptor, let closes finish (up to drain seconds),
        then reset what is left and release the interfaces."""
        if self.closed:
            return
        for obj in self.table.values():
            obj.close()
        if self.control is not None:
            self.control.close()
        if self.owns_engines:
            for eng in self.engines:
                eng.drain(drain)
                eng.close()
        self._close_interfaces()
        self.closed = True
        os.close(self._wakefd)
        os.close(self._netns_fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _InNetns:
    """Run a block in the namespace of an fd (the context's home), when the
    calling thread has moved elsewhere (tests do)."""

    def __init__(self, fd):
        self.fd = fd
        self.back = None

    def __enter__(self):
        here = os.stat("/proc/thread-self/ns/net").st_ino
        if here != os.fstat(self.fd).st_ino:
            self.back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            setns(self.fd, flags=0)

    def __exit__(self, *exc):
        if self.back is not None:
            setns(self.back, flags=0)
            os.close(self.back)
            self.back = None
