"""The control channel: every running context publishes its state on a
unix socket under /run/xdpmtcp/ctl/ (server.py, in the context's loop),
and `xdpmtcp trace`, `status` and the metrics endpoint read it (client.py).
rows.py is the connection schema; protocol.py the wire format."""
from .client import ControlClient, ControlError
from .paths import ControlAddress, discover
from .publish import publish_endpoint, publish_monitor
from .rows import FIELDS, FIELD_NAMES

__all__ = ["ControlClient", "ControlError", "ControlAddress", "discover", "publish_endpoint", "publish_monitor",
           "FIELDS", "FIELD_NAMES"]
