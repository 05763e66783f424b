"""xdpmtcp: an mTCP/mOS-style user-space TCP stack and TCP flow monitor on
XDP/AF_XDP for stock Linux.

Layers, bottom up: ``wire`` (packet formats), ``_core`` (C data path),
``phy`` (ports and their middleware), ``xdp`` (steering program),
``kernel`` (routes, neighbours, reserved ports), ``tcp`` (the engine), then
the APIs (``api`` with the facade, ``mtcp_api`` with mTCP's dialect) and
the applications and tools (``responder``, ``lab``, ``cli``).
"""
__version__ = "0.1.0"


def __getattr__(name):
    # xdpmtcp.Context without importing the C core for every `import xdpmtcp`
    if name == "Context":
        from .api import Context
        return Context
    raise AttributeError("module 'xdpmtcp' has no attribute %r" % name)
