"""The mOS dialect: ``from xdpmtcp.mos_api import *``.  A re-export of
the package xdpmtcp.mos (one module per concept; its docstring describes
sockets, events and hooks, buffers and errors)."""
from .mos import *  # noqa: F401,F403
from .mos import __all__, __doc__ as _package_doc  # noqa: F401
from .mos import BUILTIN_EVENTS  # noqa: F401

__doc__ = _package_doc
