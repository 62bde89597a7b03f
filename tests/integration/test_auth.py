"""Who may call what: bearer tokens, client certificates, the unix socket, and ``serve``'s warnings.

Real gateways on port 0 (or a unix socket) and real credentials: tokens in headers, a PKI
generated per module with ``cryptography``, ``airlock`` subprocesses for the command line.
Every refusal is checked by its exact status code, and where it matters that the refused
call changed nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from airlock.client import AirlockClient
from airlock.openwebui.bridge import BridgeSettings, render
from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.server import Gateway, exposure_warnings
from tests.conftest import command_environment, probed, running_gateway, shared_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

ADMIN_TOKEN = "admin-token-0123456789abcdef"
INVOKER_TOKEN = "invoker-token-0123456789abcdef"
#: An admin valve holding what such valves hold in practice: an API key.
API_KEY = "sk-live-do-not-leak-42"

AIRLOCK = str(Path(sys.executable).parent / "airlock")
LISTENING = "airlock listening on "

ECHO = '''"""
title: Echo
"""
from pydantic import BaseModel

class Action:
    class Valves(BaseModel):
        api_key: str = ""

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body):
        return {"echo": body.get("say"), "keyed": bool(self.valves.api_key)}
'''

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE

READS = ("ListFunctions", "GetFunction", "ListActions")
WRITES = ("PutFunction", "DeleteFunction", "UpdateValves")


# -- helpers ---------------------------------------------------------------------------------


async def status_of(call: Awaitable[object]) -> grpc.StatusCode:
    """The status ``call`` ended with (OK when it returned)."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return OK


async def invoke(client: AirlockClient, action_id: str = "echo", say: str = "hi") -> Any:
    """Run an action to its Result and return its value (asserting it succeeded)."""
    # A refused Invoke surfaces as AioRpcError while the stream is read (or, at the latest,
    # written): both are inside this block.
    async with client.invoke(action_id, body={"say": say}) as invocation:
        result = await invocation.wait()
    assert result.ok, result
    return result.value


async def every_method(client: AirlockClient) -> dict[str, grpc.StatusCode]:
    """The status of each Registry and Runtime method called once, with harmless arguments."""
    return {
        "ListFunctions": await status_of(client.list_functions()),
        "GetFunction": await status_of(client.get_function("echo")),
        "ListActions": await status_of(client.list_actions("m1")),
        "PutFunction": await status_of(client.put_function("intruder", ECHO)),
        "UpdateValves": await status_of(client.update_valves("echo", {"api_key": "stolen"})),
        "DeleteFunction": await status_of(client.delete_function("echo")),
        "Invoke": await status_of(invoke(client)),
    }


@contextlib.asynccontextmanager
async def running(config: GatewayConfig) -> AsyncIterator[Gateway]:
    """A started gateway, stopped afterwards whatever happens."""
    async with running_gateway(config, probed()) as gw:
        yield gw


MakeConfig = Callable[..., GatewayConfig]


@pytest.fixture(autouse=True)
def _no_airlock_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """GatewayConfig reads AIRLOCK_* variables: a token in the caller's environment must not leak in."""
    for name in [name for name in os.environ if name.startswith("AIRLOCK_")]:
        monkeypatch.delenv(name)
    for name, value in shared_settings().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def make_config(tmp_path: Path, profiles_dir: Path) -> MakeConfig:
    """GatewayConfig like the conftest's ``gateway_config``, plus the given (auth) settings."""

    def make(**settings: Any) -> GatewayConfig:
        base: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "metrics_listen": "127.0.0.1:0",
            "data_dir": tmp_path / "data",
            "profiles_dir": profiles_dir,
            "warm_up": False,
        }
        return GatewayConfig(**(base | settings))

    return make


