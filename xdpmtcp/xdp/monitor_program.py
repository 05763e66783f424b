"""BCC build of bpf/xdp_monitor.c (the flow monitor's XDP program) and its
maps: the socket per RX queue, the mode, and the checks offloaded from the
monitor's --filter (a port set and an IPv4 prefix set, either direction)."""
import ctypes as ct
import ipaddress
import socket

from .program import MONITOR_PROG_NAME as PROG_NAME
from .program import BccXdpProgram

XMON_ALL, XMON_PORTS, XMON_NETS = 1, 2, 4
COUNTERS = ("seen", "redirected", "passed", "filtered", "no_socket")
MAX_PORTS = MAX_NETS = 1024


class MonitorProgram(BccXdpProgram):
    counter_names = dict(enumerate(COUNTERS))

    def __init__(self, max_queues=64):
        super().__init__("xdp_monitor.c", PROG_NAME, ["-DXM_MAX_QUEUES=%d" % max_queues])
        self._cfg = self.bpf[b"mon_cfg"]
        self._ports = self.bpf[b"mon_ports"]
        self._nets = self.bpf[b"mon_nets"]
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
