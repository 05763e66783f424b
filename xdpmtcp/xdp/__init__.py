"""The XDP steering program: BCC build/load, attach with a detach guard,
and the owned-port/flow maps the control plane writes."""
from .program import SteeringProgram, XdpError, PROG_NAME
from .attach import AttachGuard, attached_program

__all__ = ["SteeringProgram", "XdpError", "PROG_NAME", "AttachGuard", "attached_program"]
