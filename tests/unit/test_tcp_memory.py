"""Buffer memory is charged for the storage buffers hold, not for their
size (issue 10): idle connections cost none, data takes blocks from the
engine's pool and drained buffers give them back, and buffer_memory_max
(the pool's limit) drops segments and refuses writes, counted.  The
kernel is the peer in tests/integration/test_tcp_memory_kernel.py."""
import dataclasses
import os

from xdpmtcp._core import ffi, lib
from xdpmtcp.phy import FaultInjector
from xdpmtcp.tcp import Event, TcpState
from xdpmtcp.tcp.loopback import ADDR_A, EnginePair
from xdpmtcp.tunables import DEFAULTS
from xdpmtcp.storage.ring import Ring

PORT = 8080
BUF = 65536


def open_many(p, n, port=PORT):
    lst = p.a.listeners.get((None, port)) or p.a.listen(port, backlog=n)
    clients = [p.b.connect((ADDR_A, port)) for _ in range(n)]
    assert p.run_until(lambda: lst.pending() == n and
                       all(c.state == TcpState.ESTABLISHED for c in clients), 10)
    return [lst.accept() for _ in range(n)], clients


def read_all(conn):
    got = bytearray()
    while True:
        try:
            chunk = conn.recv(1 << 20)
        except BlockingIOError:
            return bytes(got)
        if not chunk:
            return bytes(got)
        got += chunk


def test_idle_connections_hold_no_buffer_storage():
    # a cap that, charged by capacity, admitted 2 connections
    with EnginePair(rcvbuf=BUF, sndbuf=BUF, buffer_memory_max=2 * 2 * BUF) as p:
        servers, clients = open_many(p, 100)
        for eng in (p.a, p.b):
            assert eng.buffer_memory == 0
            assert eng.buffer_capacity == 100 * 2 * BUF             # promised, not held
            assert eng.c_stats()["refused_memory"] == 0
        assert all(s.c_info().rcv_storage == 0 and s.c_info().snd_storage == 0 for s in servers)


def test_data_takes_storage_and_drained_buffers_return_it_to_the_pool():
    with EnginePair(rcvbuf=BUF, sndbuf=BUF) as p:
        (server,), (client,) = open_many(p, 1)
        data = os.urandom(10_000)
        held = 16384                                               # 10,000 bytes: a 16 KiB block
        assert client.send(data) == len(data)
        assert p.b.buffer_memory == held                           # the send buffer, until ACKed
        assert p.run_until(lambda: server.readable_bytes == len(data) and p.b.buffer_memory == 0, 3)
        assert p.a.buffer_memory == held                           # the receive buffer, unread
        assert server.c_info().rcv_storage != 0 and server.c_info().rcv_storage == held
        assert read_all(server) == data
        assert p.a.buffer_memory == 0 and server.c_info().rcv_storage == 0
        pool = p.a.buffer_pool_stats()
        assert pool["bytes_cached"] > 0 and pool["blocks_in_use"] == 0   # kept for the next one
        gets, reused = pool["gets"], pool["reused"]
        # the same exchange again runs on cached blocks: no new allocation
        assert client.send(data) == len(data)
        assert p.run_until(lambda: server.readable_bytes == len(data), 3)
        assert read_all(server) == data
        pool = p.a.buffer_pool_stats()
        assert pool["gets"] - gets == pool["reused"] - reused > 0
        assert pool["peak_in_use"] < 2 * held                      # a block and the one it grew from


