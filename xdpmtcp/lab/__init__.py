"""Network-namespace lab: hosts in namespaces joined by veth, for tests,
the demo and `xdpmtcp lab`.  The pytest fixtures live in
``xdpmtcp.lab.fixtures`` (load it with ``pytest_plugins``)."""

from .netns import NetnsError, in_netns, popen, run
from .topology import (DEFAULT_SUBNET, INLINE_SUBNET, LAB_RANGE, RECORD_DIR,
                       Host, Interface, Lab, LabError, OffloadError,
                       check_subnet, host_address, ifname_for, make_lab_name,
                       read_offloads)

__all__ = [
    "DEFAULT_SUBNET", "INLINE_SUBNET", "LAB_RANGE", "RECORD_DIR",
    "Host", "Interface", "Lab", "LabError", "NetnsError", "OffloadError",
    "check_subnet", "host_address", "ifname_for", "in_netns",
    "make_lab_name", "popen", "read_offloads", "run",
]
