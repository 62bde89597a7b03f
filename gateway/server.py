"""Assemble and run a gateway: registry, profiles, launcher, gRPC services."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import anyio
import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.domain.progress import Progress, Stage
from gateway.admission import Admission
from gateway.auth import Authenticator, AuthInterceptor
from gateway.background import Background
from gateway.config import GatewayConfig, is_loopback, split_host_port
from gateway.datadir import DataDirLock
from gateway.egress.relays import EgressRelays
from gateway.errors import AirlockError, FailedPrecondition, WorkerFailed
from gateway.metrics import Metrics
from gateway.metrics.exporter import MetricsListener
from gateway.metrics.interceptor import MetricsInterceptor
from gateway.profiles import Profile, load_profiles
from gateway.profiles.loader import DEFAULT_PROFILE
from gateway.registry.service import Registry
from gateway.registry.store import StoreError
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.runtimes import Runtimes
from gateway.requirements.wheelcache import WheelCache
from gateway.sandbox import bytecode, probe
from gateway.sandbox.cgroups import CgroupError, Cgroups
from gateway.sandbox.confinement import Imports
from gateway.sandbox.launcher import Launcher, worst_case_sandboxes
from gateway.sandbox.worker import StartFailed
from gateway.servicer.registry import RegistryServicer
from gateway.servicer.runtime import RuntimeServicer
from gateway.servicer.sizes import RequestSizeInterceptor, hard_limit
from gateway.uids import UidRange, check_mappable, claim_slice

log = structlog.get_logger("airlock.server")
#: After cancelling what outlived the grace, how long their Results (and other RPCs) get.
_CANCELLED_RESULT_SECONDS = 5.0
SERVICES = tuple(pb.DESCRIPTOR.services_by_name[name].full_name for name in ("Registry", "Runtime"))


def server_options(config: GatewayConfig) -> list[tuple[str, Any]]:
    """Channel arguments of the gRPC server."""
    return [
        ("grpc.so_reuseport", 0),
        # The gateway refuses messages beyond max_message_bytes itself (RequestSizeInterceptor).
        ("grpc.max_receive_message_length", hard_limit(config.max_message_bytes)),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Streams can wait minutes on a human answering a confirmation: keep pinging
        # idle connections and never give up after N pings without data.
        ("grpc.keepalive_time_ms", int(config.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
        ("grpc.http2.max_pings_without_data", 0),
        # Clients may ping idle streams as well (a host waiting on its user), but not flood.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ]


def exposure_warnings(config: GatewayConfig) -> list[str]:
    """What is unsafe about where and how ``config`` listens (printed loudly by ``serve``)."""
    warnings = []
    if config.unix_socket is not None and int(config.unix_socket_mode, 8) & 0o007 and not config.auth_enabled:
        warnings.append(
            f"the unix socket {config.unix_socket} is open to every local user (mode {config.unix_socket_mode}) "
            "WITHOUT AUTHENTICATION: each of them can register and run code."
        )
    if config.unix_socket is not None and config.tls_client_ca is not None and not config.has_tokens:
        warnings.append(
            f"the unix socket {config.unix_socket} carries no client certificates and no token is set: "
            "every Airlock call on it is refused."
        )
    return warnings + _tcp_warnings(config)


def _tcp_warnings(config: GatewayConfig) -> list[str]:
    if not config.listen:
        return []
    host, _ = split_host_port(config.listen)
    if is_loopback(host):
        return []
    if not config.auth_enabled:
        return [
            f"listening on {config.listen} WITHOUT AUTHENTICATION: anyone who can reach this address can "
            "register and run code. Set AIRLOCK_ADMIN_TOKEN and AIRLOCK_INVOKER_TOKEN, or mTLS "
            "(tls_cert, tls_key, tls_client_ca), or listen on loopback or a unix socket."
        ]
    if config.tls_cert is None:
        return [f"listening on {config.listen} without TLS: bearer tokens cross the network in clear text."]
    return []


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AirlockError(f"cannot read {what} {path}: {exc.strerror}") from None


def _accepting(path: Path) -> bool:
    """Whether something accepts connections on the unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            return False  # bound but nobody listens: stale
        except OSError:
            return True  # cannot tell (no permission, backlog full): never take it over
    return True


