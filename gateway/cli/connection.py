"""The gateway client commands talk to (the global ``--target``), with gRPC errors made CLI errors."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from airlock.client import AirlockClient
from gateway.cli.failure import CliError, from_rpc_error

T = TypeVar("T")

DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class Connection:
    """Where client commands connect; the group puts one in ``ctx.obj``."""

    target: str = DEFAULT_TARGET
    token: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @functools.cached_property
    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS channel credentials from the --tls-* files, read once (None: a plaintext channel)."""
        if self.tls_ca is None:
            return None
        try:
            return grpc.ssl_channel_credentials(
                root_certificates=self.tls_ca.read_bytes(),
                private_key=self.tls_key.read_bytes() if self.tls_key else None,
                certificate_chain=self.tls_cert.read_bytes() if self.tls_cert else None,
            )
        except OSError as exc:
            raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None

    def client(self) -> AirlockClient:
        """A client of the gateway with this connection's credentials (create it inside the loop)."""
        return AirlockClient(self.target, token=self.token, credentials=self.credentials)

    @contextlib.contextmanager
    def rpc_errors(self) -> Iterator[None]:
        """Turn a gRPC status error raised inside into a CliError (``airlock: CODE: details``)."""
        try:
            yield
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.target) from None

    def run(self, work: Callable[[AirlockClient], Awaitable[T]]) -> T:
        """Open a client, run ``work`` with it on a fresh event loop, close the client."""
        self.credentials  # noqa: B018 - unreadable files are a CliError before any loop starts

        async def session() -> T:
            # The channel must be created inside the running loop that will use it.
            async with self.client() as client:
                return await work(client)

        with self.rpc_errors():
            return asyncio.run(session())
