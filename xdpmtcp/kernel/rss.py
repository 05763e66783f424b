"""An interface's RSS key and indirection table, as `ethtool -x` shows
them: the ETHTOOL_GRSSH ioctl in this thread's netns.  None where the
driver has none to give (veth: EOPNOTSUPP): the rss_key tunable supplies
the key then (docs/rss.md)."""
import ctypes
import errno
import fcntl
import socket
import struct

from ..tcp.rss import RssMap, parse_key
from .channels import rx_queue_count

SIOCETHTOOL = 0x8946
ETHTOOL_GRSSH = 0x46
_RXFH = struct.Struct("=IIIIBB2xI")            # struct ethtool_rxfh up to rss_config[]
HASH_FUNCS = {1 << 0: "toeplitz", 1 << 1: "xor", 1 << 2: "crc32"}   # ETH_RSS_HASH_*
# errors that mean "this driver has no RSS to read", not a fault
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOENT)


def _grssh(sock, ifname, indir_size, key_size):
    buf = ctypes.create_string_buffer(_RXFH.size + 4 * indir_size + key_size)
    _RXFH.pack_into(buf, 0, ETHTOOL_GRSSH, 0, indir_size, key_size, 0, 0, 0)
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(buf))
    fcntl.ioctl(sock, SIOCETHTOOL, ifreq)
    return buf.raw


def read_rxfh(ifname):
    """{"hfunc": int, "key": bytes, "indir": [int]} or None where the driver
    does not support reading them; OSError for a missing interface."""
    if len(ifname.encode()) >= 16:
        raise OSError(errno.EINVAL, "interface name %r is too long" % ifname)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            # sizes 0: the driver says how big its table and key are
            _, _, indir_size, key_size, _, _, _ = _RXFH.unpack_from(_grssh(sock, ifname, 0, 0))
            if not indir_size and not key_size:
                return None
            raw = _grssh(sock, ifname, indir_size, key_size)
        except OSError as e:
            if e.errno == errno.ENODEV:
                raise OSError(errno.ENODEV, "no interface %r" % ifname) from None
            if e.errno in _UNSUPPORTED:
                return None
            raise
    hfunc = _RXFH.unpack_from(raw)[4]
    off = _RXFH.size
    indir = list(struct.unpack_from("=%dI" % indir_size, raw, off))
    key = raw[off + 4 * indir_size: off + 4 * indir_size + key_size]
    return {"hfunc": hfunc, "key": key, "indir": indir}


def hfunc_name(hfunc):
    return HASH_FUNCS.get(hfunc, "unknown" if hfunc else "unreported")


def read_rss(ifname):
    """The RssMap the NIC applies to received frames, or None where it
    cannot be read or predicted (no key, no table, a hash other than
    Toeplitz).  A driver that reports no function is taken as Toeplitz,
    the one every RSS NIC implements."""
    fh = read_rxfh(ifname)
    if fh is None or not fh["indir"] or len(fh["key"]) < 16:
        return None
    if fh["hfunc"] not in (0, 1):
        return None
    return RssMap(fh["key"], fh["indir"])


def rss_map(ifname, rss_key="", queues=None):
    """The RssMap the stack predicts queues with: the rss_key tunable's key
    over the default table of the interface's RX queues (queues, else
    counted) when it is set, else the NIC's own (read_rss); None when
    neither is known."""
    if not rss_key:
        return read_rss(ifname)
    return RssMap.default(parse_key(rss_key), queues or rx_queue_count(ifname))


def queue_rss(ifname, queues, rss_key, queue):
    """(RssMap or None, note or None): how replies spread over the
    interface's queues, for the choice of source ports of the context on
    ``queue``.  One queue: no map needed."""
    if queues <= 1:
        return None, None
    found = rss_map(ifname, rss_key, queues)
    if found is None:
        return None, ("%s has %d RX queues but its RSS key cannot be read (veth, or the driver does not "
                      "report it): connections this context opens may be answered on another queue, "
                      "which resets them; set the rss_key tunable (docs/rss.md)" % (ifname, queues))
    if queue not in found.indir:
        return found, ("%s's RSS indirection table sends nothing to queue %d (ethtool -x): the context "
                       "there receives no new connections and its connects find no port (EADDRNOTAVAIL); "
                       "spread the table over the queues: ethtool -X %s equal %d"
                       % (ifname, queue, ifname, queues))
    return found, None


def rss_summary(ifname):
    """What `xdpmtcp status` shows: {"readable": bool, "hfunc", "key" (hex),
    "indir_size", "queues"}; readable False where the driver gives none."""
    try:
        fh = read_rxfh(ifname)
    except OSError as e:
        return {"readable": False, "error": e.strerror or str(e)}
    if fh is None:
        return {"readable": False}
    return {"readable": True, "hfunc": hfunc_name(fh["hfunc"]), "key": fh["key"].hex(),
            "indir_size": len(fh["indir"]),
            "queues": max(fh["indir"]) + 1 if fh["indir"] else 0}
