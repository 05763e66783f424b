"""Passive/inline TCP flow monitor (the mOS role): the C core
(``_core/include/api_mon.h``) and its Python control: inputs, the run
loop, stream files, connection records, Community ID."""
from .community_id import community_id_v1
from .core import Ev, Monitor, TcpState, flow_summary
from .runner import MonitorRun
from .source import LiveInput, PcapInput
from .streams import StreamWriter

__all__ = ["Ev", "Monitor", "MonitorRun", "LiveInput", "PcapInput", "StreamWriter",
           "TcpState", "community_id_v1", "flow_summary"]