class _Authorization(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    """Sends a fixed ``authorization`` header, however malformed (AirlockClient only sends Bearer)."""

    def __init__(self, header: str) -> None:
        self._metadata = grpc.aio.Metadata(("authorization", header))

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, self._metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def with_header(target: str, header: str) -> AirlockClient:
    """A client whose every call carries ``authorization: <header>``."""
    return AirlockClient(channel=grpc.aio.insecure_channel(target, interceptors=[_Authorization(header)]))


async def totals(gw: Gateway, name: str, label: str) -> dict[str, float]:
    """The samples ``name`` summed by ``label``, scraped over HTTP as Prometheus would."""
    assert gw.metrics_listener is not None
    url = gw.metrics_listener.url

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own listener
            text: str = response.read().decode()
            return text

    found: dict[str, float] = {}
    for family in text_string_to_metric_families(await anyio.to_thread.run_sync(get)):
        for sample in family.samples:
            if sample.name == name:
                found[sample.labels[label]] = found.get(sample.labels[label], 0.0) + sample.value
    return found


async def rejected(gw: Gateway) -> dict[str, float]:
    """airlock_rejected_total by reason."""
    return await totals(gw, "airlock_rejected_total", "reason")


# -- bearer tokens ---------------------------------------------------------------------------


@pytest.fixture
async def token_gateway(make_config: MakeConfig) -> AsyncIterator[Gateway]:
    """A gateway with both tokens, where the admin registered ``echo`` with an API key valve."""
    async with running(make_config(admin_token=ADMIN_TOKEN, invoker_token=INVOKER_TOKEN)) as gw:
        async with AirlockClient(gw.address, token=ADMIN_TOKEN) as admin:
            await admin.put_function("echo", ECHO, model_ids=["m1"], valves={"api_key": API_KEY})
        yield gw


@pytest.fixture
async def admin(token_gateway: Gateway) -> AsyncIterator[AirlockClient]:
    async with AirlockClient(token_gateway.address, token=ADMIN_TOKEN) as client:
        yield client


@pytest.fixture
async def invoker(token_gateway: Gateway) -> AsyncIterator[AirlockClient]:
    async with AirlockClient(token_gateway.address, token=INVOKER_TOKEN) as client:
        yield client


@pytest.mark.parametrize(
    "header",
    [None, "Bearer not-the-token-0123456789", f"Basic {ADMIN_TOKEN}", "Bearer", f"Bearer{ADMIN_TOKEN}"],
    ids=["no-credentials", "wrong-token", "basic-scheme", "bearer-without-token", "no-space"],
)
async def test_cant_call_registry_or_runtime_without_a_valid_token(
    token_gateway: Gateway, admin: AirlockClient, header: str | None
) -> None:
    target = token_gateway.address
    async with AirlockClient(target) if header is None else with_header(target, header) as stranger:
        assert await every_method(stranger) == dict.fromkeys((*READS, *WRITES, "Invoke"), UNAUTHENTICATED), (
            "every Airlock method needs a credential"
        )
    # Refused before the handler ran: nothing was written.
    assert [f.id for f in await admin.list_functions()] == ["echo"]
    assert (await admin.get_function("echo")).valves == {"api_key": API_KEY}


async def test_cant_write_the_registry_as_invoker(invoker: AirlockClient, admin: AirlockClient) -> None:
    statuses = await every_method(invoker)
    assert statuses == {
        **dict.fromkeys(READS, OK),
        "PutFunction": PERMISSION_DENIED,
        "UpdateValves": PERMISSION_DENIED,
        "DeleteFunction": PERMISSION_DENIED,
        "Invoke": OK,
    }
    assert [f.id for f in await admin.list_functions()] == ["echo"]
    assert (await admin.get_function("echo")).valves == {"api_key": API_KEY}


async def test_invoker_reads_the_registry_and_invokes(invoker: AirlockClient) -> None:
    assert [f.id for f in await invoker.list_functions()] == ["echo"]
    record = await invoker.get_function("echo")
    assert (record.id, record.name, record.source) == ("echo", "Echo", ECHO)
    assert [b.id for b in await invoker.list_actions("m1")] == ["echo"]
    # The function runs with its admin valves even though the invoker cannot read them.
    assert await invoke(invoker, say="hello") == {"echo": "hello", "keyed": True}


async def test_admin_can_do_everything(admin: AirlockClient) -> None:
    put = await admin.put_function("second", ECHO, model_ids=["m1"])
    assert put.id == "second"
    updated = await admin.update_valves("second", {"api_key": "other-key"})
    assert updated.valves == {"api_key": "other-key"}
    assert [f.id for f in await admin.list_functions()] == ["echo", "second"]
    assert sorted(b.id for b in await admin.list_actions("m1")) == ["echo", "second"]
    assert await invoke(admin, "second", say="yo") == {"echo": "yo", "keyed": True}
    assert await admin.delete_function("second") == "second"
    assert [f.id for f in await admin.list_functions()] == ["echo"]


async def test_invoker_does_not_see_admin_valves(invoker: AirlockClient, admin: AirlockClient) -> None:
    got = await invoker.get_function("echo")
    (listed,) = await invoker.list_functions()
    assert got.valves is None
    assert listed.valves is None
    assert API_KEY not in repr(got)
    assert API_KEY not in repr(listed)
    assert got.default_valves == {"api_key": ""}  # the defaults are in the source anyway

    assert (await admin.get_function("echo")).valves == {"api_key": API_KEY}
    (admin_listed,) = await admin.list_functions()
    assert admin_listed.valves == {"api_key": API_KEY}


async def test_bearer_scheme_is_case_insensitive(token_gateway: Gateway) -> None:
    async with with_header(token_gateway.address, f"bearer {ADMIN_TOKEN}") as client:
        assert (await client.put_function("lower", ECHO)).id == "lower"


async def test_health_and_reflection_answer_without_credentials(token_gateway: Gateway) -> None:
    async with AirlockClient(token_gateway.address) as anonymous:
        assert await anonymous.health() == "SERVING"
        assert await anonymous.health("airlock.v1.Runtime") == "SERVING"
    async with with_header(token_gateway.address, "Bearer wrong-token-0123456789") as wrong:
        assert await wrong.health() == "SERVING"  # the open services do not even look at the header
    async with grpc.aio.insecure_channel(token_gateway.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    assert {"airlock.v1.Registry", "airlock.v1.Runtime"} <= {s.name for s in response.list_services_response.service}


async def test_refusals_are_counted_by_reason(token_gateway: Gateway) -> None:
    before = await rejected(token_gateway)
    assert before["unauthenticated"] == before["permission_denied"] == 0
    async with AirlockClient(token_gateway.address) as anonymous:
        assert await status_of(anonymous.list_functions()) == UNAUTHENTICATED
        assert await status_of(invoke(anonymous)) == UNAUTHENTICATED
        assert await anonymous.health() == "SERVING"  # not a refusal
    async with AirlockClient(token_gateway.address, token="wrong-token-0123456789") as wrong:
        assert await status_of(wrong.get_function("echo")) == UNAUTHENTICATED
    async with AirlockClient(token_gateway.address, token=INVOKER_TOKEN) as invoker:
        assert await status_of(invoker.put_function("x", ECHO)) == PERMISSION_DENIED
        assert await status_of(invoker.delete_function("echo")) == PERMISSION_DENIED
        assert await invoke(invoker) == {"echo": "hi", "keyed": True}  # not a refusal
    after = await rejected(token_gateway)
    assert after["unauthenticated"] == 3
    assert after["permission_denied"] == 2
    assert token_gateway.metrics.rejected.labels("unauthenticated")._value.get() == 3
    # The gRPC counters see the refusals as well (their interceptor runs outside the auth check).
    handled = await totals(token_gateway, "grpc_server_handled_total", "grpc_code")
    assert (handled["UNAUTHENTICATED"], handled["PERMISSION_DENIED"]) == (3, 2)


# -- mutual TLS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for localhost/127.0.0.1, and client certificates, as PEM files."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def pem(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def client(self, name: str | None, ca: str = "ca.pem") -> grpc.ChannelCredentials:
        """TLS credentials trusting ``ca``, presenting client certificate ``name`` (None: none)."""
        if name is None:
            return grpc.ssl_channel_credentials(root_certificates=self.pem(ca))
        return grpc.ssl_channel_credentials(
            root_certificates=self.pem(ca),
            private_key=self.pem(f"{name}.key"),
            certificate_chain=self.pem(f"{name}.pem"),
        )


Key = ec.EllipticCurvePrivateKey


def _certificate(
    common_name: str,
    key: Key,
    issuer: tuple[x509.Name, Key] | None = None,
    *,
    sans: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    """A certificate for ``key``, signed by ``issuer`` (None: a self-signed CA)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, certificate: x509.Certificate, key: Key) -> None:
    (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key, rogue_ca_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("airlock test CA", ca_key)
    rogue_ca = _certificate("rogue CA", rogue_ca_key)
    _write(directory, "ca", ca, ca_key)
    _write(directory, "rogue-ca", rogue_ca, rogue_ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        "airlock",
        server_key,
        (ca.subject, ca_key),
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    _write(directory, "server", server, server_key)
    clients: dict[str, tuple[str, tuple[x509.Name, Key], list[x509.GeneralName] | None]] = {
        "ops": ("ops", (ca.subject, ca_key), None),
        "host-platform": ("host-platform", (ca.subject, ca_key), None),
        "stranger": ("stranger", (ca.subject, ca_key), None),
        # Named by its SAN only: its common name maps to nothing.
        "robot": ("robot", (ca.subject, ca_key), [x509.DNSName("host-platform")]),
        # Claims to be "ops", but from a CA the gateway does not trust.
        "rogue-ops": ("ops", (rogue_ca.subject, rogue_ca_key), None),
    }
    for name, (common_name, issuer, sans) in clients.items():
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(common_name, key, issuer, sans=sans, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        _write(directory, name, certificate, key)
    return Pki(directory)


ROLES = {"ops": "admin", "host-platform": "invoker"}


def mtls_settings(pki: Pki, roles: dict[str, str]) -> dict[str, Any]:
    return {
        "tls_cert": pki.path("server.pem"),
        "tls_key": pki.path("server.key"),
        "tls_client_ca": pki.path("ca.pem"),
        "tls_client_roles": roles,
    }


@contextlib.asynccontextmanager
async def as_client(gw: Gateway, pki: Pki, name: str | None) -> AsyncIterator[AirlockClient]:
    """A TLS client of ``gw`` (on 127.0.0.1, which the server certificate names)."""
    async with AirlockClient(gw.address, credentials=pki.client(name)) as client:
        yield client


async def test_mtls_roles_follow_the_certificate_names(make_config: MakeConfig, pki: Pki) -> None:
    async with running(make_config(**mtls_settings(pki, ROLES))) as gw:
        async with as_client(gw, pki, "ops") as ops:
            assert (await ops.put_function("echo", ECHO, valves={"api_key": API_KEY})).valves == {"api_key": API_KEY}
        async with as_client(gw, pki, "host-platform") as platform:
            assert await invoke(platform) == {"echo": "hi", "keyed": True}
            assert (await platform.get_function("echo")).valves is None
            assert await status_of(platform.put_function("x", ECHO)) == PERMISSION_DENIED
            assert await status_of(platform.update_valves("echo", {})) == PERMISSION_DENIED
        async with as_client(gw, pki, "robot") as robot:  # mapped by its SAN
            assert await invoke(robot) == {"echo": "hi", "keyed": True}
            assert await status_of(robot.delete_function("echo")) == PERMISSION_DENIED
        async with as_client(gw, pki, "stranger") as stranger:  # verified, but no role
            assert await status_of(stranger.list_functions()) == UNAUTHENTICATED
            assert await status_of(invoke(stranger)) == UNAUTHENTICATED
            assert await stranger.health() == "SERVING"
        counts = await rejected(gw)
        assert (counts["permission_denied"], counts["unauthenticated"]) == (3, 2)


@pytest.mark.parametrize("name", [None, "rogue-ops", "plaintext"], ids=["no-client-cert", "other-ca", "plaintext"])
async def test_cant_connect_to_mtls_without_a_trusted_client_certificate(
    make_config: MakeConfig, pki: Pki, name: str | None
) -> None:
    async with running(make_config(**mtls_settings(pki, ROLES))) as gw:
        credentials = None if name == "plaintext" else pki.client(name)
        async with AirlockClient(gw.address, credentials=credentials) as client:
            with anyio.fail_after(30):
                # The handshake is refused, so not even the open health service answers.
                assert await status_of(client.health()) == UNAVAILABLE
                assert await status_of(client.list_functions()) == UNAVAILABLE
                assert await status_of(invoke(client)) == UNAVAILABLE
        # Refused by TLS, before any RPC reached the credential check.
        assert set((await rejected(gw)).values()) == {0}


async def test_wildcard_role_covers_any_verified_certificate(make_config: MakeConfig, pki: Pki) -> None:
    async with running(make_config(**mtls_settings(pki, {"ops": "admin", "*": "invoker"}))) as gw:
        async with as_client(gw, pki, "ops") as ops:  # a named mapping beats the wildcard
            await ops.put_function("echo", ECHO)
        async with as_client(gw, pki, "stranger") as stranger:
            assert await invoke(stranger) == {"echo": "hi", "keyed": False}
            assert [f.id for f in await stranger.list_functions()] == ["echo"]
            assert await status_of(stranger.put_function("x", ECHO)) == PERMISSION_DENIED
        async with AirlockClient(gw.address, credentials=pki.client("rogue-ops")) as rogue:
            assert await status_of(rogue.list_functions()) == UNAVAILABLE  # "*" means verified ones only


async def test_tls_with_tokens_and_the_cli_over_mtls(make_config: MakeConfig, pki: Pki) -> None:
    settings = mtls_settings(pki, ROLES) | {"invoker_token": INVOKER_TOKEN}
    async with running(make_config(**settings)) as gw:
        # A verified certificate without a role plus a token: the token's role.
        async with AirlockClient(gw.address, token=INVOKER_TOKEN, credentials=pki.client("stranger")) as client:
            assert await status_of(client.list_functions()) == OK
            assert await status_of(client.put_function("x", ECHO)) == PERMISSION_DENIED
        # The CLI's --tls-* options build the same credentials.
        tls = ["--tls-ca", str(pki.path("ca.pem"))]
        for name, expected_status, expected_stderr in [
            ("ops", 0, ""),
            ("stranger", 2, "airlock: UNAUTHENTICATED: "),
        ]:
            cert = ["--tls-cert", str(pki.path(f"{name}.pem")), "--tls-key", str(pki.path(f"{name}.key"))]
            done = await anyio.run_process(
                [AIRLOCK, "--target", gw.address, *tls, *cert, "functions"], check=False, env=clean_env()
            )
            assert done.returncode == expected_status, done.stderr
            assert done.stderr.decode().startswith(expected_stderr)
    # Server TLS without client certificates: tokens are the credential, over TLS.
    tls_only = {"tls_cert": pki.path("server.pem"), "tls_key": pki.path("server.key"), "admin_token": ADMIN_TOKEN}
    async with running(make_config(**tls_only)) as gw:
        async with AirlockClient(gw.address, credentials=pki.client(None)) as anonymous:
            assert await status_of(anonymous.list_functions()) == UNAUTHENTICATED
        async with AirlockClient(gw.address, token=ADMIN_TOKEN, credentials=pki.client(None)) as admin:
            assert (await admin.put_function("echo", ECHO)).id == "echo"
    assert exposure_warnings(make_config(**tls_only, listen="0.0.0.0:0")) == []


# -- unix socket -----------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "mode"), [(None, 0o660), ("0600", 0o600), ("640", 0o640)])
async def test_unix_socket_has_its_mode_serves_and_is_removed(
    make_config: MakeConfig, tmp_path: Path, setting: str | None, mode: int
) -> None:
    path = tmp_path / "airlock.sock"
    settings: dict[str, Any] = {"listen": "", "unix_socket": path}
    if setting is not None:
        settings["unix_socket_mode"] = setting
    config = make_config(**settings)
    assert exposure_warnings(config) == []
    async with running(config) as gw:
        assert path.is_socket()
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert gw.port is None
        assert gw.address == f"unix:{path}"
        async with AirlockClient(f"unix:{path}") as client:
            await client.put_function("echo", ECHO)
            assert await invoke(client) == {"echo": "hi", "keyed": False}
    assert not path.exists()


async def test_cant_take_over_the_unix_socket_of_a_running_gateway(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "airlock.sock"
    async with running(make_config(listen="", unix_socket=path)) as first:
        second = make_config(listen="", unix_socket=path, data_dir=tmp_path / "second")
        with pytest.raises(AirlockError, match=re.escape(f"cannot listen on unix socket {path}: it is in use")):
            await Gateway(second, host=probed()).start()
        async with AirlockClient(first.address) as client:  # the first one still owns it
            assert await status_of(client.list_functions()) == OK
    assert not path.exists()


async def test_a_stale_unix_socket_is_replaced(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "airlock.sock"
    with socket.socket(socket.AF_UNIX) as left_behind:  # bound, never listening: a crashed gateway's
        left_behind.bind(str(path))
    assert path.is_socket()
    async with running(make_config(listen="", unix_socket=path)) as gw, AirlockClient(gw.address) as client:
        assert await status_of(client.list_functions()) == OK


async def test_unix_socket_callers_need_a_token_too(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "airlock.sock"
    async with running(make_config(listen="", unix_socket=path, admin_token=ADMIN_TOKEN)) as gw:
        async with AirlockClient(gw.address) as anonymous:
            assert await status_of(anonymous.list_functions()) == UNAUTHENTICATED
        async with AirlockClient(gw.address, token=ADMIN_TOKEN) as admin:
            assert await status_of(admin.list_functions()) == OK


# -- settings --------------------------------------------------------------------------------


def test_a_short_token_is_refused(make_config: MakeConfig) -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        make_config(admin_token="0123456789")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        make_config(invoker_token="x" * 15)
    assert make_config(invoker_token="x" * 16).invoker_token is not None


@pytest.mark.parametrize(
    ("settings", "named", "secret"),
    [
        ({"admin_token": "short-1234"}, "admin_token (AIRLOCK_ADMIN_TOKEN): ", "short-1234"),
        ({"invoker_token": "tiny-secret"}, "invoker_token (AIRLOCK_INVOKER_TOKEN): ", "tiny-secret"),
        ({"tls_cert": "server.pem"}, "tls_cert and tls_key go together", None),
        ({"tls_client_roles": {"ops": "admin"}}, "tls_client_roles needs tls_client_ca", None),
        (
            {"admin_token": ADMIN_TOKEN, "invoker_token": ADMIN_TOKEN},
            "admin_token and invoker_token must differ",
            ADMIN_TOKEN,
        ),
        ({"listen": ""}, 'listen is "" and unix_socket is unset', None),
    ],
    ids=["short-admin-token", "short-invoker-token", "cert-without-key", "roles-without-ca", "equal-tokens", "nowhere"],
)
def test_invalid_auth_settings_are_named_without_their_secrets(
    tmp_path: Path, settings: dict[str, Any], named: str, secret: str | None
) -> None:
    with pytest.raises(AirlockError) as info:
        GatewayConfig.load(data_dir=tmp_path / "data", metrics_listen="", **settings)
    message = str(info.value)
    assert message.startswith("invalid settings:\n"), message
    assert named in message
    if secret is not None:
        assert secret not in message


# -- airlock serve and the CLI ---------------------------------------------------------------


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without AIRLOCK_* variables, plus ``variables``."""
    return command_environment(**variables)


@dataclass
class Served:
    """A running ``airlock serve``: its process, the target it printed, its stderr."""

    process: subprocess.Popen[str]
    target: str
    stderr: Path

    def warnings(self) -> list[str]:
        return [line for line in self.stderr.read_text().splitlines() if line.startswith("WARNING")]

    def run(self, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """A client command against this gateway, in an environment with only ``variables`` of Airlock's."""
        return subprocess.run(
            [AIRLOCK, "--target", self.target, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=clean_env(**variables),
        )


@contextlib.contextmanager
def serving(tmp_path: Path, profiles_dir: Path, listen: str, **variables: str) -> Iterator[Served]:
    """``airlock serve --listen <listen>``, stopped with SIGTERM (and waited for) afterwards."""
    stderr = tmp_path / "serve.log"
    argv = [AIRLOCK, "serve", "--listen", listen, "--metrics-listen", "127.0.0.1:0"]
    argv += ["--data-dir", str(tmp_path / "data"), "--profiles", str(profiles_dir), "--no-warm-up"]
    argv += ["--log-format", "json"]
    with stderr.open("w") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True, env=clean_env(**variables)
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(LISTENING), f"no listening line ({line!r}):\n{stderr.read_text()}"
        yield Served(process, line.removeprefix(LISTENING).strip(), stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"airlock serve ignored SIGTERM:\n{stderr.read_text()}")
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0, stderr.read_text()


TOKENS = {"AIRLOCK_ADMIN_TOKEN": ADMIN_TOKEN, "AIRLOCK_INVOKER_TOKEN": INVOKER_TOKEN}


@pytest.mark.parametrize(
    ("variables", "warning"),
    [
        ({}, "WARNING: listening on 0.0.0.0:0 WITHOUT AUTHENTICATION: "),
        (TOKENS, "WARNING: listening on 0.0.0.0:0 without TLS: bearer tokens cross the network in clear text."),
    ],
    ids=["no-auth", "tokens-without-tls"],
)
def test_serve_warns_when_exposed_beyond_loopback(
    tmp_path: Path, profiles_dir: Path, variables: dict[str, str], warning: str
) -> None:
    with serving(tmp_path, profiles_dir, "0.0.0.0:0", **variables) as served:
        assert served.run("health").stdout == "SERVING\n"
        (line,) = served.warnings()
        assert line.startswith(warning), line
        assert ADMIN_TOKEN not in served.stderr.read_text()


@pytest.mark.parametrize("variables", [{}, TOKENS], ids=["no-auth", "tokens"])
def test_serve_on_loopback_does_not_warn(tmp_path: Path, profiles_dir: Path, variables: dict[str, str]) -> None:
    with serving(tmp_path, profiles_dir, "127.0.0.1:0", **variables) as served:
        assert served.run("health").returncode == 0
    assert served.warnings() == []
    assert "insecure_listener" not in served.stderr.read_text()


def test_cli_needs_a_token_except_for_health(tmp_path: Path, profiles_dir: Path) -> None:
    plugin = tmp_path / "echo.py"
    plugin.write_text(ECHO)
    with serving(tmp_path, profiles_dir, "127.0.0.1:0", **TOKENS) as served:
        anonymous = served.run("functions")
        assert anonymous.returncode == 2
        assert anonymous.stderr.startswith("airlock: UNAUTHENTICATED: "), anonymous.stderr
        wrong = served.run("--token", "wrong-token-0123456789", "functions")
        assert wrong.returncode == 2
        assert "UNAUTHENTICATED" in wrong.stderr

        as_invoker = served.run("put", str(plugin), AIRLOCK_TOKEN=INVOKER_TOKEN)
        assert as_invoker.returncode == 2
        assert as_invoker.stderr.startswith("airlock: PERMISSION_DENIED: "), as_invoker.stderr
        as_admin = served.run("--token", ADMIN_TOKEN, "put", str(plugin))
        assert as_admin.returncode == 0, as_admin.stderr

        listed = served.run("functions", AIRLOCK_TOKEN=INVOKER_TOKEN)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split()[:2] == ["echo", "action"]

        health = served.run("health")
        assert (health.returncode, health.stdout) == (0, "SERVING\n")


async def test_a_bridge_reaches_a_tls_gateway_with_its_invoker_token(make_config: MakeConfig, pki: Pki) -> None:
    # What `airlock openwebui push --bridge-tls-ca ca.pem --bridge-token ...` writes into a bridge.
    settings = {"tls_cert": pki.path("server.pem"), "tls_key": pki.path("server.key")}
    async with running(make_config(admin_token=ADMIN_TOKEN, invoker_token=INVOKER_TOKEN, **settings)) as gw:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.pem("ca.pem"))
        async with AirlockClient(gw.address, token=ADMIN_TOKEN, credentials=credentials) as admin:
            await admin.put_function("echo", ECHO)
            record = await admin.get_function("echo")
        ca = pki.pem("ca.pem").decode()
        for token, expected in ((INVOKER_TOKEN, None), ("not-the-token-0123456789", "credentials")):
            source = render(record, BridgeSettings(gw.address, token=token, tls_ca_pem=ca))
            namespace: dict[str, Any] = {"__name__": "function_echo"}
            exec(compile(source, "<bridge echo>", "exec"), namespace)  # noqa: S102 - what Open WebUI does
            bridge = namespace["Action"]()
            if expected is None:
                assert await bridge.action({"say": "hi"}) == {"echo": "hi", "keyed": False}
            else:
                with pytest.raises(Exception, match="refused this bridge's credentials"):
                    await bridge.action({"x": 1})
        # Without the CA the bridge does not trust the gateway, and says it cannot connect.
        plain = render(record, BridgeSettings(gw.address, token=INVOKER_TOKEN, tls=True))
        namespace = {"__name__": "function_echo"}
        exec(compile(plain, "<bridge echo>", "exec"), namespace)  # noqa: S102 - what Open WebUI does
        with pytest.raises(Exception, match=r"cannot reach Airlock at .* \(connection or TLS handshake failed\)"):
            await namespace["Action"]().action({"x": 1})
