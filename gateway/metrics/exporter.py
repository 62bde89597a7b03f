"""The /metrics HTTP listener: prometheus-client's own server, on a thread of its own.

Separate from the gRPC port on purpose: Prometheus scrapes over plain HTTP, operators
usually expose it only to the monitoring network, and a scrape never competes with
invocations for the event loop (the registry is read on the listener's thread; every
metric of prometheus-client is thread-safe).
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from gateway.errors import AirlockError

log = structlog.get_logger("airlock.metrics")


class MetricsListener:
    """Serves ``registry`` on ``http://HOST:PORT/metrics`` until closed (IPv6 hosts may be in brackets)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        address = f"{host}:{port}"
        host = host.strip("[]")
        try:
            self._server: WSGIServer
            self._thread: threading.Thread
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise AirlockError(f"cannot serve metrics on {address}: {exc}") from None
        self.host = host
        self.port: int = self._server.server_port

    @property
    def url(self) -> str:
        """Where Prometheus scrapes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
