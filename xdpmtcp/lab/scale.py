"""Scale experiments against `xdpmtcp serve`: many idle connections from
the kernel's TCP (tools/bench/idle_scale.py, tests/integration/
test_idle_scale.py), and the memory of a process measured from outside.

One source address gives the peer's kernel about 55,000 ports towards one
destination (ip_local_port_range 10000-65000), so ``hold_idle`` adds
addresses to the peer's interface, all inside the lab's subnet of
198.18.0.0/15, and spreads the connections over them."""
import json
import math
import queue
import time

from . import kernel_peers
from .stackproc import StackProcess
from .topology import host_address

PORT = 8080
PORTS_PER_SOURCE = 25000          # asked of one source address (of ~55,000: the kernel's
                                  # connect() searches longer and longer as its ports fill)
FIRST_EXTRA_HOST = 10             # .10, .11, ...: clear of .2 (peer), .3 (floods' attacker), .9 (scapy)
PEER_PORT_RANGE = "10000 65000"


# --- a process's memory, from /proc ------------------------------------------------------------

def proc_status_kib(pid, field="RssAnon"):
    """A /proc/PID/status field in KiB: RssAnon is what the process
    allocated (its libraries' file pages come and go with the machine's
    memory pressure), VmRSS everything resident."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (field, pid))


def settle_rss(pid, seconds=3.0, field="RssAnon"):
    """RSS in bytes once it stops moving (the process finished what it was
    doing), or after seconds."""
    last, end = proc_status_kib(pid, field), time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.3)
        now = proc_status_kib(pid, field)
        if now == last:
            break
        last = now
    return last * 1024


# --- the peer's source addresses ---------------------------------------------------------------

def peer_address(lab, n):
    """The lab subnet's n-th host address on the peer's interface (added
    once; the lab's teardown removes it with the namespace)."""
    ip, prefixlen = host_address(lab.subnet, n)
    r = lab.peer.run(["ip", "-j", "addr", "show", "dev", lab.peer.ifname])
    if '"%s"' % ip not in r.stdout:
        lab.peer.run(["ip", "addr", "add", "%s/%d" % (ip, prefixlen), "dev", lab.peer.ifname], check=True)
    return ip


def peer_sources(lab, n, count=None):
    """Source addresses enough for n connections at once to one port (or
    count of them): the peer's own, then .10, .11, ... (PORTS_PER_SOURCE
    each); widens the peer's ephemeral range."""
    lab.peer.run(["sysctl", "-qw", "net.ipv4.ip_local_port_range=" + PEER_PORT_RANGE], check=True)
    count = count or max(1, math.ceil(n / PORTS_PER_SOURCE))
    return [lab.peer.ip] + [peer_address(lab, FIRST_EXTRA_HOST + i) for i in range(count - 1)]


# --- holding idle connections ------------------------------------------------------------------

def _conn_events(sp, n, timeout):
    """How many connections serve reported finished, waiting for n."""
    seen, end = 0, time.monotonic() + timeout
    while seen < n and time.monotonic() < end:
        try:
            ev = sp.events.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if ev is None:
            break
        seen += ev.get("event") == "conn"
    return seen


def _latest_stats(sp, timeout=5.0):
    """The newest "stats" event serve printed (its --stats-interval)."""
    latest, end = None, time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            ev = sp.events.get(timeout=0.2)
        except queue.Empty:
            if latest is not None:
                return latest
            continue
        if ev is None:
            break
        if ev.get("event") == "stats":
            latest = ev
    return latest


def fd_budget():
    """Connections one client process may hold: its descriptor limit (the
    hard one; this workplace cannot raise it) less some for the rest."""
    import resource
    return max(1000, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 512)


class IdleClients:
    """IDLE_CLIENTS in as many peer processes as the descriptor limit asks
    for (fd_budget each), all stepping together; their lines are summed."""

    def __init__(self, lab, n, steps, wave, timeout, sources, per_process=None):
        per = per_process or fd_budget()
        k = max(1, math.ceil(n / per))
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        self.steps = steps
        self.procs = [kernel_peers.start_idle_clients(lab.peer, lab.stack.ip, PORT, m,
                                                      wave=max(50, wave // k), steps=steps,
                                                      timeout=timeout, sources=sources)
                      for m in shares]
        self.sent = 0

    def read(self):
        """One summed line from every process (the next part, or the close)."""
        total = {}
        for p in self.procs:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("idle clients ended early (rc %s)" % p.wait(10))
            for k, v in json.loads(line).items():
                if isinstance(v, dict):
                    d = total.setdefault(k, {})
                    for kk, vv in v.items():
                        d[kk] = d.get(kk, 0) + vv
                elif k in ("seconds", "nofile"):
                    total[k] = max(total.get(k, 0), v)
                else:
                    total[k] = total.get(k, 0) + v
        total["processes"] = len(self.procs)
        return total

    def go_on(self):
        self.sent += 1
        for p in self.procs:
            try:
                kernel_peers.go_on(p)
            except BrokenPipeError:
                pass

    def finish(self):
        """Let every process close its connections (whatever part it is in)."""
        while self.sent < self.steps:
            self.go_on()

    def wait(self, timeout=60):
        for p in self.procs:
            try:
                p.wait(timeout)
            except Exception:
                p.kill()


def hold_idle(lab, n, *, tcp=(), wave=500, steps=2, backlog=4096, timeout=120.0, settle=3.0,
              stats_interval=1.0, on_held=None, per_process=None):
    """`serve --mode echo` in the lab's stack namespace; n kernel clients
    from the peer connect in ``steps`` equal parts (waves of ``wave``), echo
    a line each and stay idle; RSS of serve (RssAnon) is taken at start and
    after each part, and serve's counters while all n are held; then every
    client closes and serve's final counters are read.  tcp: extra
    ``--tcp KEY=VALUE`` settings (max_concurrency is raised to n when
    lower).  on_held(result) runs while the n connections are held.
    Returns a dict (see the keys below)."""
    from ..tunables import DEFAULTS
    tcp = list(tcp)
    if n > DEFAULTS.max_concurrency and not any(s.startswith("max_concurrency=") for s in tcp):
        tcp.append("max_concurrency=%d" % n)
    args = ["--mode", "echo", "--backlog", backlog, "--stats-interval", stats_interval]
    for s in tcp:
        args += ["--tcp", s]
    sources = peer_sources(lab, n)
    res = {"n": n, "tcp": tcp, "sources": sources, "rss": [], "steps": []}
    with StackProcess(lab.stack, "serve", "-p", PORT, *args) as sp:
        sp.wait_event("ready")
        res["rss"].append(settle_rss(sp.proc.pid, settle))
        peer = IdleClients(lab, n, steps, wave, timeout, sources, per_process)
        try:
            for _ in range(steps):
                res["steps"].append(peer.read())
                res["rss"].append(settle_rss(sp.proc.pid, settle))
                if len(res["steps"]) < steps:
                    peer.go_on()
            res["vm_rss"] = proc_status_kib(sp.proc.pid, "VmRSS") * 1024
            res["held_stats"] = _latest_stats(sp)
            if on_held is not None:
                on_held(res)
        finally:
            peer.finish()
        res["closed"] = peer.read()
        peer.wait(60)
        res["finished"] = _conn_events(sp, n, 60)
        time.sleep(0.5)                                  # the last ACKs arrive
        res["rc"] = sp.stop(30)
        res["final"] = None
        for ev in iter(lambda: sp.events.get(timeout=10), None):
            if ev.get("event") == "engine":
                res["final"] = ev
    held = res["steps"][-1]
    first = res["steps"][0]["connected"]
    rss = res["rss"]
    res["held"] = held
    # the first part reuses memory the process freed at start: the later ones are the cost
    res["rss_per_conn"] = (rss[-1] - rss[1]) / max(1, held["connected"] - first) if steps > 1 else None
    res["rss_per_conn_overall"] = (rss[-1] - rss[0]) / max(1, held["connected"])
    return res


def c_block_cost(max_concurrency):
    """Bytes the C engine spends per connection beyond its buffers: the
    block (struct xc_tcb, one calloc: glibc adds 8 bytes and rounds to 16)
    and its share of the engine's arrays sized by max_concurrency (block
    pointers, free ids, event, output, timer-heap and memory-wait lists:
    28 bytes an id; the 4-tuple table: 16-byte slots, the power of two at
    least twice max_concurrency).  Arrays are calloc'ed: their pages become
    resident as ids are used."""
    from ..tcp.loopback import EnginePair
    with EnginePair(max_concurrency=1) as pair:   # the block is C's: its size comes in the counters
        size = pair.a.c_stats()["tcb_size"]
    chunk = max(32, (size + 8 + 15) & ~15)
    slots = 16
    while slots < 2 * max_concurrency:
        slots <<= 1
    tables = 28 + slots * 16 / max_concurrency
    return {"tcb_struct": size, "tcb_malloc": chunk, "tables": round(tables, 1),
            "total": round(chunk + tables, 1)}


# --- churn: many short connections, as fast as serve takes them ------------------------------

def _drain_stats(sp, latest):
    """The newest "stats" event in the queue (latest if none came)."""
    while True:
        try:
            ev = sp.events.get_nowait()
        except queue.Empty:
            return latest
        if ev is None:
            return latest
        if ev.get("event") == "stats":
            latest = ev
        elif ev.get("event") == "engine":
            latest = dict(ev, final=True)


def churn(lab, count, *, processes=2, concurrency=64, sample=5.0, tcp=(), sources=4, limit=3600.0,
          on_sample=None):
    """`serve --mode echo` in the stack namespace and ``processes`` kernel
    clients in the peer opening count connections in all, at most
    ``concurrency`` each at once: connect, 16 bytes each way, the client
    closes.  Every ``sample`` seconds: serve's RSS and its stats event
    (blocks in use, buffer memory, the port's TX frames in flight, what
    Python tracks).  on_sample(sample) sees each.  Returns the samples,
    the clients' summaries and serve's final engine event."""
    args = ["--mode", "echo", "--backlog", 4096, "--stats-interval", min(1.0, sample),
            "--no-conn-events"]
    for s in tcp:
        args += ["--tcp", s]
    lab.peer.run(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"], check=True)
    srcs = peer_sources(lab, 0, sources)
    res = {"count": count, "processes": processes, "concurrency": concurrency, "samples": [],
           "clients": []}
    with StackProcess(lab.stack, "serve", "-p", PORT, *args) as sp:
        sp.wait_event("ready")
        t0 = time.monotonic()
        procs = [kernel_peers.start_churn_clients(lab.peer, lab.stack.ip, PORT,
                                                  count // processes + (i < count % processes),
                                                  concurrency, limit, srcs) for i in range(processes)]
        progress = [{} for _ in procs]

        def reader(i, p):
            for line in p.stdout:
                progress[i] = json.loads(line)
        import threading
        threads = [threading.Thread(target=reader, args=(i, p), daemon=True) for i, p in enumerate(procs)]
        for t in threads:
            t.start()
        stats = None
        while any(p.poll() is None for p in procs) and sp.proc.poll() is None:
            time.sleep(sample)
            stats = _drain_stats(sp, stats)
            if stats is None:
                continue
            smp = {"t": round(time.monotonic() - t0, 1),
                   "rss_kib": proc_status_kib(sp.proc.pid, "VmRSS"),
                   "rss_anon_kib": proc_status_kib(sp.proc.pid, "RssAnon"),
                   "tcbs_in_use": stats["tcbs_in_use"], "buffer_memory": stats["buffer_memory"],
                   "buffer_cached": stats["c"]["buffer_cached"],
                   "tx_in_flight": stats["port"]["tx_in_flight"],
                   "established": stats["listener"]["established"],
                   "client_ok": sum(p.get("ok", 0) for p in progress), **stats["tracked"]}
            res["samples"].append(smp)
            if on_sample is not None:
                on_sample(smp)
        for t in threads:
            t.join(30)
        res["seconds"] = time.monotonic() - t0
        res["clients"] = progress
        time.sleep(1.0)                                  # the last closes finish
        res["settled"] = _drain_stats(sp, stats)
        res["alive"] = sp.proc.poll() is None
        res["rc"] = sp.stop(60)
        res["final"] = None
        for ev in iter(lambda: sp.events.get(timeout=10), None):
            if ev.get("event") == "engine":
                res["final"] = ev
    res["ok"] = sum(c.get("ok", 0) for c in res["clients"])
    res["fail"] = sum(c.get("fail", 0) for c in res["clients"])
    errors = {}
    for c in res["clients"]:
        for k, v in c.get("errors", {}).items():
            errors[k] = errors.get(k, 0) + v
    res["errors"] = errors
    res["rate"] = res["ok"] / max(1e-9, res["seconds"])
    return res
