"""An interface's channels (`ethtool -l`): how many RX/TX/combined queues
it has and may have.  One ioctl in this thread's netns; None where the
driver does not say (EOPNOTSUPP)."""
import errno
import os

from pyroute2 import IPRoute
from pyroute2.ethtool.ioctl import IoctlEthtool


def channels(ifname):
    try:
        e = IoctlEthtool(ifname)
    except OSError:
        return None
    try:
        c = e.get_channels()
        out = {k: int(getattr(c, k)) for k in ("rx_count", "tx_count", "combined_count",
                                               "max_rx", "max_tx", "max_combined")}
    except (OSError, ValueError):
        return None
    finally:
        e.close()
    # the queues RSS spreads received frames over
    out["rx_queues"] = out["combined_count"] + out["rx_count"]
    return out


def rx_queue_count(ifname):
    """Receive queues in use on an interface (ethtool channels: rx +
    combined), in this thread's netns (/sys may show another namespace).
    veth allocates more (numrxqueues) than it uses: the channels count."""
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            raise OSError(errno.ENODEV, "%s: no interface %r" % (os.strerror(errno.ENODEV), ifname))
        allocated = ipr.link("get", index=idx[0])[0].get_attr("IFLA_NUM_RX_QUEUES") or 1
    try:
        ch = channels(ifname)
    except Exception:                   # pyroute2's NotSupportedError is no OSError
        ch = None
    return max(1, ch["rx_queues"]) if ch else allocated
