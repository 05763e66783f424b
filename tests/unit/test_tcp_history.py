"""The Zeek-style history C keeps per connection (tcp/tcp_history.c), read
through xc_tcp_info: the letters Zeek's conn.log would write."""
from xdpmtcp._core import ffi
from xdpmtcp.tcp.loopback import ADDR_A, EnginePair


def history(conn):
    info = conn.final_info if conn.released else conn.c_info()
    return ffi.string(info.history).decode()


def opened(p, port=7000):
    lst = p.a.listen(port)
    client = p.b.connect((ADDR_A, port))
    assert p.run_until(lambda: lst.pending(), 3)
    return client, lst.accept()


def test_an_ordinary_connection_reads_as_zeek_writes_it():
    with EnginePair() as p:
        client, server = opened(p)
        assert history(client) == history(server) == "ShA"
        client.send(b"x" * 3000)
        assert p.run_until(lambda: server.readable_bytes == 3000, 3)
        server.recv(5000)
        server.send(b"y" * 10)
        assert p.run_until(lambda: client.readable_bytes == 10, 3)
        client.recv(100)
        client.close()
        assert p.run_until(lambda: server.eof, 3)
        server.close()
        p.run_for(0.1)
        # upper case: the client's segments, from whichever side looks
        assert history(client) == history(server) == "ShADadFf"


def test_a_reset_and_a_passive_side():
    with EnginePair() as p:
        client, server = opened(p)
        server.abort()
        assert p.run_until(lambda: client.error, 3)
        assert history(server) == "ShAr" and history(client) == "ShAr"


def test_retransmissions_and_zero_windows_are_noted():
    with EnginePair(rcvbuf=4096, rcvbuf_max=0) as p:
        client, server = opened(p)
        p.faults("drop=0.3,seed=3", side="a")          # the server loses some of the client's data
        client.send(b"z" * 20000)
        p.run_for(1.5)                                  # the 4 KiB window fills: nobody reads
        h = history(client)
        assert "T" in h and "w" in h, h                 # client retransmitted; server's window closed
        assert h.startswith("ShAD")
