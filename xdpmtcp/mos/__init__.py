"""The mOS dialect of the monitor: ``from xdpmtcp.mos_api import *`` (or
``xdpmtcp.mos``).

Flat functions with mOS's names, arguments (C out-pointers become return
values) and constants; errors raise ``OSError(errno, message)`` with the
errno mOS's pages name.  Underneath: the C monitor core
(``xdpmtcp/_core/include/api_mon.h``) run one packet per call when callbacks are
registered (``XC_MON_F_STEP``), so a callback sees the flow exactly as it
is after the packet that raised its event.

Sockets.  ``mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)`` is a
listener: every flow its SYN filter accepts gets an *active* socket
(``MOS_SOCK_MONITOR_STREAM_ACTIVE``) that callbacks receive; callbacks
registered on the listener apply to all its flows, ones registered on an
active socket to that flow only.  ``MOS_SOCK_MONITOR_RAW`` sockets see
every frame (MOS_ON_PKT_IN, hook MOS_NULL), before the flow code.

Events and hooks (mOS's allowed pairs): MOS_NULL is refused for
CONN_START, REXMIT, TCP_STATE_CHANGE, CONN_END; MOS_HK_RCV/MOS_HK_SND are
refused for CONN_NEW_DATA, ORPHAN, ERROR.  Per packet: the sender's
MOS_HK_SND events (PKT_IN, CONN_START, TCP_STATE_CHANGE, REXMIT), then the
receiver's MOS_HK_RCV events (PKT_IN, CONN_START, TCP_STATE_CHANGE), with
CONN_NEW_DATA and ERROR at MOS_NULL, then CONN_END: once at MOS_HK_SND
(side = the last packet's sender, or the client) and once at MOS_HK_RCV
(the other side).  PKT_IN registered at MOS_NULL fires once per packet.
MOS_ON_TIMEOUT is raised for flows that go idle (the core's timeouts) at
MOS_NULL, and by ``mtcp_settimer`` timers.  MOS_ON_ERROR is raised for
buffer outrun (bytes dropped; the next peek returns minus their number),
overlaps with different bytes, capture gaps, memory and fragment caps,
RSTs outside the window and SYNs with another ISN;
``mos_last_error(mctx)`` says which.

User-defined events: ``mtcp_define_event(parent, filter, arg)`` makes an
event that fires, for a socket with callbacks for it, when its parent
fires and ``filter(mctx, sock, side, parent, arg)`` is true;
``mtcp_alloc_event(parent)`` one that only ``mtcp_raise_event`` fires.

Buffers.  MOS_SIDE_CLI's buffer is the client's receive buffer: what the
server sent (mOS's meaning); offsets count from the first byte after the
SYN of that byte stream.  ``tcp_buf_info`` fields are sequence numbers:
``tcpbi_init_seq`` the first byte's, ``tcpbi_last_byte_read`` the next
byte this socket's ``mtcp_peek`` returns, ``tcpbi_next_byte_expected``
the first byte not yet received in order, ``tcpbi_last_byte_received``
one past the highest byte stored (above next_byte_expected while
segments are out of order).

Modules: constants (names, values, structures), context (mtcp_init,
contexts), sockets (listeners, active and raw sockets, filters,
callbacks), events (hooks, user-defined events, firing), dispatch (the
core's events to callbacks), buffers and options (peek, sockopts),
packets (the frame being processed), timers, run (mtcp_app_join).

Nothing here exits the process: a bad side, an empty peek, a stale socket
raise the errno instead (mOS called exit()).
"""
from .buffers import mtcp_peek, mtcp_ppeek
from .constants import *  # noqa: F401,F403
from .constants import (AF_INET, NUM_BEV, SO_ERROR, SOL_MONSOCKET, SOL_SOCKET,  # noqa: F401
                        monitor_filter, pkt_info, tcp_buf_info, tcp_ring_fragment, tcpstate,
                        timeval)
from .context import (mctx_t, mtcp_create_context, mtcp_destroy, mtcp_destroy_context,  # noqa: F401
                      mtcp_init)
from .dispatch import mos_end_reason, mos_last_error  # noqa: F401
from .events import mtcp_alloc_event, mtcp_define_event  # noqa: F401
from .options import mtcp_getsockopt, mtcp_setsockopt  # noqa: F401
from .packets import mtcp_getlastpkt, mtcp_sendpkt, mtcp_setlastpkt  # noqa: F401
from .run import mtcp_app_join  # noqa: F401
from .sockets import (mtcp_bind_monitor_filter, mtcp_close, mtcp_get_connection_cnt,  # noqa: F401
                      mtcp_get_uctx, mtcp_getpeername, mtcp_raise_event, mtcp_register_callback,
                      mtcp_set_uctx, mtcp_socket, mtcp_unregister_callback)
from .timers import mtcp_settimer  # noqa: F401

__all__ = [n for n in dir() if n.startswith(("mtcp_", "MOS_", "TCP_", "SOL_", "AF_", "SO_"))] + [
    "tcpstate", "tcp_buf_info", "tcp_ring_fragment", "monitor_filter", "pkt_info", "timeval",
    "mctx_t", "mos_last_error", "mos_end_reason", "NUM_BEV"]
