"""The C data path, built by cffi (see build_core.py): ``ffi`` and ``lib``."""
from ._xdpmtcp_core import ffi, lib  # noqa: F401
