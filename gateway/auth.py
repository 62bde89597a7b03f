"""Who may call what: bearer tokens and client certificates mapped to two roles.

``admin`` registers, changes and deletes functions, and has every ``invoker`` right;
``invoker`` runs actions and reads the registry (without admin valves, which hold API keys
in practice). The health and reflection services stay open: load balancers probe health
without credentials, and reflection only describes the public API.

Checked by a grpc.aio interceptor before the handler reads a single request message. With
no token and no client CA configured, every caller is ``admin``: the embedded,
loopback-only default (``serve`` warns loudly when that is not on loopback).
"""

from __future__ import annotations

import contextlib
import hmac
from contextvars import ContextVar
from typing import Any

import anyio
import grpc
import structlog

from gateway.config import GatewayConfig, Role
from gateway.method_handlers import Behaviour, Continuation, behaviour_of, preceded, rebuild, split_method
from gateway.metrics import Metrics

#: How long a refused streaming call waits for the client's first message (see _guarded).
_FIRST_MESSAGE_WAIT_SECONDS = 1.0

log = structlog.get_logger("airlock.auth")

#: The role of the caller whose RPC is being handled (read by servicers). The interceptor
#: sets it for every guarded RPC; anything that reads it elsewhere gets the lesser role.
current_role: ContextVar[Role] = ContextVar("airlock_role", default="invoker")

#: The role each Airlock method needs; methods of Airlock services not listed need admin.
REQUIRED_ROLES: dict[str, Role] = {
    "airlock.v1.Registry/PutFunction": "admin",
    "airlock.v1.Registry/PutFunctionWithProgress": "admin",
    "airlock.v1.Registry/DeleteFunction": "admin",
    "airlock.v1.Registry/UpdateValves": "admin",
    "airlock.v1.Registry/GetFunction": "invoker",
    "airlock.v1.Registry/ListFunctions": "invoker",
    "airlock.v1.Registry/ListActions": "invoker",
    "airlock.v1.Runtime/Invoke": "invoker",
}
OPEN_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"})
_RANK: dict[Role, int] = {"invoker": 1, "admin": 2}


class Denied(Exception):
    """A credential check failed; ``code`` is UNAUTHENTICATED or PERMISSION_DENIED."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class Authenticator:
    """Finds the role of a caller from its metadata and its verified client certificate."""

    def __init__(self, config: GatewayConfig) -> None:
        self.enabled = config.auth_enabled
        self._tokens: list[tuple[bytes, Role]] = []
        if config.admin_token is not None:
            self._tokens.append((config.admin_token.get_secret_value().encode(), "admin"))
        if config.invoker_token is not None:
            self._tokens.append((config.invoker_token.get_secret_value().encode(), "invoker"))
        self._cert_roles = dict(config.tls_client_roles)

    def role(self, metadata: tuple[tuple[str, str | bytes], ...], auth_context: dict[str, list[bytes]]) -> Role:
        """The caller's highest role; Denied (UNAUTHENTICATED) without a valid credential."""
        roles: list[Role] = []
        cert_role = self._certificate_role(auth_context)
        if cert_role is not None:
            roles.append(cert_role)
        header = next((value for key, value in metadata if key == "authorization"), None)
        if header is not None:
            roles.append(self._token_role(header))
        if not roles:
            raise Denied(
                grpc.StatusCode.UNAUTHENTICATED,
                "unauthenticated",
                "credentials required: send 'authorization: Bearer <token>' or a client certificate with a role",
            )
        return max(roles, key=_RANK.__getitem__)

    def _token_role(self, header: str | bytes) -> Role:
        text = header.decode("utf-8", "replace") if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Denied(
                grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", "the authorization header is not 'Bearer <token>'"
            )
        presented = token.strip().encode()
        found: Role | None = None
        # Compare with every token, in constant time each: no early exit tells which one was close.
        for expected, role in self._tokens:
            if hmac.compare_digest(presented, expected):
                found = role
        if found is None:
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", "invalid bearer token")
        return found

    def _certificate_role(self, auth_context: dict[str, list[bytes]]) -> Role | None:
        # Present only on TLS connections whose client certificate chained to tls_client_ca:
        # grpc refuses the handshake otherwise (require_client_auth).
        names = [
            value.decode("utf-8", "replace")
            for key in ("x509_common_name", "x509_subject_alternative_name")
            for value in auth_context.get(key, ())
        ]
        if not names:
            return None
        matched: list[Role] = [self._cert_roles[name] for name in names if name in self._cert_roles]
        if not matched and "*" in self._cert_roles:
            matched.append(self._cert_roles["*"])
        if not matched:
            return None
        return max(matched, key=_RANK.__getitem__)

    def check(
        self, method: str, metadata: tuple[tuple[str, str | bytes], ...], auth_context: dict[str, list[bytes]]
    ) -> Role:
        """The caller's role if it may call ``method`` (``service/Method``); Denied otherwise."""
        if not self.enabled:
            return "admin"
        role = self.role(metadata, auth_context)
        needed = REQUIRED_ROLES.get(method, "admin")
        if _RANK[role] < _RANK[needed]:
            raise Denied(
                grpc.StatusCode.PERMISSION_DENIED,
                "permission_denied",
                f"the {role} role may not call {method.rpartition('/')[2]} (it needs {needed})",
            )
        return role


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses RPCs whose caller lacks the method's role, before the handler runs."""

    def __init__(self, authenticator: Authenticator, metrics: Metrics) -> None:
        self._auth = authenticator
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler, behind the credential check."""
        handler = await continuation(handler_call_details)
        service, name = split_method(handler_call_details.method)
        if handler is None or service in OPEN_SERVICES:
            return handler
        return rebuild(handler, self._guarded(behaviour_of(handler), f"{service}/{name}"))

    def _guarded(self, behaviour: Behaviour, method: str) -> Behaviour:
        async def admit(request: Any, context: Any) -> tuple[Any, Any]:
            try:
                role = self._auth.check(method, tuple(context.invocation_metadata() or ()), context.auth_context())
            except Denied as exc:
                self._metrics.rejected.labels(exc.reason).inc()
                log.warning("rpc_denied", method=method, reason=exc.reason, peer=context.peer())
                if hasattr(request, "__anext__"):
                    # A streaming request: wait (briefly) for the client's first message before
                    # ending the call. A client write that races the end of the call fails in
                    # grpc-aio as INTERNAL, which would hide this refusal's real status.
                    with anyio.move_on_after(_FIRST_MESSAGE_WAIT_SECONDS):
                        with contextlib.suppress(Exception):
                            await anext(request)
                await context.abort(exc.code, str(exc))
            current_role.set(role)
            return request, context

        return preceded(behaviour, admit)
