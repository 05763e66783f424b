"""mtcp.conf: the configuration file mtcp_init() reads.

The format is mTCP's: ``key = value`` lines, ``#`` starts a comment.  The
keys are mTCP's (``port``, ``num_cores``, ``max_concurrency``,
``max_num_buffers``, ``rcvbuf``, ``sndbuf``, ``tcp_timeout``,
``tcp_timewait``, ``stat_print``); any field of ``xdpmtcp.tunables`` is
accepted too (e.g. ``congestion = newreno``).  Keys that only mean
something to mTCP's DPDK/netmap I/O (``io``, ``num_mem_ch``, ...) and the
arp/route file keys are accepted and ignored (listed in
``MtcpConfig.ignored``): the kernel's ARP and routing tables are used.
Anything else, and any bad value, raises ConfigError naming the file and
line.
"""
import dataclasses
import errno
import math
import re

from ..tunables import DEFAULTS, Tunables

# mTCP keys with no meaning here: the I/O module, DPDK memory, multi-process
# mode, and the static ARP/route tables (the kernel's are used instead).
IGNORED_KEYS = {
    "io": "the I/O is XDP/AF_XDP",
    "num_mem_ch": "DPDK memory channels",
    "multiprocess": "one process owns each interface queue",
    "arp": "ARP comes from the kernel's neighbour table",
    "arp_file": "ARP comes from the kernel's neighbour table",
    "route": "routes come from the kernel's routing table",
    "route_file": "routes come from the kernel's routing table",
    "cc": "use congestion = cubic|newreno",
    "onvm_serv": "openNetVM only", "onvm_inst": "openNetVM only", "onvm_dest": "openNetVM only",
}

NAME_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")     # an interface name (IFNAMSIZ - 1)


class ConfigError(OSError):
    """A configuration file mtcp_init cannot use; errno EINVAL, the message
    names the file and the line."""

    def __init__(self, path, lineno, message):
        where = "%s:%d" % (path, lineno) if lineno else str(path)
        super().__init__(errno.EINVAL, "%s: %s" % (where, message))
        self.path = path
        self.lineno = lineno


@dataclasses.dataclass
class MtcpConfig:
    ports: list = dataclasses.field(default_factory=list)   # interface names
    num_cores: int = 1
    max_concurrency: int = DEFAULTS.max_concurrency
    max_num_buffers: int = 0          # 0: as max_concurrency
    rcvbuf: int = DEFAULTS.rcvbuf
    sndbuf: int = DEFAULTS.sndbuf
    tcp_timeout: float = 0.0          # seconds; 0 or -1: no idle timeout
    tcp_timewait: float = DEFAULTS.tcp_timewait
    stat_print: list = dataclasses.field(default_factory=list)
    tunables_overrides: dict = dataclasses.field(default_factory=dict)
    ignored: list = dataclasses.field(default_factory=list)   # (lineno, key, why)
    path: str = None

    def tunables(self, base=DEFAULTS):
        """The engine's Tunables for this configuration."""
        nbuf = self.max_num_buffers or self.max_concurrency
        values = dict(max_concurrency=self.max_concurrency, rcvbuf=self.rcvbuf,
                      sndbuf=self.sndbuf, tcp_timeout=max(0.0, self.tcp_timeout),
                      tcp_timewait=self.tcp_timewait,
                      # mTCP's buffer pool: max_num_buffers buffers of each kind
                      buffer_memory_max=nbuf * (self.rcvbuf + self.sndbuf))
        values.update(self.tunables_overrides)
        return dataclasses.replace(base, **values)

    def as_mtcp_conf(self):
        from .structs import mtcp_conf
        return mtcp_conf(num_cores=self.num_cores, max_concurrency=self.max_concurrency,
                         num_ip=0, max_num_buffers=self.max_num_buffers or self.max_concurrency,
                         rcvbuf_size=self.rcvbuf, sndbuf_size=self.sndbuf,
                         tcp_timewait=int(self.tcp_timewait), tcp_timeout=int(self.tcp_timeout))

    def update_from_mtcp_conf(self, conf):
        """mtcp_setconf: take the fields of a struct mtcp_conf (checked)."""
        checks = [("num_cores", conf.num_cores, 1), ("max_concurrency", conf.max_concurrency, 1),
                  ("max_num_buffers", conf.max_num_buffers, 1), ("rcvbuf_size", conf.rcvbuf_size, 1),
                  ("sndbuf_size", conf.sndbuf_size, 1), ("tcp_timewait", conf.tcp_timewait, 0),
                  ("tcp_timeout", conf.tcp_timeout, -1)]
        for name, value, low in checks:
            if value < low:
                raise OSError(errno.EINVAL, "mtcp_conf.%s = %d: must be >= %d" % (name, value, low))
        self.num_cores = conf.num_cores
        self.max_concurrency = conf.max_concurrency
        self.max_num_buffers = conf.max_num_buffers
        self.rcvbuf, self.sndbuf = conf.rcvbuf_size, conf.sndbuf_size
        self.tcp_timewait, self.tcp_timeout = float(conf.tcp_timewait), float(conf.tcp_timeout)


