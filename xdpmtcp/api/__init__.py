"""The socket API over the TCP engine, in two dialects over one set of
objects: ``xdpmtcp.mtcp_api`` (mTCP's flat functions and errnos) and the
Pythonic facade here (``Context``, socket and epoll objects).

Modules: constants (names and values), structs (C layouts), config
(mtcp.conf), context (per-core context, descriptor table, the loop),
sockets (TCP sockets, listening groups), options (socket options and their
effects), epoll, pipe, facade (Python-style objects), runtime (what
mtcp_init sets up), loopback (two contexts over an in-memory link).
"""
from .config import ConfigError, MtcpConfig, load_config, parse_config
from .context import Context
from .facade import EpollObject, PipeObject, Socket
from .structs import linger, mtcp_conf, tcp_info, timeval

__all__ = ["ConfigError", "Context", "EpollObject", "MtcpConfig", "PipeObject", "Socket", "linger",
           "load_config", "mtcp_conf", "parse_config", "tcp_info", "timeval"]
