"""BCC build of bpf/xdp_steer.c and access to its maps."""
import ctypes as ct
import os
import re
import struct

from .._core import lib
from ..wire.addr import ip_be, ip_str, port_be, port_str
from .bcc_env import BPF_DIR, kernel_headers_note

PROG_NAME = "xdpmtcp_steer"
MONITOR_PROG_NAME = "xdpmtcp_monitor"
# programs xdpmtcp attaches: one found on an interface is ours (maybe stale)
OUR_PROGRAMS = (PROG_NAME, MONITOR_PROG_NAME)
COUNTER_NAMES = {
    lib.XM_CNT_SEEN: "seen",
    lib.XM_CNT_REDIRECTED: "redirected",
    lib.XM_CNT_PASSED: "passed",
    lib.XM_CNT_MALFORMED: "malformed",
    lib.XM_CNT_NO_SOCKET: "no_socket",
    lib.XM_CNT_SYN_COOKIES: "syn_cookies",
    lib.XM_CNT_COOKIE_RSTS: "cookie_rsts_dropped",
    lib.XM_CNT_SYN_ANSWER_FAILED: "syn_answer_failed",
}


class XdpError(RuntimeError):
    pass


def _source_with_helpers(src_name):
    """The program's text with bpf/xdp_*.h pasted in: BCC rewrites map
    calls (``counters.lookup``) only in its main text, not in headers."""
    lines = []
    for line in (BPF_DIR / src_name).read_text().splitlines():
        m = re.match(r'#include "(xdp_\w+\.h)"', line.strip())
        lines.append((BPF_DIR / m.group(1)).read_text() if m else line)
    return "\n".join(lines) + "\n"


class BccXdpProgram:
    """An XDP program of ours built by BCC: its XSKMAP and counters."""
    counter_names = COUNTER_NAMES      # index in the counters map -> name

    def __init__(self, src_name, func_name, cflags):
        self.headers_note = kernel_headers_note()
        from bcc import BPF  # imported late: only here is BCC needed
        self._BPF = BPF
        # Some kernels' verifiers refuse bpf_xdp_adjust_meta in XDP programs;
        # everything the metadata carries the core can compute from the frame.
        self.metadata = bool(lib.xc_xdp_meta_supported())
        self.metadata_note = None if self.metadata else (
            "this kernel refuses bpf_xdp_adjust_meta in XDP programs: frames carry no "
            "XDP metadata and the core classifies them")
        self._build(src_name, func_name, cflags if self.metadata else [*cflags, "-DXM_NO_META"])
        self._xsks = self.bpf[b"xsks"]
        self._counters = self.bpf[b"counters"]
        self.prog_id = lib.xc_prog_id(self.fn.fd)

    def _build(self, src_name, func_name, cflags):
        BPF = self._BPF
        try:
            self.bpf = BPF(text=_source_with_helpers(src_name).encode(),
                           cflags=["-I%s" % BPF_DIR, "-w", *cflags])
            self.fn = self.bpf.load_func(func_name.encode(), BPF.XDP)
        except Exception as e:  # BCC raises bare Exceptions; the verifier's log is on stderr
            raise XdpError("cannot build the XDP program %s: %s" % (src_name, e)) from e

    def bind_socket(self, queue, fd):
        self._xsks[ct.c_int(queue)] = ct.c_int(fd)

    def unbind_socket(self, queue):
        try:
            del self._xsks[ct.c_int(queue)]
        except KeyError:
            pass

    def counters(self):
        out = {}
        for idx, name in self.counter_names.items():
            out[name] = sum(int(v) for v in self._counters[ct.c_int(idx)])
        return out

    def close(self):
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None


