"""Captured kernel-to-kernel TCP, and tshark's reading of it: the material
and the independent reference the monitor's reassembly is checked against.

``capture_impaired_transfer`` runs one TCP connection across the impairing
bridge of an inline lab (client sends N bytes, server replies M), with
tcpdump on the client's interface, and returns the capture with the sha256
of what each side really sent and received.  ``tshark_follow`` returns the
two byte streams tshark reassembles for one TCP stream of a capture.
"""

import dataclasses
import os
import re
import select
import signal
import subprocess
import time
from typing import Dict, List, Optional, Tuple

from .impair import impaired_path
from .probes import tcp_transfer

# Kernel buffer tcpdump may use (-B, KiB): enough that a lab transfer at
# full speed is not dropped by the capture, bounded all the same.
CAPTURE_BUFFER_KIB = 65536
# tcpdump's ring hands over a block when it fills or after its timeout
# (1 s): wait that long after the traffic so the last block is written.
_CAPTURE_SETTLE_S = 1.2


class CaptureError(RuntimeError):
    pass


@dataclasses.dataclass
class CapturedTransfer:
    pcap: str
    client_sent: int
    client_sent_sha256: str
    server_sent: int
    server_sent_sha256: str
    client_received_sha256: str     # what the client's application got
    server_received_sha256: str
    capture_drops: int              # tcpdump: "packets dropped by kernel"
    bridge: Dict[str, Dict[str, int]]


def start_capture(host, argv, ready_marker: str = "listening on",
                  timeout: float = 10.0) -> subprocess.Popen:
    """Start a capture program (tcpdump, dumpcap, tshark) on host; returned
    once its stderr says it captures (the line containing ready_marker).
    stderr stays a pipe for the final statistics, so give programs that
    report progress there their quiet flag (-q)."""
    proc = host.popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    seen = ""
    # os.read, not readline: a buffered reader would hide lines from select
    while ready_marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if ready and not chunk:
            break   # exited
        seen += chunk.decode(errors="replace")
    if ready_marker in seen:
        return proc
    proc.kill()
    _, err = proc.communicate()
    raise CaptureError(f"{argv[0]} did not start: {(seen + err).strip()[-1000:]}")


def stop_capture(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """Let the last ring block reach the file, SIGINT the capture program
    (it flushes and prints its statistics) and return its stderr."""
    time.sleep(_CAPTURE_SETTLE_S)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise CaptureError(f"{proc.args[0]} did not stop") from None
    return err or ""


def start_tcpdump(host, ifname: str, pcap_path: str, *, snaplen: int = 0,
                  extra=()) -> subprocess.Popen:
    """tcpdump -w pcap_path on host's ifname, returned once it listens.
    -Z root: the file is written where root put it, whatever its mode."""
    return start_capture(host, ["tcpdump", "-i", ifname, "-s", str(snaplen),
                                "-B", str(CAPTURE_BUFFER_KIB), "-n", "-Z", "root",
                                *extra, "-w", pcap_path])


def stop_tcpdump(proc: subprocess.Popen) -> int:
    """Stop tcpdump; returns how many packets the kernel dropped for it."""
    err = stop_capture(proc)
    m = re.search(r"(\d+) packets? dropped by kernel", err)
    if m is None:
        raise CaptureError(f"tcpdump ended without statistics: {err.strip()[-1000:]}")
    return int(m.group(1))


def tshark_fields(pcap: str, display_filter: str, *fields) -> list:
    """Rows of the named fields of the packets the filter selects."""
    r = subprocess.run(["tshark", "-r", str(pcap), "-Y", display_filter, "-T", "fields",
                        *sum((["-e", f] for f in fields), [])],
                       capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def capture_impaired_transfer(lab, nbytes: int, faults: Optional[str], pcap_path: str,
                              reply_bytes: Optional[int] = None, *, port: int = 5001,
                              seed: int = 1, timeout: float = 120.0) -> CapturedTransfer:
    """Client sends nbytes, server replies reply_bytes (default nbytes // 4)
    across the bridge with ``faults``; the capture is taken on the client's
    interface, so it holds c2s as sent and s2c as impaired."""
    if reply_bytes is None:
        reply_bytes = nbytes // 4
    pcap_path = os.path.abspath(pcap_path)
    client = lab.host("client")
    with impaired_path(lab, faults) as bridge:
        dump = start_tcpdump(client, client.ifname, pcap_path)
        try:
            t = tcp_transfer(client, lab.host("server"), nbytes, reply_bytes,
                             port=port, seed=seed, timeout=timeout)
        finally:
            drops = stop_tcpdump(dump)
    c, s = t["client"], t["server"]
    return CapturedTransfer(
        pcap=pcap_path, client_sent=c["sent"], client_sent_sha256=c["sent_sha256"],
        server_sent=s["sent"], server_sent_sha256=s["sent_sha256"],
        client_received_sha256=c["received_sha256"],
        server_received_sha256=s["received_sha256"],
        capture_drops=drops, bridge=bridge.counters)


@dataclasses.dataclass
class FollowedStream:
    node0: str          # "ip:port" of the side that sent the first packet
    node1: str
    data0: bytes        # node0 -> node1, as tshark reassembled it (gap markers removed)
    data1: bytes        # node1 -> node0
    gaps0: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    gaps1: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    # (offset in the stream, length) of every "[N bytes missing in capture
    # file]" tshark wrote: it skips a hole once the receiver acknowledged
    # past it, writes that marker, and goes on with the data after it


# tshark's chunk for bytes the capture lacks (epan/dissectors/packet-tcp.c)
_MISSING = re.compile(rb"^\[(\d+) bytes missing in capture file\]\x00?$")


def tshark_follow(pcap: str, stream_index: int = 0, *,
                  timeout: float = 600.0) -> FollowedStream:
    """`tshark -q -z follow,tcp,raw,N`: its two reassembled byte streams.
    Lines of hex are node0's data; tab-indented ones are node1's."""
    argv = ["tshark", "-r", pcap, "-q", "-z", f"follow,tcp,raw,{int(stream_index)}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    nodes = {}
    data = (bytearray(), bytearray())
    gaps = ([], [])
    skipped = [0, 0]      # gap bytes so far: stream offset = data + skipped

    def chunk(node, hexline):
        b = bytes.fromhex(hexline.decode())
        m = _MISSING.match(b)
        if m:
            n = int(m.group(1))
            gaps[node].append((len(data[node]) + skipped[node], n))
            skipped[node] += n
        else:
            data[node].extend(b)
    rules = 0
    try:
        for raw in proc.stdout:  # streamed: memory stays ~ the stream size
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"====="):
                rules += 1
                continue
            if rules != 1:
                continue
            m = re.match(rb"Node ([01]): (.*)$", line)
            if m:
                nodes[int(m.group(1))] = m.group(2).decode()
            elif line.startswith(b"\t"):
                chunk(1, line[1:])
            elif line and b":" not in line:
                chunk(0, line)
        err = proc.stderr.read()
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or len(nodes) != 2:
        raise CaptureError(f"tshark follow failed ({proc.returncode}): "
                           f"{err.decode(errors='replace').strip()[-1000:]}")
    if nodes[0] == ":0" and nodes[1] == ":0":
        raise CaptureError(f"{pcap} has no TCP stream {stream_index}")
    return FollowedStream(nodes[0], nodes[1], bytes(data[0]), bytes(data[1]), gaps[0], gaps[1])
