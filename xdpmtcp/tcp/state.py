"""TCP states and the C engine's event bits, named once for Python."""
import enum

from .._core import lib


class TcpState(enum.IntEnum):
    """RFC 9293 states; values are mOS's ``enum tcpstate`` and the C core's."""
    CLOSED = lib.XC_TCP_CLOSED
    LISTEN = lib.XC_TCP_LISTEN
    SYN_SENT = lib.XC_TCP_SYN_SENT
    SYN_RCVD = lib.XC_TCP_SYN_RCVD
    ESTABLISHED = lib.XC_TCP_ESTABLISHED
    FIN_WAIT_1 = lib.XC_TCP_FIN_WAIT_1
    FIN_WAIT_2 = lib.XC_TCP_FIN_WAIT_2
    CLOSE_WAIT = lib.XC_TCP_CLOSE_WAIT
    CLOSING = lib.XC_TCP_CLOSING
    LAST_ACK = lib.XC_TCP_LAST_ACK
    TIME_WAIT = lib.XC_TCP_TIME_WAIT

    @property
    def synchronized(self):
        return self >= TcpState.ESTABLISHED

    @property
    def can_send(self):
        """The application may still queue data."""
        return self in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT)


class Event(enum.IntFlag):
    """What the C engine tells Python about a connection after a batch."""
    READABLE = lib.XC_EV_READABLE
    WRITABLE = lib.XC_EV_WRITABLE
    STATE = lib.XC_EV_STATE
    RESET = lib.XC_EV_RESET
    TIMEDOUT = lib.XC_EV_TIMEDOUT
    RELEASE = lib.XC_EV_RELEASE
    REFUSED = lib.XC_EV_REFUSED
    SYN_IN_TW = lib.XC_EV_SYN_IN_TW
    ACKED = lib.XC_EV_ACKED

