"""Every metric family the gateway exports, in one registry per gateway.

One registry per gateway (not prometheus_client's global one): tests and embedders run
several gateways in one process, each with its own numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from airlock.domain.invocation import Outcome
from airlock.domain.usage import Usage
from gateway.metrics import labels

GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
#: RPCs last from milliseconds (registry reads) to many minutes (a stream waiting on a human).
LONG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
START_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.5, 5, 10)
MEMORY_BUCKETS = tuple(float(2**n * 1024 * 1024) for n in range(2, 13))  # 4 MiB .. 4 GiB
CPU_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class PoolState:
    """One warm pool as a scrape sees it."""

    profile: str
    size: int
    ready: int
    hits: int
    misses: int


class _PoolCollector(Collector):
    """Reads the warm pools at scrape time: their numbers live in the pools, not copied around."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[PoolState]] = list

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        ready = GaugeMetricFamily("airlock_warm_pool_ready", "Sandboxes waiting in the warm pool.", labels=["profile"])
        size = GaugeMetricFamily("airlock_warm_pool_size", "Target size of the warm pool.", labels=["profile"])
        hits = CounterMetricFamily(
            "airlock_warm_pool_hits",
            "Sandboxes taken ready from the pool (invocations and registrations).",
            labels=["profile"],
        )
        misses = CounterMetricFamily(
            "airlock_warm_pool_misses", "Sandboxes started on demand because the pool was empty.", labels=["profile"]
        )
        for pool in self.source():
            ready.add_metric([pool.profile], pool.ready)
            size.add_metric([pool.profile], pool.size)
            hits.add_metric([pool.profile], pool.hits)
            misses.add_metric([pool.profile], pool.misses)
        yield from (ready, size, hits, misses)

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return self.collect()


