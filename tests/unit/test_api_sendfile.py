"""mtcp_sendfile over the in-memory link (a file read by C straight into
the send buffer), its errnos, TCP super-segments cut by the port
(gso_max_segs): what crosses the wire is MSS-sized segments with good
checksums, and the bytes arrive whole; send-buffer autotuning."""
import errno
import hashlib
import os
import socket

import pytest

from api_helpers import conn_of, connected, errno_of, pair, tap, tcp_frames  # noqa: F401
from xdpmtcp.api.loopback import ContextPair
from xdpmtcp._core import lib
from xdpmtcp.mtcp_api import (AF_INET, SO_SNDBUF, SOCK_STREAM, SOL_SOCKET, mtcp_close,
                              mtcp_epoll_create1, mtcp_pipe, mtcp_read, mtcp_sendfile,
                              mtcp_setsockopt, mtcp_socket, mtcp_write)


@pytest.fixture
def data_file(tmp_path):
    data = os.urandom(3_000_000 + 77)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def read_all(ctx, fd, into):
    """Append what fd has to read now to into."""
    while True:
        try:
            into.extend(mtcp_read(ctx, fd, 1 << 20))
        except BlockingIOError:
            return


def send_file_and_read(pair, srv, cli, fd, offset, count):
    """sendfile offset..offset+count from a to b (non-blocking, as epserver
    does) while b reads; returns what b read."""
    a, b = pair.a, pair.b
    got = bytearray()
    sent = 0

    def step():
        nonlocal sent
        while sent < count:
            try:
                n = mtcp_sendfile(a, srv, fd, offset + sent, count - sent)
            except BlockingIOError:
                break
            assert n > 0
            sent += n
        read_all(b, cli, got)
        return sent == count and len(got) == count
    assert pair.run_until(step, 30)
    return bytes(got)


def test_sendfile_delivers_the_file(pair, data_file):
    fd, data = data_file
    _, srv, cli = connected(pair)
    got = send_file_and_read(pair, srv, cli, fd, 0, len(data))
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert os.lseek(fd, 0, os.SEEK_CUR) == 0                     # the file position is left alone


def test_sendfile_from_an_offset_and_at_the_end(pair, data_file):
    fd, data = data_file
    _, srv, cli = connected(pair)
    got = send_file_and_read(pair, srv, cli, fd, 1_000_001, 500_000)
    assert got == data[1_000_001:1_500_001]
    assert mtcp_sendfile(pair.a, srv, fd, len(data), 10) == 0     # end of file: 0, as Linux
    n = mtcp_sendfile(pair.a, srv, fd, len(data) - 5, 100)         # fewer where the file ends
    assert n == 5


def test_sendfile_errnos(pair, data_file, tmp_path):
    a = pair.a
    fd, _ = data_file
    _, srv, _ = connected(pair)
    closed = os.open(tmp_path / "body.bin", os.O_RDONLY)
    os.close(closed)
    with pytest.raises(OSError) as e:
        mtcp_sendfile(a, srv, closed, 0, 10)                       # not an open file
    assert errno_of(e) == errno.EBADF
    cases = [((srv, -5, 0, 10), errno.EBADF),
             ((srv, fd, -1, 10), errno.EINVAL),                    # negative offset or count
             ((srv, fd, 0, -1), errno.EINVAL),
             ((srv, fd, 1 << 63, 1), errno.EINVAL),
             ((srv, fd, "0", 1), errno.EINVAL),
             ((srv, 9999, 0, 10), errno.EBADF)]
    dirfd = os.open(tmp_path, os.O_RDONLY)
    try:
        cases.append(((srv, dirfd, 0, 10), errno.EINVAL))          # cannot be read at an offset
        wonly = os.open(tmp_path / "w.bin", os.O_WRONLY | os.O_CREAT)
        cases.append(((srv, wonly, 0, 10), errno.EBADF))           # not open for reading
        r, w = os.pipe()
        os.write(w, b"abc")
        cases.append(((srv, r, 0, 3), errno.EINVAL))               # a pipe has no offsets
        for args, want in cases:
            with pytest.raises(OSError) as e:
                mtcp_sendfile(a, *args)
            assert errno_of(e) == want, args
    finally:
        os.close(dirfd)
        os.close(wonly)
        os.close(r)
        os.close(w)
    fresh = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(OSError) as e:
        mtcp_sendfile(a, fresh, fd, 0, 10)
    assert errno_of(e) == errno.ENOTCONN
    ep = mtcp_epoll_create1(a, 0)
    pr, pw = mtcp_pipe(a)
    for desc in (ep, pw):
        with pytest.raises(OSError) as e:
            mtcp_sendfile(a, desc, fd, 0, 10)
        assert errno_of(e) == errno.ENOTSOCK
    with pytest.raises(OSError) as e:
        mtcp_sendfile(a, 4000, fd, 0, 10)
    assert errno_of(e) == errno.EBADF
    a.table.get(srv).shutdown(socket.SHUT_WR)
    with pytest.raises(OSError) as e:
        mtcp_sendfile(a, srv, fd, 0, 10)
    assert errno_of(e) == errno.EPIPE
    mtcp_close(a, fresh)