def test_keepalive_exchanges_run_on_reused_blocks():
    with EnginePair() as p:                                          # default buffers
        servers, clients = open_many(p, 10)
        for _ in range(20):
            for c in clients:
                c.send(b"GET / HTTP/1.1\r\n\r\n")
            assert p.run_until(lambda: all(s.readable_bytes for s in servers), 3)
            for s in servers:
                read_all(s)
                s.send(b"x" * 3000)
            assert p.run_until(lambda: all(c.readable_bytes == 3000 for c in clients), 3)
            for c in clients:
                read_all(c)
        for eng in (p.a, p.b):
            pool = eng.buffer_pool_stats()
            assert pool["gets"] >= 20 * 10 * 2 - 20                # one block per buffer filled
            assert pool["gets"] - pool["reused"] <= 20              # ... nearly all from the free list
            assert pool["bytes_cached"] <= eng.tunables.buffer_pool_cache
            assert eng.c_stats()["rcvbuf_grown"] == 0                     # a few bytes a request: no autotuning
        p.run_until(lambda: p.a.buffer_memory == 0 and p.b.buffer_memory == 0, 2)
        assert p.a.buffer_memory == 0 and p.b.buffer_memory == 0


def test_receive_storage_cap_drops_segments_and_counts():
    # room for two full receive buffers, not three
    small = dataclasses.replace(DEFAULTS, rcvbuf=BUF, sndbuf=BUF, buffer_memory_max=2 * BUF + BUF // 2,
                                rcvbuf_max=BUF)
    with EnginePair(tunables_a=small, tunables_b=DEFAULTS) as p:
        servers, clients = open_many(p, 3)
        size = 60_000
        data = [os.urandom(size) for _ in clients]
        for c, d in zip(clients, data):
            assert c.send(d) == len(d)
        assert p.run_until(lambda: sum(s.readable_bytes for s in servers) >= 2 * size, 3)
        p.run_for(0.1)
        starved = [s for s in servers if s.readable_bytes < size]
        assert len(starved) == 1
        assert starved[0].counters()["rcv_dropped_memory"] >= 1
        assert p.a.c_stats()["rcv_dropped_memory"] >= 1
        assert p.a.buffer_memory <= small.buffer_memory_max
        assert p.a.buffer_pool_stats()["refused"] >= 1
        # storage comes back when a buffer is read: the sender's retransmission lands
        got = {s.id: read_all(s) for s in servers}

        def whole():
            got[starved[0].id] += read_all(starved[0])
            return len(got[starved[0].id]) == size
        assert p.run_until(whole, 5)
        assert sorted(got.values()) == sorted(data)
        assert clients[servers.index(starved[0])].counters()["retrans_segs"] >= 1