class Metrics:
    """The gateway's metric families (``registry`` is what the /metrics listener serves)."""

    def __init__(self) -> None:
        # ``*_created`` series would double every family's series for a timestamp that
        # Prometheus does not need (process-wide switch; this process is the gateway).
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        self.registry = r = CollectorRegistry()
        # -- gRPC server: the names py-grpc-prometheus and go-grpc-prometheus use ---------
        self.grpc_started = Counter("grpc_server_started", "RPCs started on the server.", GRPC_LABELS, registry=r)
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            (*GRPC_LABELS, "grpc_code"),
            registry=r,
        )
        self.grpc_handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from RPC start to its status.",
            GRPC_LABELS,
            buckets=LONG_BUCKETS,
            registry=r,
        )
        self.grpc_received = Counter(
            "grpc_server_msg_received", "Messages received from clients.", GRPC_LABELS, registry=r
        )
        self.grpc_sent = Counter("grpc_server_msg_sent", "Messages sent to clients.", GRPC_LABELS, registry=r)
        # -- invocations -------------------------------------------------------------------
        self.invocations = Counter(
            "airlock_invocations",
            "Finished invocations by function, profile and outcome.",
            ("function", "profile", "outcome"),
            registry=r,
        )
        self.invocation_duration = Histogram(
            "airlock_invocation_duration_seconds",
            "Start to Result of admitted invocations.",
            ("profile",),
            buckets=LONG_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "airlock_invocation_queue_wait_seconds",
            "Time an admitted invocation waited for a ready sandbox.",
            ("profile",),
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "airlock_invocations_in_flight", "Admitted invocations not yet finished.", ("profile",), registry=r
        )
        self.max_inflight = Gauge("airlock_max_inflight", "The configured max_inflight.", registry=r)
        self.streams_open = Gauge("airlock_streams_open", "Open Invoke streams.", registry=r)
        self.draining = Gauge("airlock_draining", "1 while the gateway drains for shutdown.", registry=r)
        self.rejected = Counter(
            "airlock_rejected", "Requests refused before any sandbox started, by reason.", ("reason",), registry=r
        )
        # -- sandboxes ---------------------------------------------------------------------
        self.sandbox_start = Histogram(
            "airlock_sandbox_start_seconds",
            "Time to start and confine one sandbox until it is ready.",
            ("profile",),
            buckets=START_BUCKETS,
            registry=r,
        )
        self.peak_memory = Histogram(
            "airlock_sandbox_peak_memory_bytes",
            "Peak memory of a sandbox over its invocation (cgroup).",
            ("profile",),
            buckets=MEMORY_BUCKETS,
            registry=r,
        )
        self.cpu = Histogram(
            "airlock_sandbox_cpu_seconds",
            "CPU time of a sandbox over its invocation (cgroup).",
            ("profile",),
            buckets=CPU_BUCKETS,
            registry=r,
        )
        self.limit_kills = Counter("airlock_limit_kills", "Sandboxes ended by a limit, by kind.", ("kind",), registry=r)
        # -- the plugin's traffic ----------------------------------------------------------
        self.events = Counter("airlock_events", "Events plugins emitted, by type.", ("type",), registry=r)
        self.calls = Counter(
            "airlock_calls", "Calls plugins made, by type and how they ended.", ("type", "result"), registry=r
        )
        self.host_requests = Counter(
            "airlock_host_requests",
            "Open WebUI internals plugins asked the host for, by method and how they ended.",
            ("method", "result"),
            registry=r,
        )
        # -- egress (network = "egress" profiles) -----------------------------------------
        self.egress_connections = Counter(
            "airlock_egress_connections",
            "Connections sandboxes asked the egress relay for, by profile and verdict.",
            ("profile", "verdict"),
            registry=r,
        )
        self.egress_bytes = Counter(
            "airlock_egress_bytes",
            "Bytes relayed for sandboxes: out (sandbox to remote host) and in.",
            ("profile", "direction"),
            registry=r,
        )
        self._pools = _PoolCollector()
        r.register(self._pools)
        try:
            release = version("airlock")
        except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
            release = "unknown"
        Info("airlock_build", "The running Airlock release.", registry=r).info({"version": release})
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)  # every reason exported from the start, at 0

    def watch_pools(self, source: Callable[[], Iterable[PoolState]]) -> None:
        """Report the warm pools ``source`` lists at each scrape."""
        self._pools.source = source

    def finished(
        self,
        *,
        function: str,
        profile: str,
        outcome: Outcome | None,
        seconds: float,
        queue_wait: float | None,
        usage: Usage | None,
    ) -> None:
        """Record one finished invocation (``outcome`` None: the client went away first)."""
        self.invocations.labels(function, profile, labels.outcome(outcome) if outcome else "abandoned").inc()
        self.invocation_duration.labels(profile).observe(seconds)
        if queue_wait is not None:
            self.queue_wait.labels(profile).observe(queue_wait)
        if outcome in labels.LIMIT_KINDS:
            self.limit_kills.labels(labels.LIMIT_KINDS[outcome]).inc()
        if usage is not None:  # None when no sandbox ran (it failed to start, or never got one)
            self.peak_memory.labels(profile).observe(usage.peak_memory_bytes)
            self.cpu.labels(profile).observe(usage.cpu_ms / 1000)

    def egress_connection(self, profile: str, verdict: str) -> None:
        """Count one relay request and its verdict (one of EGRESS_VERDICTS)."""
        self.egress_connections.labels(profile, verdict if verdict in EGRESS_VERDICTS else labels.OTHER).inc()

    def event(self, type_: str) -> None:
        """Count one event of a plugin."""
        self.events.labels(labels.event_type(type_)).inc()

    def call(self, type_: str, result: str) -> None:
        """Count one finished call (answered, timed_out, disconnected, abandoned, unanswered)."""
        self.calls.labels(labels.call_type(type_), result).inc()

    def host_request(self, method: str, result: str) -> None:
        """Count one finished host request (answered, error, refused, timed_out, ...)."""
        self.host_requests.labels(labels.host_method(method), result).inc()


#: Why admission refused a request (the ``reason`` label of airlock_rejected_total).
REJECT_REASONS = (
    "gateway_busy",
    "no_start",
    "user_busy",
    "too_many_streams",
    "draining",
    "unauthenticated",
    "permission_denied",
    "request_too_large",
)

#: What the egress relay answered (the ``verdict`` label of airlock_egress_connections_total).
EGRESS_VERDICTS = (
    "allowed",
    "not_listed",
    "malformed",
    "forbidden_address",
    "gateway_port",
    "resolve_failed",
    "connect_failed",
    "too_many_connections",
)
