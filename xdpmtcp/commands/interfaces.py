"""Interfaces named on the command line (-i, --iface, --inline) are checked
before anything is opened; a missing one is reported with the interfaces
that do exist, and with the namespace it lives in when that is another one
(a lab's interfaces are only inside the lab's namespaces)."""
import contextlib
import socket

from ..lab import netns
from .common import netns_context


def interface_names():
    """Interface names of the calling thread's network namespace."""
    return [name for _, name in socket.if_nameindex()]


def namespaces_holding(ifname):
    """Named network namespaces (ip netns list) that have ifname."""
    found = []
    for ns in netns.list_names():
        try:
            with netns.in_netns(ns):
                if ifname in interface_names():
                    found.append(ns)
        except (OSError, RuntimeError):      # removed meanwhile, or not ours to enter
            continue
    return found


def no_such_interface(ifname, ns=None):
    """The error for a missing interface: where it was looked for, what is
    there instead, and where it is if another namespace has it."""
    where = "network namespace %s" % ns if ns else "this network namespace"
    text = "no interface %r in %s (it has: %s)" % (ifname, where, ", ".join(interface_names()))
    elsewhere = [other for other in namespaces_holding(ifname) if other != ns]
    if elsewhere:
        text += "; %s is in network namespace %s: add --netns %s" % (
            ifname, " and ".join(elsewhere), elsewhere[0])
    return OSError(text)


def check_interfaces(names, ns=None):
    """Raise no_such_interface for the first of names this namespace lacks;
    call it inside the verb's --netns."""
    present = interface_names()
    for ifname in names:
        if ifname and ifname not in present:
            raise no_such_interface(ifname, ns)


@contextlib.contextmanager
def netns_with_interfaces(ns, names):
    """The verb's --netns (netns_context), with its interfaces checked there."""
    with netns_context(ns):
        check_interfaces(names, ns)
        yield
