"""The constants of the mTCP dialect, with the values Linux and the mTCP/mOS
headers give them, so numbers from Python's ``socket`` module, from C code
and from these names all mean the same thing."""
import enum
import socket as _socket

# --- domains, types, levels -------------------------------------------------
AF_INET = _socket.AF_INET                 # 2: the only domain (mtcp_socket.3)
SOCK_STREAM = _socket.SOCK_STREAM         # 1: the only type
SOL_SOCKET = _socket.SOL_SOCKET           # 1 on Linux (mOS uses 0xffff only where it is undefined)
IPPROTO_TCP = _socket.IPPROTO_TCP         # 6
SOL_MONSOCKET = 0xfffe                    # mOS monitor-socket level (mos_getsockopt.3)

# --- SOL_SOCKET options (the sixteen of the OSKit page), Linux numbers ---------
SO_DEBUG = _socket.SO_DEBUG               # 1
SO_REUSEADDR = _socket.SO_REUSEADDR       # 2
SO_TYPE = _socket.SO_TYPE                 # 3, get only
SO_ERROR = _socket.SO_ERROR               # 4, get only (and clear)
SO_DONTROUTE = _socket.SO_DONTROUTE       # 5
SO_BROADCAST = _socket.SO_BROADCAST       # 6
SO_SNDBUF = _socket.SO_SNDBUF             # 7
SO_RCVBUF = _socket.SO_RCVBUF             # 8
SO_KEEPALIVE = _socket.SO_KEEPALIVE       # 9
SO_OOBINLINE = _socket.SO_OOBINLINE       # 10
SO_LINGER = 13
SO_REUSEPORT = getattr(_socket, "SO_REUSEPORT", 15)
SO_RCVLOWAT = _socket.SO_RCVLOWAT         # 18
SO_SNDLOWAT = _socket.SO_SNDLOWAT         # 19
SO_RCVTIMEO = _socket.SO_RCVTIMEO         # 20 (the struct timeval flavour)
SO_SNDTIMEO = _socket.SO_SNDTIMEO         # 21

# --- IPPROTO_TCP options ---------------------------------------------------------
TCP_NODELAY = _socket.TCP_NODELAY         # 1
TCP_MAXSEG = _socket.TCP_MAXSEG           # 2
TCP_KEEPIDLE = _socket.TCP_KEEPIDLE       # 4
TCP_KEEPINTVL = _socket.TCP_KEEPINTVL     # 5
TCP_KEEPCNT = _socket.TCP_KEEPCNT         # 6
TCP_INFO = getattr(_socket, "TCP_INFO", 11)
TCP_CONGESTION = getattr(_socket, "TCP_CONGESTION", 13)
TCP_CA_NAME_MAX = 16                      # bytes of a congestion-control name, NUL included

# --- SOL_MONSOCKET options (mOS); endpoint sockets answer them with EPERM ------------
MOS_FRAGINFO_CLIBUF = 0x01
MOS_FRAGINFO_SVRBUF = 0x02
MOS_INFO_CLIBUF = 0x03
MOS_INFO_SVRBUF = 0x04
MOS_TCP_STATE_CLI = 0x05
MOS_TCP_STATE_SVR = 0x06
MOS_CLIBUF = 0x09
MOS_SVRBUF = 0x0a
MOS_STOP_MON = 0x0c
MOS_CLIOVERLAP = 0x0f
MOS_SVROVERLAP = 0x10

# --- recv flags and ioctls ---------------------------------------------------------
MSG_PEEK = _socket.MSG_PEEK               # 2
FIONREAD = 0x541B                         # bytes ready to read (SIOCINQ)
FIONBIO = 0x5421                          # set/clear non-blocking mode
SIOCOUTQ = 0x5411                         # bytes written and not yet acknowledged (TIOCOUTQ)
SIOCINQ = FIONREAD


class SocketKind(enum.IntEnum):
    """mTCP's ``enum socket_type``: what a descriptor is."""
    MTCP_SOCK_UNUSED = 0
    MTCP_SOCK_STREAM = 1
    MTCP_SOCK_PROXY = 2
    MTCP_SOCK_LISTENER = 3
    MTCP_SOCK_EPOLL = 4
    MTCP_SOCK_PIPE = 5


MTCP_SOCK_UNUSED = SocketKind.MTCP_SOCK_UNUSED
MTCP_SOCK_STREAM = SocketKind.MTCP_SOCK_STREAM
MTCP_SOCK_PROXY = SocketKind.MTCP_SOCK_PROXY
MTCP_SOCK_LISTENER = SocketKind.MTCP_SOCK_LISTENER
MTCP_SOCK_EPOLL = SocketKind.MTCP_SOCK_EPOLL
MTCP_SOCK_PIPE = SocketKind.MTCP_SOCK_PIPE

# --- epoll: mTCP's names, Linux's values ----------------------------------------------
MTCP_EPOLL_CTL_ADD = 1
MTCP_EPOLL_CTL_DEL = 2
MTCP_EPOLL_CTL_MOD = 3

MTCP_EPOLLNONE = 0x000
MTCP_EPOLLIN = 0x001
MTCP_EPOLLPRI = 0x002
MTCP_EPOLLOUT = 0x004
MTCP_EPOLLERR = 0x008
MTCP_EPOLLHUP = 0x010
MTCP_EPOLLRDNORM = 0x040
MTCP_EPOLLRDBAND = 0x080
MTCP_EPOLLWRNORM = 0x100
MTCP_EPOLLWRBAND = 0x200
MTCP_EPOLLMSG = 0x400
MTCP_EPOLLRDHUP = 0x2000
MTCP_EPOLLONESHOT = 1 << 30
MTCP_EPOLLET = 1 << 31
EPOLL_CLOEXEC = 0o2000000                 # the one flag epoll_create1 accepts

# events a waiter always gets, asked for or not (epoll_ctl(2))
EPOLL_ALWAYS = MTCP_EPOLLERR | MTCP_EPOLLHUP
# bits that are requests, not events
EPOLL_INPUT_FLAGS = MTCP_EPOLLONESHOT | MTCP_EPOLLET


def event_names(mask):
    """'IN|OUT|RDHUP' for an event mask (messages, debugging)."""
    names = [n[len("MTCP_EPOLL"):] for n, v in globals().items()
             if n.startswith("MTCP_EPOLL") and not n.startswith("MTCP_EPOLL_CTL")
             and v and mask & v == v and n != "MTCP_EPOLLNONE"]
    return "|".join(names) or "NONE"
