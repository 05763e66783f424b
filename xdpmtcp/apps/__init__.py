"""Small applications on the engine's connection API, for the CLI, tests
and benchmarks: echo, sink, source, and a static HTTP/1.1 responder."""
from .runner import ConnectionRunner
from .streams import ClientApp, EchoApp, HttpApp, SinkApp, SourceApp, pattern_bytes

__all__ = ["ClientApp", "ConnectionRunner", "EchoApp", "HttpApp", "SinkApp", "SourceApp", "pattern_bytes"]
