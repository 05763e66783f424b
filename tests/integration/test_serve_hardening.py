"""`xdpmtcp serve` against hostile or careless kernel clients: a reset with
bytes still pending must end that connection only, and a client that
writes without reading meets backpressure, not unbounded buffering."""
import errno
import os

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.stackproc import StackProcess

PORT = 8080
RESET_TEXT = os.strerror(errno.ECONNRESET)


def serve(lab, *args):
    sp = StackProcess(lab.stack, "serve", "-p", PORT, *args)
    sp.wait_event("ready")
    return sp


def _reset_with_pending(lab, mode):
    """One client resets while the server has bytes queued for it."""
    if mode == "echo":
        # writes without reading, so the echo backlog fills, then resets
        return kernel_peers.write_no_read(lab.peer, lab.stack.ip, PORT, 1.0)
    request = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n" if mode == "http" else ""
    res = kernel_peers.reset_reader(lab.peer, lab.stack.ip, PORT, 200_000, request)
    assert res["read"] >= 200_000, res
    return res


def _served_normally(lab, mode, sp, tmp_path):
    if mode == "echo":
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 2_000_000, seed=5)
        assert res["sha256_recv"] == res["sha256_sent"] and res["bytes_recv"] == 2_000_000, res
    elif mode == "http":
        r = lab.peer.run(["curl", "-sS", "--max-time", "10", "http://%s:%d/small.txt" % (lab.stack.ip, PORT)],
                         timeout=30)
        assert r.returncode == 0 and r.stdout == "small\n", r.stderr
    else:
        res = kernel_peers.reset_reader(lab.peer, lab.stack.ip, PORT, 1_000_000)
        assert res["read"] >= 1_000_000, res
        assert sp.wait_event("conn")["error"] == RESET_TEXT


@pytest.mark.parametrize("mode", ["source", "echo", "http"])
def test_client_reset_with_pending_bytes_ends_only_that_connection(lab, mode, tmp_path):
    (tmp_path / "big.bin").write_bytes(os.urandom(20_000_000))
    (tmp_path / "small.txt").write_bytes(b"small\n")
    with serve(lab, "--mode", mode, "--bytes", 50_000_000, "--no-hash", "--root", tmp_path) as sp:
        _reset_with_pending(lab, mode)
        conn = sp.wait_event("conn", timeout=10)
        assert conn["error"] == RESET_TEXT and "failure" not in conn, conn
        if mode != "echo":             # what it sent is in its C counters (fast path included)
            assert conn["counters"]["data_segs_out"] > 100 and conn["counters"]["segs_in"] > 10, conn
        assert sp.proc.poll() is None, sp.output()          # the server lives on
        _served_normally(lab, mode, sp, tmp_path)
        assert sp.proc.poll() is None, sp.output()
        assert sp.stop() == 0
        engine = sp.wait_event("engine", timeout=5)
        assert engine["app_failures"] == 0


def test_echo_client_that_never_reads_meets_backpressure(lab):
    """The kernel holds a few MB for such a client; before backpressure the
    echo app took 130 MB in 3 s.  The bound: the client's own send buffer
    (tcp_wmem max, 4 MB), the stack's receive buffer at its autotuning
    ceiling and send buffer, and the app's backlog."""
    with serve(lab, "--mode", "echo") as sp:
        res = kernel_peers.write_no_read(lab.peer, lab.stack.ip, PORT, 3.0)
        assert 0 < res["sent"] < 16_000_000, res
        conn = sp.wait_event("conn", timeout=10)
        assert conn["error"] == RESET_TEXT
        assert sp.proc.poll() is None, sp.output()
