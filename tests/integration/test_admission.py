"""Admission: limits per gateway, per user, on streams and on request size, refused before any sandbox starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient, Call, Outcome
from gateway.config import GatewayConfig
from gateway.server import Gateway
from tests.conftest import probed, running_gateway
from tests.helpers import Drained, drain, eventually, register

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def gateway_with(config: GatewayConfig, **settings: Any) -> AsyncIterator[tuple[Gateway, AirlockClient]]:
    async with running_gateway(config.model_copy(update=settings), probed()) as gw, AirlockClient(gw.address) as client:
        await register(client, "sleeper")
        yield gw, client


@asynccontextmanager
async def holding(client: AirlockClient, user: dict[str, Any] | None = None) -> AsyncIterator[None]:
    """An invocation that stays admitted (its plugin waits on a call) until the block ends."""
    asked = anyio.Event()
    release = anyio.Event()

    async def hold(call: Call) -> Any:
        asked.set()
        await release.wait()
        return True

    async def run() -> None:
        drained = await drain(client, "sleeper", on_call=hold, body={"ask": True}, user=user or {})
        assert drained.result.outcome is Outcome.OK

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await asked.wait()
        try:
            yield
        finally:
            release.set()


def sandboxes_taken(gw: Gateway) -> int:
    """Sandboxes handed out by the default profile's pool, warm or started on demand."""
    return sum(state.hits + state.misses for state in gw.launcher.pool_states())


def retry_delay(error: grpc.aio.AioRpcError) -> timedelta:
    """The google.rpc.RetryInfo delay in the error's rich status details."""
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    delay: timedelta = info.retry_delay.ToTimedelta()
    return delay


async def refused(client: AirlockClient, **kw: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain(client, "sleeper", **kw)
    return caught.value


async def test_over_max_inflight_is_resource_exhausted_with_a_retry_hint(gateway_config: GatewayConfig) -> None:
    async with gateway_with(gateway_config, max_inflight=1, retry_after_seconds=2.5) as (gw, client):
        async with holding(client):
            taken = sandboxes_taken(gw)
            error = await refused(client)
            assert sandboxes_taken(gw) == taken  # refused before any sandbox was started or taken
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details() == "the gateway runs 1 invocations (max_inflight); retry in 2.5 s"
        assert retry_delay(error) == timedelta(seconds=2.5)
        assert dict(error.trailing_metadata() or ())["grpc-retry-pushback-ms"] == "2500"
        assert gw.metrics.rejected.labels("gateway_busy")._value.get() == 1
        # Once the first has finished, the next one is admitted.
        assert (await drain(client, "sleeper")).result.outcome is Outcome.OK


async def test_per_user_limit_counts_each_user_id_separately(gateway_config: GatewayConfig) -> None:
    async with gateway_with(gateway_config, max_inflight_per_user=1) as (gw, client):
        async with holding(client, {"id": "alice"}):
            error = await refused(client, user={"id": "alice", "name": "Alice again"})
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_inflight_per_user" in (error.details() or "")
            bob = await drain(client, "sleeper", user={"id": "bob"})
            assert bob.result.outcome is Outcome.OK
        assert gw.metrics.rejected.labels("user_busy")._value.get() == 1


async def test_users_without_an_id_share_one_allowance(gateway_config: GatewayConfig) -> None:
    async with gateway_with(gateway_config, max_inflight_per_user=1) as (_, client), holding(client, {"name": "-"}):
        error = await refused(client, user={})
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_over_max_streams_is_refused_even_before_a_start(gateway_config: GatewayConfig) -> None:
    async with gateway_with(gateway_config, max_streams=1) as (gw, client):
        channel = grpc.aio.insecure_channel(gw.address)
        idle = pb_grpc.RuntimeStub(channel).Invoke()
        await idle.wait_for_connection()
        # The handler has started and holds its stream.
        assert await eventually(lambda: gw.metrics.streams_open._value.get() == 1)
        try:
            error = await refused(client)
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.details() == "the gateway has 1 open Invoke streams (max_streams); retry in 1 s"
            assert gw.metrics.rejected.labels("too_many_streams")._value.get() == 1
        finally:
            idle.cancel()
            await channel.close()


async def test_a_stream_without_start_times_out(gateway_config: GatewayConfig) -> None:
    async with gateway_with(gateway_config, first_message_timeout_seconds=0.3) as (gw, _):
        async with grpc.aio.insecure_channel(gw.address) as channel:
            call = pb_grpc.RuntimeStub(channel).Invoke()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert caught.value.details() == "no Start message within 0.3 s of opening the stream"


async def test_oversized_requests_are_refused_by_the_gateway_and_counted(gateway_config: GatewayConfig) -> None:
    limit = 64 * 1024
    async with gateway_with(gateway_config, max_message_bytes=limit) as (gw, client):
        error = await refused(client, body={"padding": "x" * (limit + 1)})
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.details() or "").endswith(f"exceeds max_message_bytes={limit}")
        with pytest.raises(grpc.aio.AioRpcError) as put:
            await client.put_function("big", "x = 1\n" + "#" * limit)
        assert put.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # Beyond grpc-core's own limit (twice ours) the transport refuses it; still RESOURCE_EXHAUSTED.
        huge = await refused(client, body={"padding": "x" * (2 * limit + 1)})
        assert huge.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert gw.metrics.rejected.labels("request_too_large")._value.get() == 2
        # Just under the limit is fine.
        assert (await drain(client, "sleeper", body={"padding": "x" * (limit // 2)})).result.outcome is Outcome.OK


async def test_waiting_for_a_sandbox_counts_against_session_seconds(
    gateway_config: GatewayConfig, profiles_dir: Path
) -> None:
    # One sandbox at a time, each cut after 1 s: of three invocations
    # started together, the last in line waits longer than its own session allows.
    (profiles_dir / "tiny.toml").write_text("max_concurrent = 1\nsession_seconds = 1\nwall_seconds = 1\n")
    async with gateway_with(gateway_config) as (_, client):
        await register(client, "sleeper", "tiny_sleeper", profile="tiny")
        results: list[Drained] = []

        async def run() -> None:
            results.append(await drain(client, "tiny_sleeper", body={"seconds": 5}))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(run)
    assert [r.result.outcome for r in results] == [Outcome.TIMEOUT] * 3
    waited = [r.result.error for r in results if "became free" in r.result.error]
    assert waited, [r.result.error for r in results]
    assert waited[-1] == "session_seconds ran out: no 'tiny' sandbox became free within 1 s (max_concurrent=1)"
