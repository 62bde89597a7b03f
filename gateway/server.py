"""Assemble and run a gateway: registry, profiles, launcher, gRPC services."""

from __future__ import annotations

from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway._proto.airlock.v1 import airlock_pb2 as pb
from gateway._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.profiles import load_profiles
from gateway.profiles.loader import DEFAULT_PROFILE
from gateway.registry.service import Registry
from gateway.registry.store import StoreError
from gateway.sandbox import bytecode, probe
from gateway.sandbox.cgroups import CgroupError, Cgroups
from gateway.sandbox.launcher import Launcher
from gateway.servicer.registry import RegistryServicer
from gateway.servicer.runtime import RuntimeServicer

log = structlog.get_logger("airlock.server")
SERVICES = tuple(pb.DESCRIPTOR.services_by_name[name].full_name for name in ("Registry", "Runtime"))


def server_options(config: GatewayConfig) -> list[tuple[str, Any]]:
    """Channel arguments of the gRPC server."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Streams can wait minutes on a human answering a confirmation: keep pinging
        # idle connections and never give up after N pings without data.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]


class Gateway:
    """A running gateway; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.host = probe.probe()
        profiles = load_profiles(config.profiles_dir)
        refused = {name: r for name, p in profiles.items() if (r := probe.refusals(p, self.host))}
        for name, reasons in refused.items():
            log.error("profile_refused", profile=name, reasons=reasons)
        self.profiles = profiles.without(refused)
        if DEFAULT_PROFILE in refused:
            raise AirlockError(
                f"the {DEFAULT_PROFILE} profile cannot run on this host: {'; '.join(refused[DEFAULT_PROFILE])} "
                "(run 'airlock doctor' for the full report)"
            )
        try:
            cgroups = Cgroups.detect()
            cgroups.prepare()
            swept = cgroups.sweep()
        except (CgroupError, OSError) as exc:
            raise AirlockError(f"cgroups: {exc}") from None
        if swept:
            log.warning("stale_sandboxes_removed", count=swept)
        if not bytecode.precompile():
            log.warning("runner_bytecode_not_written", directory=str(bytecode.runner_dir()))
        self.launcher = Launcher(cgroups)
        self.server = grpc.aio.server(options=server_options(config))
        try:
            self.port = self.server.add_insecure_port(config.listen)
        except RuntimeError as exc:  # grpcio reports a busy or invalid address this way
            raise AirlockError(f"cannot listen on {config.listen}: {exc}") from None
        try:
            self.registry = Registry.open(config.data_dir, self.profiles, self.launcher, config.max_source_bytes)
        except StoreError as exc:
            raise AirlockError(str(exc)) from None
        self.health = health.aio.HealthServicer()
        pb_grpc.add_RegistryServicer_to_server(RegistryServicer(self.registry), self.server)
        pb_grpc.add_RuntimeServicer_to_server(RuntimeServicer(self.registry, self.profiles, self.launcher), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)

    @property
    def address(self) -> str:
        """HOST:PORT clients on this machine connect to (wildcard hosts become loopback)."""
        host = self.config.listen.rsplit(":", 1)[0]
        host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Start serving (and warm the profiles' pools unless configured not to)."""
        if self.config.warm_up:
            self.launcher.warm_up(list(self.profiles.values()))
        await self.server.start()
        for service in ("", *SERVICES):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "gateway_started",
            address=self.address,
            data_dir=str(self.config.data_dir),
            profiles=sorted(self.profiles),
            functions=len(self.registry.list_functions()),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving: NOT_SERVING, then let running calls finish within ``grace``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.config.shutdown_grace_seconds if grace is None else grace)
        await self.launcher.aclose()
        self.registry.close()
        self.launcher.cgroups.release()
        log.info("gateway_stopped")

    async def wait(self) -> None:
        """Block until the server terminates."""
        await self.server.wait_for_termination()
