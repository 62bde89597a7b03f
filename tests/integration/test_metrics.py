"""Prometheus metrics, scraped over HTTP from a real gateway across real invocations."""

from __future__ import annotations

import urllib.request
from typing import Any

import anyio
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from airlock.client import AirlockClient, Call, Outcome
from gateway.config import GatewayConfig
from gateway.server import Gateway
from tests.conftest import probed
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio

Sample = tuple[str, frozenset[tuple[str, str]]]


class Scrape:
    """One scrape of /metrics: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[Sample, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value, 0 when it is not exported (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value ``label`` takes in samples named ``name``."""
        return {dict(labels)[label] for sample, labels in self.samples if sample == name and label in dict(labels)}


async def scrape(gateway: Gateway) -> Scrape:
    """GET the gateway's /metrics, as Prometheus would."""
    assert gateway.metrics_listener is not None
    url = gateway.metrics_listener.url

    def get() -> tuple[str, str]:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own listener
            return response.headers["Content-Type"], response.read().decode()

    content_type, text = await anyio.to_thread.run_sync(get)
    assert content_type.startswith("text/plain")
    return Scrape(text)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


INVOKE = {"grpc_type": "BIDI_STREAM", "grpc_service": "airlock.v1.Runtime", "grpc_method": "Invoke"}


