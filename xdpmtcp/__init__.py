"""xdpmtcp: an mTCP/mOS-style user-space TCP stack and TCP flow monitor on
XDP/AF_XDP for stock Linux.

Layers, bottom up: ``wire`` (packet formats), ``_core`` (C data path),
``phy`` (ports and their middleware), ``xdp`` (steering program),
``kernel`` (routes, neighbours, reserved ports), then the applications and
tools (``responder``, ``lab``, ``cli``).
"""
__version__ = "0.1.0"
