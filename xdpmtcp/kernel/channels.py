"""An interface's channels (`ethtool -l`): how many RX/TX/combined queues
it has and may have.  One ioctl in this thread's netns; None where the
driver does not say (EOPNOTSUPP)."""
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