async def test_invocations_events_and_grpc_counters_follow_real_invocations(
    gateway: Gateway, client: AirlockClient
) -> None:
    await register(client, "emitter")
    await register(client, "raises")
    before = await scrape(gateway)
    events: list[dict[str, Any]] = [
        {"type": "status", "data": {"description": "a"}},
        *({"type": "chat:message:delta", "data": {"content": str(i)}} for i in range(3)),
        {"type": "my:custom", "data": {}},
        {"type": "status", "data": {"description": "b", "done": True}},
    ]
    ok = await drain(client, "emitter", body={"events": events})
    failed = await drain(client, "raises", body={"value": 1})
    assert (ok.result.outcome, failed.result.outcome) == (Outcome.OK, Outcome.FUNCTION_ERROR)
    after = await scrape(gateway)

    def d(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    assert d("airlock_invocations_total", function="emitter", profile="default", outcome="ok") == 1
    assert d("airlock_invocations_total", function="raises", profile="default", outcome="function_error") == 1
    assert d("airlock_invocation_duration_seconds_count", profile="default") == 2
    assert d("airlock_invocation_queue_wait_seconds_count", profile="default") == 2
    assert d("airlock_sandbox_peak_memory_bytes_count", profile="default") == 2
    assert d("airlock_sandbox_cpu_seconds_count", profile="default") == 2
    # The kernel's peak for a Python sandbox is megabytes, never zero.
    assert d("airlock_sandbox_peak_memory_bytes_sum", profile="default") > 2 * 1024 * 1024
    assert d("airlock_events_total", type="status") == 2
    assert d("airlock_events_total", type="chat:message:delta") == 3
    assert d("airlock_events_total", type="other") == 1
    assert d("airlock_limit_kills_total", kind="wall_time") == 0
    # gRPC: two streams, each one Start in; Started + events + Result out.
    assert d("grpc_server_started_total", **INVOKE) == 2
    assert d("grpc_server_handled_total", **INVOKE, grpc_code="OK") == 2
    assert d("grpc_server_handling_seconds_count", **INVOKE) == 2
    assert d("grpc_server_msg_received_total", **INVOKE) == 2
    assert d("grpc_server_msg_sent_total", **INVOKE) == (2 + len(events)) + 2
    assert after.value("airlock_invocations_in_flight", profile="default") == 0


async def test_grpc_status_codes_and_unary_messages_are_counted(gateway: Gateway, client: AirlockClient) -> None:
    before = await scrape(gateway)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await client.get_function("nope")
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    await register(client, "emitter")
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await drain(client, "not_registered")
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    after = await scrape(gateway)
    get = {"grpc_type": "UNARY", "grpc_service": "airlock.v1.Registry", "grpc_method": "GetFunction"}
    put = {**get, "grpc_method": "PutFunction"}
    assert delta(before, after, "grpc_server_handled_total", **get, grpc_code="NOT_FOUND") == 1
    assert delta(before, after, "grpc_server_msg_received_total", **get) == 1
    assert delta(before, after, "grpc_server_msg_sent_total", **get) == 0  # an error sends no message
    assert delta(before, after, "grpc_server_handled_total", **put, grpc_code="OK") == 1
    assert delta(before, after, "grpc_server_msg_sent_total", **put) == 1
    assert delta(before, after, "grpc_server_handled_total", **INVOKE, grpc_code="NOT_FOUND") == 1


async def test_calls_are_counted_by_type_and_how_they_ended(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "caller")
    await register(client, "patient")
    before = await scrape(gateway)

    async def answer(call: Call) -> Any:
        return True

    calls = [{"type": "confirmation", "data": {"title": "?"}}, {"type": "input", "data": {"title": "?"}}]
    await drain(client, "caller", on_call=answer, body={"calls": calls})
    # Unanswered: the gateway answers it with a timeout after call_timeout.
    await drain(client, "caller", body={"calls": [{"type": "execute", "data": {"code": "1"}}]}, call_timeout=0.3)

    async def late(call: Call) -> Any:
        if call.data.get("title") == "quick?":
            await anyio.sleep(0.6)  # the plugin gives up on this one after 0.3 s
        return "x"

    await drain(client, "patient", on_call=late)
    after = await scrape(gateway)

    def d(type_: str, result: str) -> float:
        return delta(before, after, "airlock_calls_total", type=type_, result=result)

    assert d("confirmation", "answered") == 1
    assert d("input", "answered") == 2  # caller's second call and patient's second call
    assert d("input", "abandoned") == 1  # patient's first call
    assert d("execute", "timed_out") == 1
    assert d("input", "timed_out") == 0


async def test_plugin_chosen_types_never_become_label_values(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "emitter")
    before = await scrape(gateway)
    events = [{"type": f"made-up-{i}", "data": {}} for i in range(40)]
    await drain(client, "emitter", body={"events": events})
    after = await scrape(gateway)
    assert delta(before, after, "airlock_events_total", type="other") == 40
    assert not any(value.startswith("made-up") for value in after.label_values("airlock_events_total", "type"))


@pytest.mark.slow
async def test_limit_kills_are_counted_by_kind(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "sleeper", profile="fast")
    before = await scrape(gateway)
    drained = await drain(client, "sleeper", body={"seconds": 30}, timeout=0.5)
    assert drained.result.outcome is Outcome.TIMEOUT
    after = await scrape(gateway)
    assert delta(before, after, "airlock_limit_kills_total", kind="wall_time") == 1
    assert delta(before, after, "airlock_invocations_total", function="sleeper", profile="fast", outcome="timeout") == 1


async def test_in_flight_streams_and_warm_pool_gauges(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "sleeper")
    before = await scrape(gateway)
    asked = anyio.Event()
    release = anyio.Event()

    async def hold(call: Call) -> Any:
        asked.set()
        await release.wait()
        return True

    async def run() -> None:
        await drain(client, "sleeper", on_call=hold, body={"ask": True})

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await asked.wait()
        during = await scrape(gateway)
        release.set()
    after = await scrape(gateway)
    assert during.value("airlock_invocations_in_flight", profile="default") == 1
    assert during.value("airlock_streams_open") == 1
    assert after.value("airlock_invocations_in_flight", profile="default") == 0
    assert after.value("airlock_streams_open") == 0
    assert after.value("airlock_warm_pool_size", profile="default") == 2
    hits = delta(before, after, "airlock_warm_pool_hits_total", profile="default")
    misses = delta(before, after, "airlock_warm_pool_misses_total", profile="default")
    assert hits + misses == 1  # the invocation drew from the pool once, hit or miss
    assert after.value("airlock_sandbox_start_seconds_count", profile="default") >= 1
    assert after.value("airlock_max_inflight") == gateway.config.max_inflight
    assert after.value("airlock_draining") == 0
    assert after.value("airlock_build_info", version="0.1.0") == 1


async def test_metrics_listener_can_be_disabled(private_config: GatewayConfig) -> None:
    gw = Gateway(private_config.model_copy(update={"metrics_listen": ""}), host=probed())
    await gw.start()
    try:
        assert gw.metrics_listener is None
    finally:
        await gw.stop(0)


async def test_metrics_listener_port_in_use_is_a_clear_error(gateway: Gateway, gateway_config: GatewayConfig) -> None:
    assert gateway.metrics_listener is not None
    taken = f"127.0.0.1:{gateway.metrics_listener.port}"
    other = Gateway(
        gateway_config.model_copy(update={"metrics_listen": taken, "data_dir": gateway_config.data_dir / "other"}),
        host=probed(),
    )
    with pytest.raises(Exception, match=f"cannot serve metrics on {taken}"):
        await other.start()
    await other.stop(0)


async def test_calls_open_when_an_invocation_ends_are_counted_unanswered(
    gateway: Gateway, client: AirlockClient
) -> None:
    await register(client, "caller")
    before = await scrape(gateway)
    async with client.invoke("caller", body={"calls": [{"type": "confirmation", "data": {}}]}) as invocation:
        async for message in invocation:
            if isinstance(message, Call):
                await invocation.cancel("changed my mind")
    assert invocation.result is not None
    assert invocation.result.outcome is Outcome.CANCELLED
    after = await scrape(gateway)
    assert delta(before, after, "airlock_calls_total", type="confirmation", result="unanswered") == 1
    assert (
        delta(before, after, "airlock_invocations_total", function="caller", profile="default", outcome="cancelled")
        == 1
    )