def test_sendfile_full_buffer_is_eagain(pair, data_file):
    a = pair.a
    fd, data = data_file
    _, srv, _ = connected(pair)
    total = 0
    with pytest.raises(BlockingIOError):
        for _ in range(100):                                       # b never reads
            total += mtcp_sendfile(a, srv, fd, total, len(data) - total)
    assert 0 < total < len(data)


@pytest.mark.parametrize("gso", [44, 0])
def test_super_segments_leave_as_mss_segments(tmp_path, data_file, gso):
    """The port cuts super-segments before its pcap tap: every frame on
    the wire carries at most one MSS, checksums are good (b's port checks
    them), sequence numbers and IP IDs run on, and the bytes arrive."""
    fd, data = data_file
    with ContextPair(tcp_timewait=0.2, gso_max_segs=gso) as pair:
        pcap = tmp_path / "a.pcap"
        tap(pair, pcap, side="a")
        _, srv, cli = connected(pair)
        got = send_file_and_read(pair, srv, cli, fd, 0, len(data))
        assert got == data
        stats_a, stats_b = pair.engines.port_a.stats(), pair.engines.port_b.stats()
        mss = conn_of(pair.a, srv).c_info().snd_mss
        frames = tcp_frames(pair, pcap, side="a")
    assert stats_b["rx_bad_tcp_csum"] == 0 and stats_b["rx_bad_ip_csum"] == 0
    assert (stats_a["tx_gso_frames"] > 0) == (gso > 1)
    assert stats_a["tx_gso_kernel"] == 0                           # a memlink cuts in user space
    sent = [f for f in frames if f.ip.src == "198.18.0.1" and f.tcp.payload]
    assert sent and max(len(f.tcp.payload) for f in sent) == mss
    ids = [f.ip.ident for f in sent]
    assert all((b - a) & 0xffff == 1 for a, b in zip(ids, ids[1:]))   # one ID per segment
    seqs = sorted(f.tcp.seq for f in sent)
    assert len(set(seqs)) == len(seqs)                             # no segment twice (no loss here)


@pytest.mark.parametrize("fixed", [False, True])
def test_send_buffer_autotunes_unless_so_sndbuf(pair, fixed):
    """A writer that keeps the buffer full while cwnd passes half of it gets
    a larger one (up to sndbuf_max); SO_SNDBUF keeps the size it set."""
    a, b = pair.a, pair.b
    setup = (lambda s: mtcp_setsockopt(a, s, SOL_SOCKET, SO_SNDBUF, 262144)) if fixed else None
    _, srv, cli = connected(pair, server_setup=setup)
    conn = conn_of(a, srv)
    block = os.urandom(1 << 20)
    want = 16 * len(block)
    sent = 0
    got = bytearray()

    def step():
        nonlocal sent
        while sent < want:
            try:
                off = sent % len(block)
                sent += mtcp_write(a, srv, memoryview(block)[off:off + min(len(block) - off, want - sent)])
            except BlockingIOError:
                break
        read_all(b, cli, got)
        return len(got) == want
    assert pair.run_until(step, 60)
    assert bytes(got) == block * 16
    info = conn.c_info()
    if fixed:
        assert info.sndbuf == 262144 and info.flags & lib.XC_TF_SNDBUF_FIXED
    else:
        assert 262144 < info.sndbuf <= pair.a.tunables.sndbuf_max
