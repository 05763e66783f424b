"""`xdpmtcp ... | head`: a reader that leaves early ends the command
quietly (no BrokenPipeError traceback), whichever verb was writing."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_into_closed_pipe(argv):
    """Run `python -m xdpmtcp ARGV` with stdout a pipe nobody reads: the
    read end is closed before the command starts, so its first write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "xdpmtcp"] + argv, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [["--help"], ["lab", "status", "--json"], ["lab", "status"],
                                  ["monitor", "--help"]], ids=" ".join)
def test_closed_stdout_ends_quietly(argv):
    r = run_into_closed_pipe(argv)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.returncode == 141


def test_monitor_help_line_says_live_works():
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("monitor"))
    assert "live later" not in line and "live" in line


def test_monitor_writing_its_log_into_a_closed_pipe_ends_quietly(tmp_path):
    """`xdpmtcp monitor --pcap CAPTURE --json | head -1`: the conn.log lines go to
    stdout while the capture is read, and a reader gone then is the same
    quiet end, not "xdpmtcp: [Errno 32] Broken pipe"."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from montraffic import ACK, PSH, Conv
    from pcapgen import pcap_file
    frames = []
    for port in range(40000, 40050):                   # 50 connections, a log line each
        cv = Conv(cport=port)
        frames += cv.handshake() + [cv.c(ACK | PSH, b"data")] + cv.close()
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap_file([(1_000_000_000 + i * 1000, f) for i, f in enumerate(frames)]))
    r = run_into_closed_pipe(["monitor", "--pcap", str(path), "--json"])
    assert "Broken pipe" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 141
