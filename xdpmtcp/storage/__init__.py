"""Stream storage: the reassembly ring buffer (C) and its Python face."""
from .ring import Ring  # noqa: F401
