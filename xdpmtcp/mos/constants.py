"""mOS's constants (mtcp_api.h, mos_api.h) and structures, with mOS's
names; values shared with the endpoint API are declared once in
xdpmtcp/api/constants.py and re-exported here."""
import dataclasses
from typing import Optional

from ..monitor.core import TcpState
# Values shared with the endpoint API (xdpmtcp/api/constants.py), declared once there.
from ..api.constants import (AF_INET, MOS_CLIBUF, MOS_CLIOVERLAP, MOS_FRAGINFO_CLIBUF,  # noqa: F401
                             MOS_FRAGINFO_SVRBUF, MOS_INFO_CLIBUF, MOS_INFO_SVRBUF, MOS_STOP_MON,
                             MOS_SVRBUF, MOS_SVROVERLAP, MOS_TCP_STATE_CLI, MOS_TCP_STATE_SVR,
                             SO_ERROR, SOL_MONSOCKET, SOL_SOCKET)

# socket types (mtcp_api.h enum socket_type)
MOS_SOCK_UNUSED = 0
MOS_SOCK_STREAM_LISTEN = 1
MOS_SOCK_PROXY_LISTEN = 2
MOS_SOCK_MONITOR_STREAM = 3
MOS_SOCK_STREAM = 4
MOS_SOCK_PROXY = 5
MOS_SOCK_MONITOR_STREAM_ACTIVE = 6
MOS_SOCK_MONITOR_RAW = 7

# hooks and built-in events (mos_api.h)
MOS_NULL = 1 << 29
MOS_HK_RCV = 1 << 30
MOS_HK_SND = 1 << 31
MOS_NULL_EVENT = 0
MOS_ON_PKT_IN = 1 << 0
MOS_ON_CONN_START = 1 << 2
MOS_ON_CONN_NEW_DATA = 1 << 4
MOS_ON_ERROR = 1 << 5
MOS_ON_TIMEOUT = 1 << 6
MOS_ON_TCP_STATE_CHANGE = 1 << 7
MOS_ON_ORPHAN = 1 << 8
MOS_ON_REXMIT = 1 << 9
MOS_ON_CONN_END = 1 << 10
NUM_BEV = 12
BUILTIN_EVENTS = (MOS_ON_PKT_IN, MOS_ON_CONN_START, MOS_ON_CONN_NEW_DATA, MOS_ON_ERROR,
                  MOS_ON_TIMEOUT, MOS_ON_TCP_STATE_CHANGE, MOS_ON_ORPHAN, MOS_ON_REXMIT,
                  MOS_ON_CONN_END)

MOS_SIDE_CLI, MOS_SIDE_SVR, MOS_SIDE_BOTH = 0, 1, 2

MOS_TIMESTAMP = 0x07
MOS_SEQ_REMAP = 0x0b
MOS_FRAG_CLIBUF = 0x0d
MOS_FRAG_SVRBUF = 0x0e

MOS_OVERLAP_POLICY_FIRST = 0
MOS_OVERLAP_POLICY_LAST = 1
# extensions: target-based reassembly as the receiving OS would do it
MOS_OVERLAP_POLICY_LINUX = 2
MOS_OVERLAP_POLICY_BSD = 3
MOS_OVERLAP_POLICY_WINDOWS = 4

# mtcp_setlastpkt options
MOS_ETH_HDR = 1 << 0
MOS_IP_HDR = 1 << 1
MOS_TCP_HDR = 1 << 2
MOS_TCP_PAYLOAD = 1 << 3
MOS_UPDATE_IP_CHKSUM = 1 << 4
MOS_UPDATE_TCP_CHKSUM = 1 << 5
MOS_DROP = 1 << 6
MOS_OVERWRITE = 1 << 7
MOS_CHOMP = 1 << 8
MOS_INSERT = 1 << 9

tcpstate = TcpState
TCP_CLOSED, TCP_LISTEN, TCP_SYN_SENT, TCP_SYN_RCVD, TCP_ESTABLISHED = range(5)
TCP_FIN_WAIT_1, TCP_FIN_WAIT_2, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_LAST_ACK, TCP_TIME_WAIT = range(5, 11)


@dataclasses.dataclass
class tcp_ring_fragment:  # noqa: N801 (mOS's name)
    offset: int
    len: int


@dataclasses.dataclass
class tcp_buf_info:  # noqa: N801
    tcpbi_init_seq: int
    tcpbi_last_byte_read: int
    tcpbi_next_byte_expected: int
    tcpbi_last_byte_received: int


@dataclasses.dataclass
class monitor_filter:  # noqa: N801
    stream_syn_filter: Optional[str] = None
    stream_orphan_filter: Optional[str] = None
    raw_pkt_filter: Optional[str] = None


@dataclasses.dataclass
class timeval:  # noqa: N801
    tv_sec: int = 0
    tv_usec: int = 0


@dataclasses.dataclass
class pkt_info:  # noqa: N801
    """The packet an event came with (a copy: see mtcp_setlastpkt)."""
    cur_ts: int            # ms
    in_ifidx: int
    eth_len: int
    ip_len: int
    offset: int            # stream offset of the payload in the receiver's buffer
    payloadlen: int
    seq: int
    ack_seq: int
    window: int
    frame: bytes
    ip_off: int            # where the headers start in frame
    tcp_off: int
    payload_off: int

    @property
    def ethh(self):
        return self.frame[:self.ip_off]

    @property
    def iph(self):
        return self.frame[self.ip_off:self.tcp_off]

    @property
    def tcph(self):
        return self.frame[self.tcp_off:self.payload_off]

    @property
    def payload(self):
        return self.frame[self.payload_off:self.payload_off + self.payloadlen]