def test_write_refused_at_the_storage_cap_counts_and_wakes_the_writer():
    small = dataclasses.replace(DEFAULTS, rcvbuf=BUF, sndbuf=BUF, buffer_memory_max=2 * BUF + BUF // 2)
    with EnginePair(tunables_a=small, tunables_b=DEFAULTS) as p:
        servers, clients = open_many(p, 3)
        p.port_b.add(FaultInjector.parse("drop=1,direction=rx"))   # nothing is ACKed: storage stays held
        full = BUF - 1000                                            # a 64 KiB block each
        assert servers[0].send(b"a" * full) == full
        assert servers[1].send(b"b" * full) == full
        woken = []
        servers[2].watchers.append(lambda conn, ev: woken.append(ev))
        assert servers[2].send(b"c" * 1000) == 1000                 # a small block still fits
        assert servers[2].send(b"c" * full) == 4096 - 1000           # what that block has room for
        assert servers[2].send(b"c" * full) == 0                     # EAGAIN: no storage
        assert servers[2].counters()["snd_refused_memory"] == 1
        assert p.a.c_stats()["write_refused_memory"] == 1
        assert p.a.buffer_memory == 2 * BUF + 4096
        p.poll()
        assert not woken                                             # nothing came back yet
        servers[0].abort()                                           # its send buffer goes back
        assert p.a.buffer_memory == BUF + 4096
        assert p.run_until(lambda: any(ev & Event.WRITABLE for ev in woken), 1)
        assert servers[2].send(b"c" * full) > 0


def test_admission_counts_storage_not_capacity():
    small = dataclasses.replace(DEFAULTS, rcvbuf=BUF, sndbuf=BUF, buffer_memory_max=3 * BUF)
    with EnginePair(tunables_a=small, tunables_b=DEFAULTS) as p:
        servers, clients = open_many(p, 2)
        fill = BUF - 4096                                          # held in a 64 KiB block
        # one full receive buffer held: a child's 2 buffers, full, still fit
        clients[0].send(os.urandom(fill))
        assert p.run_until(lambda: servers[0].readable_bytes == fill, 3)
        assert p.a.buffer_memory == BUF
        more, _ = open_many(p, 1)
        # two held: a third child would not fit with both its buffers full
        clients[1].send(os.urandom(fill))
        assert p.run_until(lambda: servers[1].readable_bytes == fill, 3)
        late = p.b.connect((ADDR_A, PORT))
        p.run_for(0.2)
        assert late.state != TcpState.ESTABLISHED
        assert p.a.c_stats()["refused_memory"] >= 1
        read_all(servers[0])                                        # a block back: the SYN's retry is admitted
        assert p.run_until(lambda: late.state == TcpState.ESTABLISHED, 3)


def test_pool_caps_its_free_list_and_the_total():
    pool = lib.xc_bufpool_new(4 * BUF, 2 * BUF)
    try:
        st = ffi.new("struct xc_bufpool_stats *")
        blocks = [lib.xc_bufpool_get(pool, BUF) for _ in range(4)]
        assert all(b != ffi.NULL for b in blocks)
        assert lib.xc_bufpool_get(pool, 1) == ffi.NULL               # limit reached: refused
        for b in blocks:
            lib.xc_bufpool_put(pool, b, BUF)
        lib.xc_bufpool_get_stats(pool, st)
        assert (st.bytes_in_use, st.bytes_cached, st.released, st.refused) == (0, 2 * BUF, 2, 1)
        # a new size evicts cached blocks rather than pass the limit
        big = lib.xc_bufpool_get(pool, 4 * BUF)
        assert big != ffi.NULL
        lib.xc_bufpool_get_stats(pool, st)
        assert st.bytes_in_use + st.bytes_cached <= 4 * BUF and st.bytes_cached == 0
        lib.xc_bufpool_put(pool, big, 4 * BUF)                       # beyond cache_max: back to the system
        lib.xc_bufpool_get_stats(pool, st)
        assert st.bytes_cached == 0 and st.released == 5
    finally:
        lib.xc_bufpool_free(pool)


def test_pooled_ring_holds_storage_only_while_it_holds_data():
    pool = lib.xc_bufpool_new(1 << 20, 1 << 20)
    r = Ring(0)
    try:
        assert lib.xc_ring_init_pooled(r.c, 4096, lib.XC_OVERLAP_FIRST, pool) == 0
        assert r.c.buf == ffi.NULL
        assert r.insert(100, b"later") == 0                         # out of order: held
        assert r.c.buf != ffi.NULL
        assert r.insert(0, b"x" * 100) == 105
        assert r.read(1000) == b"x" * 100 + b"later"
        assert r.c.buf == ffi.NULL                                   # empty: given back
        assert r.append(b"abc") == 3 and r.c.buf != ffi.NULL
        assert lib.xc_ring_resize(r.c, 8192) == 0 and r.c.store_cap == 4096   # the window grew, not storage
        assert r.read() == b"abc"
        assert r.c.buf == ffi.NULL and r.c.cap == 8192 and r.c.store_cap == 0
        # storage doubles as data needs it, keeping the bytes
        assert lib.xc_ring_resize(r.c, 1 << 20) == 0
        blob = os.urandom(20_000)
        assert r.append(blob[:5000]) == 5000 and r.c.store_cap == 8192
        assert r.append(blob[5000:]) == 15_000 and r.c.store_cap == 32768
        assert r.read() == blob and r.c.store_cap == 0
        # filled again: the last block's size at once; a small use halves it
        assert r.append(b"x" * 100) == 100 and r.c.store_cap == 32768
        assert r.read() == b"x" * 100
        assert r.append(b"y" * 100) == 100 and r.c.store_cap == 16384
        assert r.read() == b"y" * 100
    finally:
        r.close()
        st = ffi.new("struct xc_bufpool_stats *")
        lib.xc_bufpool_get_stats(pool, st)
        assert st.bytes_in_use == 0
        lib.xc_bufpool_free(pool)
