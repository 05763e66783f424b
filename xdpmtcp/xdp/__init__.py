"""The XDP steering program: BCC build/load, attach with a detach guard,
and the owned-port/flow maps the control plane writes."""
from .program import (BccXdpProgram, SteeringProgram, XdpError, PROG_NAME, MONITOR_PROG_NAME,
                      OUR_PROGRAMS)
from .monitor_program import MonitorProgram
from .attach import AttachGuard, attached_program

__all__ = ["BccXdpProgram", "SteeringProgram", "MonitorProgram", "XdpError", "PROG_NAME",
           "MONITOR_PROG_NAME", "OUR_PROGRAMS", "AttachGuard", "attached_program"]