def server_credentials(config: GatewayConfig) -> grpc.ServerCredentials | None:
    """TLS credentials of the TCP listener (requiring client certificates with tls_client_ca)."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    ca = _read(config.tls_client_ca, "tls_client_ca") if config.tls_client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(_read(config.tls_key, "tls_key"), _read(config.tls_cert, "tls_cert"))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


class Gateway:
    """A gateway; ``port`` is the bound TCP port once started (useful with port 0), None without one.

    Construction takes what must be exclusive before anything reads the data directory (its
    lock, a slice of sandbox uids, this gateway's cgroups) and opens the registry; start()
    binds the listeners. A failure at either step releases everything taken so far before
    the error is raised, so a gateway that failed to start leaves no port, lock, cgroup or
    task behind; stop() releases it all after a successful start.

    ``host`` is what this host offers, when the caller already probed it (else it is probed
    here: two short subprocesses).
    """

    def __init__(self, config: GatewayConfig, *, host: probe.HostSupport | None = None) -> None:
        self.config = config
        self.host = host if host is not None else probe.probe()
        profiles = load_profiles(config.profiles_dir)
        refused = {name: r for name, p in profiles.items() if (r := probe.refusals(p, self.host))}
        for name, reasons in refused.items():
            log.error("profile_refused", profile=name, reasons=reasons)
        for weaker in self.host.degraded():
            log.warning("layer_degraded", detail=weaker)
        self.profiles = profiles.without(refused)
        if DEFAULT_PROFILE in refused:
            raise AirlockError(
                f"the {DEFAULT_PROFILE} profile cannot run on this host: {'; '.join(refused[DEFAULT_PROFILE])} "
                "(run 'airlock doctor' for the full report)"
            )
        # Once: it reads pip's configuration and resolves the package source's hosts.
        self._policy = InstallPolicy.from_config(config)
        #: What each built runtime's workers import from, by digest (see _imports).
        self._runtime_imports: dict[str, Imports] = {}
        self._credentials = server_credentials(config)
        self.metrics = Metrics()
        self.admission = Admission(
            max_inflight=config.max_inflight,
            max_inflight_per_user=config.max_inflight_per_user,
            max_streams=config.max_streams,
            retry_after=config.retry_after_seconds,
            metrics=self.metrics,
        )
        # Metrics first, so that every refusal by the later ones is counted; credentials are
        # checked before any request message is looked at.
        interceptors = [
            MetricsInterceptor(self.metrics),
            AuthInterceptor(Authenticator(config), self.metrics),
            RequestSizeInterceptor(config.max_message_bytes, self.metrics),
        ]
        self.server = grpc.aio.server(interceptors=interceptors, options=server_options(config))
        self.port: int | None = None
        self.metrics_listener: MetricsListener | None = None
        #: What this gateway holds outside itself, released in reverse order (stop, failed start).
        self._held = contextlib.ExitStack()
        self._listening = False
        self._unix_bound = False
        self._serving = False
        self._closed = False
        #: Owns every background task (warm pools, worker releases, egress relays) from start to stop.
        self.background = Background()
        try:
            self._take_resources()
        except BaseException:
            self._held.close()
            raise

    def _take_resources(self) -> None:
        config = self.config
        # The lock comes first: the registry collects unreferenced requirement sets and the
        # egress relays unlink sockets they find, both fatal to a gateway already using them.
        data_lock = DataDirLock(config.data_dir)
        data_lock.acquire()
        self._held.callback(data_lock.release)
        uids = self._claim_uids()
        try:
            cgroups = Cgroups.detect()
            self._held.callback(cgroups.release)
            cgroups.prepare()
            swept = cgroups.sweep()
        except (CgroupError, OSError) as exc:
            raise AirlockError(f"cgroups: {exc}") from None
        if swept:
            log.warning("stale_sandboxes_removed", count=swept)
        if not bytecode.precompile():
            log.warning("runner_bytecode_not_written", directory=str(bytecode.runner_dir()))
        self.egress = EgressRelays(config.data_dir / "egress", background=self.background, metrics=self.metrics)
        self.launcher = Launcher(
            cgroups,
            background=self.background,
            metrics=self.metrics,
            egress=self.egress,
            uids=uids,
            imports=self._imports,
        )
        policy = self._policy
        cache = WheelCache(config.wheel_cache_root)
        try:
            cache.prepare()
        except OSError as exc:
            raise AirlockError(f"wheel_cache_dir {config.wheel_cache_root}: {exc}") from None
        self.runtimes = Runtimes(config.runtimes_root, policy, self.launcher, self.profiles.resolve(""), cache)
        for leftover in self.runtimes.collect_staging():
            log.warning("runtime_build_leftover_removed", directory=leftover)
        try:
            self.registry = Registry.open(
                config.data_dir,
                self.profiles,
                self.launcher,
                max_source_bytes=config.max_source_bytes,
                policy=policy,
                runtimes=self.runtimes,
            )
        except StoreError as exc:
            raise AirlockError(str(exc)) from None
        self._held.callback(self.registry.close)
        self.health = health.aio.HealthServicer()
        self.runtime = RuntimeServicer(
            self.registry,
            self.profiles,
            self.launcher,
            admission=self.admission,
            metrics=self.metrics,
            first_message_timeout=config.first_message_timeout_seconds,
            max_message_bytes=config.max_message_bytes,
        )
        pb_grpc.add_RegistryServicer_to_server(RegistryServicer(self.registry), self.server)
        pb_grpc.add_RuntimeServicer_to_server(self.runtime, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)

    def _imports(self, profile: Profile) -> Imports:
        """What ``profile``'s workers import from: its runtime, once built.

        Asked for every worker and every Result: remembered per runtime once it is built
        (a built runtime's directory never changes), so the hot path does no file system call.
        """
        spec = self.profiles.runtime(profile)
        imports = self._runtime_imports.get(spec.digest)
        if imports is None:
            if not self.runtimes.ready(spec):
                raise StartFailed(f"runtime {spec.name!r} of profile {profile.name!r} is not built")
            imports = self._runtime_imports[spec.digest] = Imports.runtime(self.runtimes.path(spec))
        return imports

    async def build_runtimes(self) -> dict[str, str]:
        """Build the runtimes the profiles need and are not built yet, with progress in the log.

        A runtime that fails to build takes the profiles naming it out of service (refused,
        with pip's error); the others serve. Returns the failures by runtime name. The
        default profile's runtime failing is an error: nothing could be registered.
        """
        failures: dict[str, str] = {}
        for spec in self.profiles.needed_runtimes():
            if self.runtimes.ready(spec):
                continue
            log.info(
                "runtime_build_started",
                runtime=spec.name,
                packages=len(spec.pins),
                source=self.runtimes.policy.source.describe(),
                directory=str(self.runtimes.path(spec)),
            )

            async def report(progress: Progress, name: str = spec.name) -> None:
                if progress.stage is Stage.OUTPUT:
                    log.info("runtime_build", runtime=name, pip=progress.message)
                else:
                    log.info("runtime_build", runtime=name, stage=progress.stage.name.lower(), detail=progress.message)

            try:
                await self.runtimes.ensure(spec, report)
            except (FailedPrecondition, WorkerFailed) as exc:
                failures[spec.name] = str(exc)
                log.error("runtime_build_failed", runtime=spec.name, error=str(exc))
        refused = {
            name: [f"its runtime {profile.runtime!r} failed to build: {failures[profile.runtime]}"]
            for name, profile in self.profiles.items()
            if profile.runtime in failures
        }
        if DEFAULT_PROFILE in refused:
            raise AirlockError(f"the {DEFAULT_PROFILE} profile cannot run: {refused[DEFAULT_PROFILE][0]}")
        for name, reasons in refused.items():
            log.error("profile_refused", profile=name, reasons=reasons)
        self.profiles.refuse(refused)
        return failures

    async def build_only(self) -> dict[str, str]:
        """Build the runtimes the profiles need, without serving (``airlock runtimes build``), then close.

        Returns the failures by runtime name (AirlockError when the default profile's fails).
        """
        if self._closed:
            raise AirlockError("this gateway has been stopped; make a new one")
        try:
            await self.background.start()
            return await self.build_runtimes()
        finally:
            with anyio.CancelScope(shield=True):
                await self._close(0)

    def _claim_uids(self) -> UidRange:
        """Claim the slice of the sandbox uid range this gateway's sandboxes run as (until stop)."""
        config = self.config
        wanted = UidRange(config.sandbox_uid_first, config.sandbox_uid_count)
        if os.geteuid() != 0:
            # An unprivileged gateway runs every sandbox as itself (confinement.confine_frame):
            # there is no uid to keep apart from other gateways.
            return UidRange(wanted.first, config.sandbox_uids_per_gateway)
        needed = sum(worst_case_sandboxes(p) for p in self.profiles.values())
        # Runtime builds and requirement installs run in installer sandboxes of their own.
        policy = self._policy
        needed += worst_case_sandboxes(policy.installer_profile(self.profiles[DEFAULT_PROFILE], runtime_build=True))
        if config.requirements_install:
            needed += worst_case_sandboxes(policy.installer_profile(self.profiles[DEFAULT_PROFILE]))
        if config.sandbox_uids_per_gateway < needed:
            raise AirlockError(
                f"sandbox_uids_per_gateway={config.sandbox_uids_per_gateway} is below the {needed} sandboxes "
                "the profiles can run at once (2 x max_concurrent + warm_pool_size each, and the "
                "requirement installers when installs are on): two of them "
                "would share a uid"
            )
        check_mappable(wanted)
        claimed = claim_slice(config.sandbox_uid_lock_dir, wanted, config.sandbox_uids_per_gateway)
        self._held.callback(claimed.release)
        log.info("sandbox_uids_claimed", uids=str(claimed.range), lock_dir=str(config.sandbox_uid_lock_dir))
        return claimed.range

    def _listen(self) -> int | None:
        config = self.config
        port: int | None = None
        if config.unix_socket is not None:
            self._check_unix_socket(config.unix_socket)
        self._listening = True  # from here on, grpc may hold a bound socket
        if config.listen:
            try:
                if self._credentials is None:
                    port = self.server.add_insecure_port(config.listen)
                else:
                    port = self.server.add_secure_port(config.listen, self._credentials)
            except RuntimeError as exc:  # grpcio reports a busy or invalid address this way
                raise AirlockError(f"cannot listen on {config.listen}: {exc}") from None
        if config.unix_socket is not None:
            self._listen_unix(config.unix_socket)
        return port

    @staticmethod
    def _check_unix_socket(path: Path) -> None:
        if path.is_socket():
            if _accepting(path):
                # Taking it over would hide the running gateway (and its stop would then
                # unlink our socket): refuse, like a busy TCP address.
                raise AirlockError(f"cannot listen on unix socket {path}: it is in use (another gateway?)")
            path.unlink()  # left by a gateway that did not stop cleanly

    def _listen_unix(self, path: Path) -> None:
        # Same-host callers: the socket's permission bits are the access control (plus tokens
        # if configured). The umask covers the moment between bind and chmod, when the socket
        # would otherwise be open to every local user.
        mode = int(self.config.unix_socket_mode, 8)
        previous = os.umask(0o777 & ~mode)
        try:
            self.server.add_insecure_port(f"unix:{path}")
            self._unix_bound = True
        except RuntimeError as exc:
            raise AirlockError(f"cannot listen on unix socket {path}: {exc}") from None
        finally:
            os.umask(previous)

    @property
    def address(self) -> str:
        """Where clients on this machine connect: HOST:PORT (wildcards become loopback) or unix:PATH."""
        if self.port is None:
            return f"unix:{self.config.unix_socket}"
        host = self.config.listen.rsplit(":", 1)[0]
        host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Listen and start serving (and warm the profiles' pools unless configured not to).

        On failure (an address in use, say) everything the gateway holds is released before
        the error is raised; stop() is then a no-op.
        """
        if self._closed:
            raise AirlockError("this gateway has been stopped; make a new one")
        try:
            await self._start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._close(None)
            raise

    async def _start(self) -> None:
        await self.background.start()
        # grpc's health service says SERVING for "" until told otherwise: not before we are.
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        # Before listening: a profile is served only with its runtime in place.
        await self.build_runtimes()
        self.port = self._listen()
        if self.port is not None:
            self.egress.own_ports.add(self.port)
        if self.config.metrics_listen:
            host, port = split_host_port(self.config.metrics_listen)
            self.metrics_listener = MetricsListener(host, port, self.metrics.registry)
            self.egress.own_ports.add(self.metrics_listener.port)
        if self.config.warm_up:
            self.launcher.warm_up(list(self.profiles.values()))
        await self.server.start()
        self._serving = True
        if self.config.unix_socket is not None:
            self.config.unix_socket.chmod(int(self.config.unix_socket_mode, 8))
        for service in ("", *SERVICES):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        for warning in exposure_warnings(self.config):
            log.warning("insecure_listener", warning=warning)
        log.info(
            "gateway_started",
            address=self.address,
            unix_socket=str(self.config.unix_socket) if self.config.unix_socket else None,
            metrics=self.metrics_listener.url if self.metrics_listener else None,
            auth=self.config.auth_enabled,
            tls=self.config.tls_cert is not None,
            data_dir=str(self.config.data_dir),
            profiles=sorted(self.profiles),
            functions=len(self.registry.list_functions()),
            requirements_install=self.config.requirements_install,
            requirement_sets_removed=len(self.registry.collected),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Drain, then stop (idempotent; after a failed start there is nothing left to do).

        Health turns NOT_SERVING and new invocations are refused; running ones get ``grace``
        seconds, the rest end as CANCELLED; then every sandbox, zygote and listener closes,
        and the data directory's lock and the uid slice are given up last.
        """
        if self._closed:
            return
        if self._serving:
            grace = self.config.shutdown_grace_seconds if grace is None else grace
            self.admission.draining = True
            self.metrics.draining.set(1)
            await self.health.enter_graceful_shutdown()
            log.info("draining", invocations=self.admission.inflight, grace_seconds=grace)
            with anyio.move_on_after(grace):
                await self.admission.idle()
            cancelled = self.runtime.cancel_all("the gateway is shutting down")
            if cancelled:
                log.warning("invocations_cancelled_for_shutdown", count=cancelled)
                # Their sandboxes are killed at once; this is the time to send the Results.
                with anyio.move_on_after(_CANCELLED_RESULT_SECONDS):
                    await self.admission.idle()
        await self._close(_CANCELLED_RESULT_SECONDS)  # registry calls, streams without a Start

    async def _close(self, grace: float | None) -> None:
        """Release everything, listeners first, the data directory's lock last (once)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._listening:
                if not self._serving:
                    # grpc frees a bound port only when a started server stops. Nothing can
                    # have called it yet (the address was never announced) and health says
                    # NOT_SERVING, so it is started only to be stopped at once.
                    with contextlib.suppress(Exception):
                        await self.server.start()
                await self.server.stop(grace)
            await self.launcher.aclose()
            # Last of the tasks: whatever still runs is cancelled (releases finish, shielded),
            # and a task that failed while the gateway served is raised, once all is closed.
            await self.background.aclose()
        finally:
            if self.metrics_listener is not None:
                self.metrics_listener.close()
            if self._unix_bound and self.config.unix_socket is not None:
                self.config.unix_socket.unlink(missing_ok=True)
            self._held.close()
            log.info("gateway_stopped")

    async def wait(self) -> None:
        """Block until the server terminates."""
        await self.server.wait_for_termination()
