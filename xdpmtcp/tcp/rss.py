"""Receive-side scaling as a NIC does it: the Toeplitz hash of a received
frame's addresses and ports, and the indirection table that turns the hash
into an RX queue.  An active open that must come back on its own queue
picks a local port whose hash lands there (docs/rss.md).

Per key, a table of 36 rows x 256 entries holds the hash contribution of
each byte value at each input position, so a hash is one XOR per input
byte: cheap enough to call for every candidate port of a connect().
"""
import socket

# The key of Microsoft's RSS specification and verification suite; many
# drivers (ixgbe, i40e, virtio's emulators) ship it as their default.
MICROSOFT_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c"
    "6a42b73bbeac01fa")

DEFAULT_TABLE = 128            # ethtool's usual indirection table size
_MAX_INPUT = 36                # IPv6 addresses and ports
_MIN_INPUT = 12                # IPv4 addresses and ports


def _byte_tables(key):
    """rows[i][b]: the hash of byte value b at input byte i (key bits
    8i .. 8i+39 form the 32-bit windows of that byte's eight bits)."""
    nbits = len(key) * 8
    k = int.from_bytes(key, "big")
    rows = []
    for i in range(min(len(key) - 4, _MAX_INPUT)):
        # window for the input bit at offset j (0 = the byte's top bit)
        windows = [(k >> (nbits - 32 - (8 * i + j))) & 0xFFFFFFFF for j in range(8)]
        row = [0] * 256
        for b in range(1, 256):
            low = b & -b
            row[b] = row[b ^ low] ^ windows[7 - (low.bit_length() - 1)]
        rows.append(row)
    return rows


_TABLES = {}                   # key -> rows (a few keys per process at most)


def _tables_for(key):
    rows = _TABLES.get(key)
    if rows is None:
        if len(key) < _MIN_INPUT + 4:
            raise ValueError("RSS key of %d bytes: the hash of IPv4 addresses and ports "
                             "needs at least %d" % (len(key), _MIN_INPUT + 4))
        rows = _TABLES[key] = _byte_tables(bytes(key))
    return rows


def toeplitz(key: bytes, data: bytes) -> int:
    """The 32-bit Toeplitz hash of data under key (Microsoft RSS)."""
    rows = _tables_for(bytes(key))
    if len(data) > len(rows):
        raise ValueError("%d bytes of input need a key of at least %d bytes"
                         % (len(data), len(data) + 4))
    h = 0
    for row, byte in zip(rows, data):
        h ^= row[byte]
    return h


def parse_key(text: str, name: str = "rss_key") -> bytes:
    """A key from hex as ethtool -x prints it ("6d:5a:..."), or plain hex;
    ValueError naming the tunable when it is not a usable key."""
    digits = text.strip().replace(":", "").replace(" ", "")
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise ValueError("%s: %r is not hex bytes (want e.g. 6d:5a:56:... as "
                         "`ethtool -x` prints the key)" % (name, text)) from None
    if len(key) < _MIN_INPUT + 4:
        raise ValueError("%s: %d bytes; an RSS key has at least %d (usually 40)"
                         % (name, len(key), _MIN_INPUT + 4))
    return key


_PACKED = {}                   # address text -> network-order bytes


def _packed(addr):
    b = _PACKED.get(addr)
    if b is None:
        if isinstance(addr, (bytes, bytearray)) and len(addr) in (4, 16):
            return bytes(addr)
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        b = socket.inet_pton(family, addr)
        if len(_PACKED) > 4096:
            _PACKED.clear()
        _PACKED[addr] = b
    return b


class RssMap:
    """An interface's RSS: key and indirection table.  queue_of() is the RX
    queue the NIC puts a received TCP frame on."""

    def __init__(self, key: bytes, indir: list):
        if not indir:
            raise ValueError("empty RSS indirection table")
        self.key = bytes(key)
        self.indir = [int(q) for q in indir]
        if min(self.indir) < 0:
            raise ValueError("negative queue in RSS indirection table")
        self._rows = _tables_for(self.key)
        self.queues = max(self.indir) + 1

    @classmethod
    def default(cls, key: bytes, nqueues: int, table: int = DEFAULT_TABLE) -> "RssMap":
        """The table Linux drivers start with (ethtool_rxfh_indir_default)."""
        if nqueues < 1:
            raise ValueError("RSS over %d queues" % nqueues)
        return cls(key, [i % nqueues for i in range(table)])

    def hash_of(self, src_ip, dst_ip, src_port: int, dst_port: int) -> int:
        """The Toeplitz hash of a received frame's 4-tuple (src: the
        sender), input in network order: saddr, daddr, sport, dport."""
        rows = self._rows
        h = 0
        i = 0
        for byte in _packed(src_ip) + _packed(dst_ip):
            h ^= rows[i][byte]
            i += 1
        return (h ^ rows[i][src_port >> 8] ^ rows[i + 1][src_port & 0xFF]
                ^ rows[i + 2][dst_port >> 8] ^ rows[i + 3][dst_port & 0xFF])

    def queue_of(self, src_ip, dst_ip, src_port: int, dst_port: int) -> int:
        """The RX queue of a frame received from src_ip:src_port (the remote
        peer) for dst_ip:dst_port (us)."""
        indir = self.indir
        return indir[self.hash_of(src_ip, dst_ip, src_port, dst_port) % len(indir)]

    def local_port_queue(self, remote_ip, local_ip, remote_port: int):
        """f(local_port) -> RX queue for one peer: the addresses' part of the
        hash computed once, for trying many local ports in connect()."""
        rows, indir = self._rows, self.indir
        n = len(indir)
        base = 0
        i = 0
        for byte in _packed(remote_ip) + _packed(local_ip):
            base ^= rows[i][byte]
            i += 1
        base ^= rows[i][remote_port >> 8] ^ rows[i + 1][remote_port & 0xFF]
        hi, lo = rows[i + 2], rows[i + 3]
        return lambda port: indir[(base ^ hi[port >> 8] ^ lo[port & 0xFF]) % n]

    def __repr__(self):
        return "<RssMap key %s.. table %d over %d queues>" % (
            self.key[:4].hex(), len(self.indir), self.queues)
