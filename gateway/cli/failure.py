"""How the CLI reports a failure it understands: ``airlock: <message>`` and exit status 2.

Exit statuses of the whole CLI: 0 success, 1 the action raised (FUNCTION_ERROR), 2 the
request could not be carried out (usage, gRPC status, a gateway that will not start),
3 the invocation ended any other way (TIMEOUT, CPU_LIMIT, CANCELLED, ...).
"""

from __future__ import annotations

from typing import IO, Any

import click
import grpc

#: Exit status of usage errors, gRPC errors and a gateway that cannot start (click uses 2 for usage too).
EXIT_FAILURE = 2


class CliError(click.ClickException):
    """A failure shown as ``airlock: <message>`` on stderr, with exit status 2."""

    exit_code = EXIT_FAILURE

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message in the CLI's own format rather than click's ``Error: ...``."""
        click.echo(f"airlock: {self.format_message()}", file=file, err=file is None)


#: How grpc-core words "nothing answered at that address" (refused, unresolvable, unroutable).
_UNREACHABLE_WORDING = ("failed to connect", "connection refused", "errors resolving", "dns resolution failed")


def _unreachable(error: grpc.aio.AioRpcError) -> bool:
    # UNAVAILABLE also comes from the gateway itself (a worker that would not start), so
    # only the transport's own wording means the target is wrong or down.
    details = (error.details() or "").lower()
    return error.code() is grpc.StatusCode.UNAVAILABLE and any(words in details for words in _UNREACHABLE_WORDING)


def from_rpc_error(error: grpc.aio.AioRpcError, target: str) -> CliError:
    """``CODE: details``, saying which target could not be reached when nothing answered."""
    code = error.code().name
    details = error.details() or "(no details)"
    if _unreachable(error):
        return CliError(f"{code}: cannot reach the gateway at {target} ({details})")
    return CliError(f"{code}: {details}")
