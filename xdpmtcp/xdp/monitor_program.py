"""BCC build of bpf/xdp_monitor.c (the flow monitor's XDP program) and its
maps: the socket per RX queue, the mode, and the checks offloaded from the
monitor's --filter (a port set and an IPv4 prefix set, either direction)."""
import ctypes as ct
import ipaddress
import socket

from .bcc_env import BPF_DIR, kernel_headers_note
from .program import XdpError

PROG_NAME = "xdpmtcp_monitor"
XMON_ALL, XMON_PORTS, XMON_NETS = 1, 2, 4
COUNTERS = ("seen", "redirected", "passed", "filtered", "no_socket")
MAX_PORTS = MAX_NETS = 1024


class MonitorProgram:
    prog_name = PROG_NAME          # AttachGuard: ours, not a foreign program

    def __init__(self, max_queues=64):
        self.headers_note = kernel_headers_note()
        from bcc import BPF
        self._BPF = BPF
        try:
            self.bpf = BPF(src_file=str(BPF_DIR / "xdp_monitor.c").encode(),
                           cflags=["-I%s" % BPF_DIR, "-w", "-DXM_MAX_QUEUES=%d" % max_queues])
            self.fn = self.bpf.load_func(PROG_NAME.encode(), BPF.XDP)
        except Exception as e:  # BCC raises bare Exceptions
            raise XdpError("cannot build the monitor's XDP program: %s" % e) from e
        from .._core import lib
        self.prog_id = lib.xc_prog_id(self.fn.fd)
        self._cfg = self.bpf[b"mon_cfg"]
        self._ports = self.bpf[b"mon_ports"]
        self._nets = self.bpf[b"mon_nets"]
        self._xsks = self.bpf[b"xsks"]
        self._counters = self.bpf[b"counters"]
        self.flags = 0

    def _set_flags(self, flags):
        self.flags = flags
        self._cfg[ct.c_int(0)] = ct.c_uint32(flags)

    def configure(self, all_frames=False, ports=None, nets=None):
        """all_frames: inline (every frame to the socket).  ports / nets:
        a necessary condition of the filter (None: no check)."""
        flags = XMON_ALL if all_frames else 0
        self._ports.clear()
        self._nets.clear()
        if ports is not None:
            if len(ports) > MAX_PORTS:
                ports = None
            else:
                for p in ports:
                    self._ports[ct.c_uint16(socket.htons(p))] = ct.c_uint32(1)
                flags |= XMON_PORTS
        if nets is not None and len(nets) <= MAX_NETS:
            for net in nets:
                net = ipaddress.IPv4Network(net)
                k = self._nets.Key()
                k.prefixlen = net.prefixlen
                k.addr = int.from_bytes(net.network_address.packed, "little")
                self._nets[k] = ct.c_uint32(1)
            flags |= XMON_NETS
        self._set_flags(flags)

    def bind_socket(self, queue, fd):
        self._xsks[ct.c_int(queue)] = ct.c_int(fd)

    def unbind_socket(self, queue):
        try:
            del self._xsks[ct.c_int(queue)]
        except KeyError:
            pass

    def counters(self):
        return {name: sum(int(v) for v in self._counters[ct.c_int(i)])
                for i, name in enumerate(COUNTERS)}

    def close(self):
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None
