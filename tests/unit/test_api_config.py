"""mtcp.conf parsing (every key, errors naming the line) and the calls
around it: mtcp_init, mtcp_getconf/mtcp_setconf, mtcp_destroy,
mtcp_create_context's checks, mtcp_core_affinitize."""
import errno
import os

import pytest

from xdpmtcp.api.config import ConfigError, parse_config
from xdpmtcp.mtcp_api import *  # noqa: F403

SAMPLE = """\
############### mtcp configuration file ###############
# comments and blank lines are fine

io = dpdk                     # mTCP's I/O module: accepted, ignored
port = veth0 veth1
num_cores = 2
max_concurrency = 2000
max_num_buffers = 1000
rcvbuf = 8192
sndbuf = 16384
tcp_timeout = 30
tcp_timewait = 0
stat_print = veth0
congestion = newreno          # a tunable of xdpmtcp/tunables.py
"""


@pytest.fixture(autouse=True)
def fresh_runtime():
    mtcp_destroy()
    yield
    mtcp_destroy()


def test_a_full_file(tmp_path):
    cfg = parse_config(SAMPLE, "mtcp.conf")
    assert cfg.ports == ["veth0", "veth1"] and cfg.num_cores == 2
    assert (cfg.max_concurrency, cfg.max_num_buffers, cfg.rcvbuf, cfg.sndbuf) == (2000, 1000, 8192, 16384)
    assert (cfg.tcp_timeout, cfg.tcp_timewait, cfg.stat_print) == (30.0, 0.0, ["veth0"])
    assert cfg.ignored == [(4, "io", "the I/O is XDP/AF_XDP")]
    t = cfg.tunables()
    assert (t.max_concurrency, t.rcvbuf, t.sndbuf, t.tcp_timeout, t.tcp_timewait) == (2000, 8192, 16384, 30.0, 0.0)
    assert t.buffer_memory_max == 1000 * (8192 + 16384)          # mTCP's pool of max_num_buffers
    assert t.congestion == "newreno"


def test_defaults_and_disabled_timeout():
    cfg = parse_config("port = eth1\ntcp_timeout = -1\n")
    assert cfg.num_cores == 1 and cfg.tunables().tcp_timeout == 0.0
    assert cfg.tunables().buffer_memory_max == cfg.max_concurrency * (cfg.rcvbuf + cfg.sndbuf)


@pytest.mark.parametrize("text,line,words", [
    ("port = eth0\nnum_cpus = 4\n", 2, "unknown key 'num_cpus'"),
    ("port = eth0\n\nnum_cores = four\n", 3, "num_cores = four: bad value"),
    ("port = eth0\nnum_cores = 0\n", 2, "out of range"),
    ("port = eth0\nrcvbuf = -5\n", 2, "rcvbuf"),
    ("port = eth0\nsndbuf = 1k\n", 2, "sndbuf = 1k"),
    ("port = eth0\nmax_concurrency = 0\n", 2, "max_concurrency"),
    ("port = eth0\nmax_num_buffers = x\n", 2, "max_num_buffers"),
    ("port = eth0\ntcp_timeout = soon\n", 2, "tcp_timeout"),
    ("port = eth0\ntcp_timewait = -3\n", 2, "tcp_timewait"),
    ("port = eth0\nstat_print = eth1\n", 2, "stat_print names eth1"),
    ("port = this/is/not/an/interface\n", 1, "not an interface name"),
    ("port = eth0\nport = eth1\n", 2, "given twice (first on line 1)"),
    ("port eth0\n", 1, "expected 'key = value'"),
    ("port =\n", 1, "no value"),
    ("port = eth0\nsack = maybe\n", 2, "sack = maybe"),
    ("port = eth0\ncongestion = vegas\n", 2, "no congestion control named 'vegas'"),
    ("num_cores = 1\n", 0, "no 'port"),
])
def test_errors_name_the_line(text, line, words):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "my.conf")
    msg = str(e.value)
    assert e.value.errno == errno.EINVAL and words in msg
    assert e.value.lineno == line
    assert msg.startswith("[Errno 22] my.conf%s: " % (":%d" % line if line else ""))


def test_mtcp_init_reads_the_file(tmp_path):
    path = tmp_path / "mtcp.conf"
    path.write_text(SAMPLE)
    assert mtcp_init(str(path)) == 0
    conf = mtcp_getconf()
    assert isinstance(conf, mtcp_conf)
    assert (conf.num_cores, conf.max_concurrency, conf.max_num_buffers, conf.rcvbuf_size,
            conf.sndbuf_size, conf.tcp_timeout, conf.tcp_timewait) == (2, 2000, 1000, 8192, 16384, 30, 0)
    conf.num_cores = 1
    conf.rcvbuf_size = 65536
    assert mtcp_setconf(conf) == 0
    again = mtcp_getconf()
    assert (again.num_cores, again.rcvbuf_size) == (1, 65536)
    conf.max_concurrency = 0
    with pytest.raises(OSError) as e:
        mtcp_setconf(conf)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        mtcp_setconf({"num_cores": 1})
    assert e.value.errno == errno.EINVAL


def test_mtcp_init_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        mtcp_init(str(tmp_path / "missing.conf"))
    bad = tmp_path / "bad.conf"
    bad.write_text("port = eth0\nwhat = ever\n")
    with pytest.raises(OSError) as e:
        mtcp_init(str(bad))
    assert e.value.errno == errno.EINVAL and "bad.conf:2" in str(e.value)


def test_calls_before_init_are_einval():
    for call in (mtcp_getconf, lambda: mtcp_create_context(0), lambda: mtcp_setconf(mtcp_conf())):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EINVAL


def test_create_context_checks(tmp_path):
    path = tmp_path / "mtcp.conf"
    path.write_text("port = xmnosuchif0\nnum_cores = 2\n")
    mtcp_init(str(path))
    for core in (-1, 2, "0"):
        with pytest.raises(OSError) as e:
            mtcp_create_context(core)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        mtcp_create_context(0)
    assert e.value.errno == errno.ENODEV and "xmnosuchif0" in str(e.value)


def test_destroy_forgets_the_configuration(tmp_path):
    path = tmp_path / "mtcp.conf"
    path.write_text("port = eth0\n")
    mtcp_init(str(path))
    mtcp_destroy()
    with pytest.raises(OSError):
        mtcp_getconf()


def test_core_affinitize():
    before = os.sched_getaffinity(0)
    try:
        assert mtcp_core_affinitize(0) == 0
        assert os.sched_getaffinity(0) == {0}
        with pytest.raises(OSError) as e:
            mtcp_core_affinitize(4096)
        assert e.value.errno == errno.EINVAL
    finally:
        os.sched_setaffinity(0, before)


def test_register_signal_returns_the_previous_handler():
    import signal
    old = signal.getsignal(signal.SIGUSR1)
    try:
        def handler(signum, frame):
            pass
        assert mtcp_register_signal(signal.SIGUSR1, handler) == old
        assert signal.getsignal(signal.SIGUSR1) is handler
    finally:
        signal.signal(signal.SIGUSR1, old)
