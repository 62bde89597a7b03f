"""Prometheus metrics: gRPC server metrics, Airlock's own, and the HTTP listener that serves them."""

from gateway.metrics.families import Metrics

__all__ = ["Metrics"]