class SteeringProgram(BccXdpProgram):
    """Compiled and loaded (not yet attached) steering program."""

    def __init__(self, max_flows=262144, max_listen=1024, max_queues=64):
        super().__init__("xdp_steer.c", PROG_NAME, [
            "-DXM_MAX_FLOWS=%d" % max_flows, "-DXM_MAX_LISTEN=%d" % max_listen,
            "-DXM_MAX_QUEUES=%d" % max_queues])
        self._listen = self.bpf[b"listen_ports"]
        self._flows = self.bpf[b"flows"]
        self._ephemeral = self.bpf[b"ephemeral"]
        self.ephemeral = None              # (lo, hi) steered as a range
        self._syn_conf = self.bpf[b"syn_conf"]
        self.syn_answer_stopped = False    # by SynAnswerGuard: the interface drops XDP_TX

    # -- owned ports and flows --------------------------------------------------
    def _listen_key(self, addr, port):
        k = self._listen.Key()
        k.addr, k.port, k.pad = ip_be(addr), port_be(port), 0
        return k

    def own_listen(self, port, addr=None, syn_answer=None):
        """Steer TCP to (addr or any local address, port) to the stack.
        syn_answer (our MSS, SYN-ACK window): SYNs over the budget of
        answer_syns are answered in XDP with cookies; None: never."""
        mss, window = syn_answer or (0, 0)
        self._listen[self._listen_key(addr, port)] = self._listen.Leaf(mss, min(window, 65535))

    def answer_syns(self, cookie_key, rate, burst, ttl):
        """Let the program answer SYNs with cookies keyed by cookie_key (16
        bytes, the C core's) beyond rate SYNs per second per CPU (saving
        up at most burst); rate 0: it answers every SYN."""
        k0, k1 = struct.unpack("=QQ", cookie_key)
        cost_ns = 10**9 // rate if rate > 0 else 1 << 62
        conf = self._syn_conf.Leaf(k0, k1, cost_ns, cost_ns * max(1, burst) if rate > 0 else 0, ttl, 0)
        self._syn_conf[ct.c_int(0)] = conf

    def stop_answering_syns(self):
        """Every SYN to the stack again (a zero key turns answering off)."""
        self._syn_conf[ct.c_int(0)] = self._syn_conf.Leaf()
        self.syn_answer_stopped = True

    def counters(self):
        out = super().counters()
        out["syn_answer_stopped"] = int(self.syn_answer_stopped)
        return out

    def release_listen(self, port, addr=None):
        try:
            del self._listen[self._listen_key(addr, port)]
        except KeyError:
            pass

    def own_ephemeral(self, lo, hi):
        """Steer every TCP frame to a local port in lo..hi to the stack: the
        range reserved with the kernel, so active opens from it need no
        flows entry (two bpf() calls per connection fewer)."""
        self._ephemeral[ct.c_int(0)] = self._ephemeral.Leaf(lo, hi)
        self.ephemeral = (lo, hi)

    def release_ephemeral(self):
        self._ephemeral[ct.c_int(0)] = self._ephemeral.Leaf(0, 0)
        self.ephemeral = None

    def steers_port(self, port):
        """True when the range steers this local port (no flows entry needed)."""
        r = self.ephemeral
        return r is not None and r[0] <= port <= r[1]

    def own_flow(self, local, remote):
        """Steer one connection ((ip, port), (ip, port)) the stack opened."""
        rc = lib.xc_flow_steer(self._flows.map_fd, ip_be(local[0]), ip_be(remote[0]),
                               port_be(local[1]), port_be(remote[1]), 1)
        if rc < 0:
            raise OSError(-rc, "cannot steer %s:%d > %s:%d (flows map: %s)"
                          % (local + remote + (os.strerror(-rc),)))

    def release_flow(self, local, remote):
        lib.xc_flow_steer(self._flows.map_fd, ip_be(local[0]), ip_be(remote[0]),
                          port_be(local[1]), port_be(remote[1]), 0)   # ENOENT: gone already

    def owned(self):
        """(listen [(addr, port)], flows [((ip, port), (ip, port))]); the
        ephemeral range is self.ephemeral."""
        listen = [(ip_str(k.addr), port_str(k.port)) for k in self._listen.keys()]
        flows = [((ip_str(k.local_addr), port_str(k.local_port)),
                  (ip_str(k.remote_addr), port_str(k.remote_port)))
                 for k in self._flows.keys()]
        return listen, flows
