"""Storage: the reassembly ring buffer (C) and its Python face; a capped memo."""
from .memo import Memo  # noqa: F401
from .ring import Ring  # noqa: F401