def _int(text, low=None, high=None):
    v = int(text, 0)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError("%d is out of range %s..%s" % (v, low, "" if high is None else high))
    return v


def _seconds(text):
    v = float(text)
    if v < 0 and v != -1:
        raise ValueError("seconds must be >= 0 (or -1 for none)")
    return v


def _names(text):
    names = text.split()
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise ValueError("not an interface name: %s" % ", ".join(bad))
    return names


MTCP_KEYS = {
    "port": ("ports", _names),
    "num_cores": ("num_cores", lambda v: _int(v, 1, 1024)),
    "max_concurrency": ("max_concurrency", lambda v: _int(v, 1, 1 << 24)),
    "max_num_buffers": ("max_num_buffers", lambda v: _int(v, 1, 1 << 24)),
    "rcvbuf": ("rcvbuf", lambda v: _int(v, 1, 1 << 30)),
    "sndbuf": ("sndbuf", lambda v: _int(v, 1, 1 << 30)),
    "tcp_timeout": ("tcp_timeout", _seconds),
    "tcp_timewait": ("tcp_timewait", lambda v: max(0.0, _seconds(v))),
    "stat_print": ("stat_print", _names),
}


U32_MAX = (1 << 32) - 1
MS_MAX = U32_MAX // 1000         # the core keeps these milliseconds as uint32 microseconds

# Bounds of tunable values, so that a bad one is refused where it is read
# (mtcp.conf, --tcp) instead of failing deep in the engine or the core.
# Counts and sizes not listed are 1..U32_MAX; times not listed are >= 0.
TUNABLE_BOUNDS = {
    "umem_frames": (64, 1 << 24),
    "pcap_max_bytes": (0, None),                 # 0: no cap
    "rcvbuf_max": (0, U32_MAX),                  # rcvbuf or less: autotuning off
    "sndbuf_max": (0, U32_MAX),                  # sndbuf or less: autotuning off
    "buffer_memory_max": (1, None),
    "buffer_pool_cache": (0, None),              # 0: no reuse, every block freed
    "tcp_retries": (0, U32_MAX), "syn_retries": (0, U32_MAX),
    "quickack_segs": (0, U32_MAX), "challenge_ack_limit": (0, U32_MAX),
    "gso_max_segs": (0, 64),
    "sndlowat": (0, U32_MAX),
    "busy_poll_us": (0, 1000000),                # 0: sleep at once; at most a second
    "ttl": (1, 255),
    "xdp_syn_rate": (0, U32_MAX),                # 0: XDP answers every SYN with a cookie
    "delack_ms": (0, MS_MAX), "rto_initial_ms": (0, MS_MAX), "rto_min_ms": (0, MS_MAX),
    "rto_max_ms": (0, MS_MAX),
    "metrics_port": (0, 65535),                  # 0: no metrics endpoint
}
CHOICES = {"xdp_mode": ("auto", "native", "skb")}


def port_range(text):
    """(FIRST, LAST) from "FIRST-LAST", both TCP ports, FIRST <= LAST."""
    first, sep, last = text.partition("-")
    try:
        ports = (_int(first, 1, 65535), _int(last, 1, 65535)) if sep else ()
    except ValueError:
        ports = ()
    if not ports or ports[0] > ports[1]:
        raise ValueError("want FIRST-LAST, two ports (1-65535) with FIRST <= LAST")
    return ports


def _within(name, value, default):
    low, high = TUNABLE_BOUNDS.get(name, default)
    if value < low or (high is not None and value > high):
        raise ValueError("must be %s" % ("%d..%d" % (low, high) if high is not None
                                         else ">= %d" % low))
    return value


def tunable_value(name, text):
    """A tunable's value from text (mtcp.conf, --tcp KEY=VALUE), converted to
    its type and checked; ValueError says why not."""
    typ = {f.name: f.type for f in dataclasses.fields(Tunables)}[name]
    if name == "congestion":
        from .._core import lib
        if lib.xc_cc_by_name(text.encode()) < 0:
            raise ValueError("no congestion control named %r" % text)
    if name in CHOICES and text not in CHOICES[name]:
        raise ValueError("want one of %s" % ", ".join(CHOICES[name]))
    if typ is bool:
        low = text.lower()
        if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError("want yes/no")
        return low in ("1", "true", "yes", "on")
    if name == "rss_key":                        # hex bytes, checked here to name the line
        from ..tcp.rss import parse_key
        parse_key(text)
        return text
    if typ is tuple:                             # ephemeral_ports
        return port_range(text)
    if name == "metrics_addr":
        import ipaddress
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError("want an IPv4 address") from None
    if typ is int:
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError("not a whole number") from None
        return _within(name, value, (1, U32_MAX))
    if typ is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return _within(name, value, (0, None))
    return typ(text)


def parse_config(text, path="<config>"):
    """An MtcpConfig from the text of a configuration file."""
    cfg = MtcpConfig(path=str(path))
    tunable_names = {f.name for f in dataclasses.fields(Tunables)}
    seen = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not key:
            raise ConfigError(path, lineno, "expected 'key = value', got %r" % raw.strip())
        if not value:
            raise ConfigError(path, lineno, "%s: no value" % key)
        if key in seen:
            raise ConfigError(path, lineno, "%s given twice (first on line %d)" % (key, seen[key]))
        seen[key] = lineno
        try:
            if key in MTCP_KEYS:
                attr, conv = MTCP_KEYS[key]
                setattr(cfg, attr, conv(value))
            elif key in IGNORED_KEYS:
                cfg.ignored.append((lineno, key, IGNORED_KEYS[key]))
            elif key in tunable_names:
                cfg.tunables_overrides[key] = tunable_value(key, value)
            else:
                raise ConfigError(path, lineno, "unknown key %r (mTCP keys: %s; or a tunable of "
                                  "xdpmtcp/tunables.py)" % (key, ", ".join(sorted(MTCP_KEYS))))
        except ValueError as e:
            raise ConfigError(path, lineno, "%s = %s: bad value (%s)" % (key, value, e)) from None
    if not cfg.ports:
        raise ConfigError(path, 0, "no 'port = <interface>' line: which interface should the stack use?")
    unknown_stat = [n for n in cfg.stat_print if n not in cfg.ports]
    if unknown_stat:
        raise ConfigError(path, seen["stat_print"], "stat_print names %s, not in 'port'"
                          % ", ".join(unknown_stat))
    try:
        cfg.tunables()          # overrides must make a valid combination
    except (TypeError, ValueError) as e:
        raise ConfigError(path, 0, str(e)) from None
    return cfg


def decode_config(data, path="<config>"):
    """The text of a configuration file's bytes; ConfigError naming the line
    of the first byte that is not text (mTCP's files are ASCII)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(path, 1, "UTF-16 text (it starts with a byte-order mark); "
                          "save it as UTF-8 or ASCII")
    bad, why = data.find(b"\0"), "a NUL byte"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if bad < 0 or e.start < bad:
            bad, why = e.start, "byte 0x%02x is not UTF-8" % data[e.start]
    if bad >= 0:
        raise ConfigError(path, data.count(b"\n", 0, bad) + 1,
                          "%s: binary data, not a configuration file" % why)
    return text


def load_config(path):
    """Read and parse a configuration file (FileNotFoundError if missing)."""
    with open(path, "rb") as f:
        return parse_config(decode_config(f.read(), path), path)
