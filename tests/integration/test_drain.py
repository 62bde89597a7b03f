"""Draining for shutdown: what running, waiting and new invocations see while a gateway stops.

In-process gateways are stopped by the test itself (``Gateway.stop(grace)`` as a task), so
health, metrics and refusals can be observed while the drain is in progress; the last test
sends SIGTERM to a real ``airlock serve`` and checks exit status, Results and orphans.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient, Call, Event, HostRequest, InvocationStream, Outcome, Result
from gateway.config import GatewayConfig
from gateway.server import SERVICES, Gateway
from tests.conftest import probed
from tests.helpers import Drained, check, eventually, sandbox_alive, sandbox_gone, zombie
from tests.integration.test_cli import AIRLOCK, LISTENING, Served

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ACTION = "drained"

#: Reports its sandbox, then waits on a call (``ask``) and/or sleeps, then returns ``returns``.
PLUGIN = '''
"""
title: Drained
"""
import asyncio
import os


def sandbox_identity():
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


class Action:
    async def action(self, body, __event_emitter__, __event_call__):
        await __event_emitter__({"type": "sandbox", "data": {"identity": sandbox_identity()}})
        if body.get("ask"):
            await __event_call__({"type": "confirmation", "data": {"title": "hold on"}})
        await asyncio.sleep(body.get("seconds", 0))
        return body.get("returns")
'''

SHUTDOWN_MESSAGE = "the gateway is shutting down"
#: ``--shutdown-grace-seconds`` of the served gateway.
SERVE_GRACE = 3.0


# -- processes ------------------------------------------------------------------------


def start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: tells a process apart from a later one with its pid."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[19]


def descendants(pid: int) -> dict[int, str]:
    """Every descendant of ``pid`` (children of any of its threads, recursively) with its start time."""
    found: dict[int, str] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # exited meanwhile
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                try:
                    found[child] = start_time(child)
                except OSError:
                    continue
                parents.append(child)
    return found


def descendants_until_exit(process: subprocess.Popen[str], within: float) -> dict[int, str]:
    """Every descendant ``process`` has from now until it exits (or ``within`` seconds pass)."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + within
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(descendants(process.pid))
        time.sleep(0.02)
    return seen


def survivors(processes: dict[int, str]) -> dict[int, str]:
    """Those of ``processes`` still running: same pid and start time, and not a zombie."""
    alive: dict[int, str] = {}
    for pid, started in processes.items():
        try:
            if start_time(pid) == started and not zombie(pid):
                alive[pid] = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
    return alive


# -- invocations in the background ----------------------------------------------------


class Running:
    """One invocation of the drained action, read to its end by a background task."""

    def __init__(self, client: AirlockClient, body: dict[str, Any], **kw: Any) -> None:
        self._client = client
        self._body = body
        self._kw = kw
        #: Set once the plugin is surely waiting: its call arrived (``ask``), or its sandbox event.
        self.ready = anyio.Event()
        self.sandbox = ""
        self.call: Call | None = None
        self.stream: InvocationStream | None = None
        self.drained: Drained | None = None
        self.ended_at = 0.0

    async def run(self) -> None:
        received: list[Any] = []
        async with self._client.invoke(ACTION, body=self._body, **self._kw) as stream:
            self.stream = stream
            async for message in stream:  # calls stay unanswered unless the test replies
                received.append(message)
                if isinstance(message, Event) and message.type == "sandbox":
                    self.sandbox = str(message.data["identity"])
                if isinstance(message, Call):
                    self.call = message
                if isinstance(message, Call) or (isinstance(message, Event) and not self._body.get("ask")):
                    self.ready.set()
        self.ended_at = time.monotonic()
        self.drained = check(received)

    async def answer(self, value: Any) -> None:
        """Reply to the plugin's call."""
        assert self.stream is not None
        assert self.call is not None
        await self.stream.reply(self.call.call_id, value)

    @property
    def result(self) -> Result:
        assert self.drained is not None, "the invocation has not ended"
        return self.drained.result


async def start(tg: anyio.abc.TaskGroup, client: AirlockClient, *, wait: bool = True, **body: Any) -> Running:
    """Start an invocation with ``body`` in ``tg``; unless told not to, wait until it is ready."""
    kw: dict[str, Any] = {"call_timeout": 120} if body.get("ask") else {}
    running = Running(client, body, **kw)
    tg.start_soon(running.run)
    if wait:
        with anyio.fail_after(20):
            await running.ready.wait()
        assert running.drained is None
    return running


# -- an in-process gateway the test stops ---------------------------------------------


class Stoppable:
    """A started gateway; the test stops it, or the fixture does at teardown."""

    def __init__(self, gateway: Gateway, before: dict[int, str]) -> None:
        self.gateway = gateway
        #: This process's descendants before the gateway started (left by earlier tests, if any).
        self.before = before
        #: How long ``stop`` took, once it returned.
        self.seconds: float | None = None

    async def stop(self, grace: float) -> None:
        began = time.monotonic()
        await self.gateway.stop(grace)
        self.seconds = time.monotonic() - began

    def ours(self) -> dict[int, str]:
        """The processes this gateway started (zygotes, pooled and running sandboxes)."""
        return {pid: started for pid, started in descendants(os.getpid()).items() if self.before.get(pid) != started}


@pytest.fixture
async def stoppable(gateway_config: GatewayConfig) -> AsyncIterator[Stoppable]:
    before = descendants(os.getpid())
    gateway = Gateway(gateway_config, host=probed())
    await gateway.start()
    subject = Stoppable(gateway, before)
    try:
        yield subject
    finally:
        if subject.seconds is None:
            await gateway.stop(0)


@pytest.fixture
async def client(stoppable: Stoppable) -> AsyncIterator[AirlockClient]:
    async with AirlockClient(stoppable.gateway.address) as c:
        await c.put_function(ACTION, PLUGIN)
        yield c


async def scrape(gateway: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics as Prometheus would: sample values by name and labels."""
    assert gateway.metrics_listener is not None
    url = gateway.metrics_listener.url

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own listener
            return str(response.read().decode())

    text = await anyio.to_thread.run_sync(get)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


DRAINING = ("airlock_draining", frozenset[tuple[str, str]]())
REJECTED_DRAINING = ("airlock_rejected_total", frozenset({("reason", "draining")}))


async def until_draining(client: AirlockClient) -> None:
    """Wait until health says the gateway drains (the stop task has begun)."""
    with anyio.fail_after(5):
        while await client.health() == "SERVING":  # noqa: ASYNC110 - polling the health service itself
            await anyio.sleep(0.01)


async def refusal(client: AirlockClient) -> grpc.aio.AioRpcError | list[Any]:
    """The status error a new invocation ends with, or what it received if it was not refused.

    Not ``pytest.raises``: its failure is a BaseException, which inside a task group stops
    anyio's test runner before the fixtures can stop the gateway.
    """
    received: list[Any] = []
    try:
        async with client.invoke(ACTION) as stream:
            received = [m async for m in stream]
    except grpc.aio.AioRpcError as exc:
        return exc
    return received


async def first_response(call: grpc.aio.StreamStreamCall[pb.InvokeRequest, pb.InvokeResponse]) -> object:
    """The first message ``call`` receives, or the status error it ends with instead."""
    try:
        return await call.read()
    except grpc.aio.AioRpcError as exc:
        return exc


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition()`` holds (checked every 10 ms), failing after ``within`` seconds."""
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 - polling the gateway's state from outside
            await anyio.sleep(0.01)


# -- tests ----------------------------------------------------------------------------


async def test_health_turns_not_serving_and_the_draining_gauge_rises_during_the_drain(
    stoppable: Stoppable, client: AirlockClient
) -> None:
    gateway = stoppable.gateway
    for service in ("", *SERVICES):
        assert await client.health(service) == "SERVING"
    assert (await scrape(gateway))[DRAINING] == 0
    async with anyio.create_task_group() as tg:
        held = await start(tg, client, ask=True, returns="answered")
        tg.start_soon(stoppable.stop, 30)
        await until_draining(client)
        # Health is still answered during the drain, and says NOT_SERVING for every service.
        for service in ("", *SERVICES):
            assert await client.health(service) == "NOT_SERVING"
        assert (await scrape(gateway))[DRAINING] == 1
        await anyio.sleep(0.3)
        assert stoppable.seconds is None, "stop() returned while an invocation was running"
        assert gateway.admission.inflight == 1
        await held.answer(True)
    assert held.result.outcome is Outcome.OK, held.result
    assert held.result.value == "answered"
    assert stoppable.seconds is not None
    assert stoppable.seconds < 10


async def test_a_new_invocation_is_refused_unavailable_while_draining(
    stoppable: Stoppable, client: AirlockClient
) -> None:
    gateway = stoppable.gateway
    assert (await scrape(gateway))[REJECTED_DRAINING] == 0
    async with grpc.aio.insecure_channel(gateway.address) as channel, anyio.create_task_group() as tg:
        held = await start(tg, client, ask=True, returns="kept")
        # A stream opened before the drain that sends its Start only during it.
        early = pb_grpc.RuntimeStub(channel).Invoke()
        await until(lambda: gateway.metrics.registry.get_sample_value("airlock_streams_open") == 2)
        tg.start_soon(stoppable.stop, 30)
        await until_draining(client)

        refused = await refusal(client)
        assert isinstance(refused, grpc.aio.AioRpcError), f"invoked during the drain: {refused}"
        assert refused.code() is grpc.StatusCode.UNAVAILABLE
        assert refused.details() == "the gateway is shutting down and takes no new invocations"
        await early.write(pb.InvokeRequest(start=pb.Start(action_id=ACTION)))
        late = await first_response(early)
        early.cancel()
        assert isinstance(late, grpc.aio.AioRpcError), f"invoked during the drain: {late}"
        assert late.code() is grpc.StatusCode.UNAVAILABLE
        assert late.details() == "the gateway is shutting down and takes no new invocations"
        assert (await scrape(gateway))[REJECTED_DRAINING] == 2

        # Registry RPCs are still served, and the invocation admitted before the drain goes on.
        assert [f.id for f in await client.list_functions()] == [ACTION]
        await held.answer(True)
    assert held.result.outcome is Outcome.OK, held.result
    assert held.result.value == "kept"


async def test_an_invocation_ending_within_the_grace_completes_and_stop_returns_when_it_does(
    stoppable: Stoppable, client: AirlockClient
) -> None:
    async with anyio.create_task_group() as tg:
        held = await start(tg, client, seconds=1, returns="slept")
        await stoppable.stop(10)
    assert held.result.outcome is Outcome.OK, held.result
    assert held.result.value == "slept"
    assert held.result.usage.wall_ms >= 1000
    assert stoppable.seconds is not None
    assert 0.5 <= stoppable.seconds < 5, "stop() should wait for the invocation, not for the whole grace"


async def test_stop_with_nothing_running_does_not_wait_for_the_grace(stoppable: Stoppable) -> None:
    await stoppable.stop(30)
    assert stoppable.seconds is not None
    assert stoppable.seconds < 3


async def test_no_task_of_the_gateway_outlives_stop(gateway_config: GatewayConfig) -> None:
    before = asyncio.all_tasks()
    gateway = Gateway(gateway_config)
    await gateway.start()
    try:
        async with AirlockClient(gateway.address) as c:
            await c.put_function(ACTION, PLUGIN)
            async with c.invoke(ACTION, body={"returns": "done"}) as invocation:
                assert (await invocation.wait()).value == "done"
        pool = gateway.launcher.pool(gateway.profiles["default"])
        assert pool is not None
        await pool.wait_ready(1)  # the refill ran, and the used worker's release was started
    finally:
        await gateway.stop(0)
    left = {task for task in asyncio.all_tasks() - before if not task.done()} - {asyncio.current_task()}
    assert left == set(), [task.get_name() for task in left]


async def test_a_stuck_invocation_is_cancelled_after_the_grace_and_its_sandbox_killed(
    stoppable: Stoppable, client: AirlockClient
) -> None:
    async with anyio.create_task_group() as tg:
        held = await start(tg, client, ask=True)  # the call is never answered
        assert sandbox_alive(held.sandbox)
        ours = stoppable.ours()
        assert len(ours) >= 2, ours  # at least the zygote and the running sandbox
        await stoppable.stop(1)
    result = held.result
    assert result.outcome is Outcome.CANCELLED, result
    assert result.error_type == "GatewayShutdown"
    assert result.error == SHUTDOWN_MESSAGE
    assert held.drained is not None
    assert [m.type for m in held.drained.messages if not isinstance(m, HostRequest)] == ["sandbox", "confirmation"]
    assert stoppable.seconds is not None
    assert 1 <= stoppable.seconds < 5
    assert await sandbox_gone(held.sandbox)
    # Nothing the gateway started outlives it: zygote, warm pool and sandbox are all gone.
    assert await eventually(lambda: not survivors(ours | stoppable.ours()), 5), survivors(ours | stoppable.ours())


async def test_an_invocation_waiting_for_a_sandbox_is_cancelled_too(
    stoppable: Stoppable, client: AirlockClient
) -> None:
    await client.put_function(ACTION, PLUGIN, profile="single")  # max_concurrent = 1
    async with anyio.create_task_group() as tg:
        holder = await start(tg, client, ask=True)
        queued = await start(tg, client, wait=False, returns="never ran")
        await until(lambda: stoppable.gateway.admission.inflight == 2)  # admitted, waiting for the slot
        await stoppable.stop(1)
    for running in (holder, queued):
        assert running.result.outcome is Outcome.CANCELLED, running.result
        assert running.result.error_type == "GatewayShutdown"
        assert running.result.error == SHUTDOWN_MESSAGE
    assert queued.drained is not None
    assert queued.drained.messages == []  # it never got a sandbox
    assert await sandbox_gone(holder.sandbox)


# -- SIGTERM on a served gateway ------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, profiles_dir: Path) -> Iterator[Served]:
    """``airlock serve`` on port 0 with a short shutdown grace; stopped afterwards whatever happens."""
    log = tmp_path / "serve.log"
    argv = [AIRLOCK, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]
    argv += ["--data-dir", str(tmp_path / "data"), "--profiles", str(profiles_dir), "--log-format", "json"]
    argv += ["--no-warm-up", "--shutdown-grace-seconds", str(SERVE_GRACE)]
    with log.open("w") as log_file:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file, text=True)
    subject = Served(process, "", log)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(LISTENING), f"no listening line ({line!r}):\n{log.read_text()}"
        subject.target = line.removeprefix(LISTENING).strip()
        yield subject
    finally:
        subject.stop()


async def test_sigterm_drains_a_served_gateway_and_leaves_no_process_behind(served: Served) -> None:
    process = served.process
    async with AirlockClient(served.target) as client:
        await client.put_function(ACTION, PLUGIN)
        async with anyio.create_task_group() as tg:
            stuck = await start(tg, client, ask=True)
            quick = await start(tg, client, seconds=1.5, returns="finished")
            children = descendants(process.pid)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert quick.drained is None, "the quick invocation ended before the signal"
            # Also whatever the gateway starts while it drains (a pool refilling, say).
            children |= await anyio.to_thread.run_sync(descendants_until_exit, process, 20)
    assert quick.result.outcome is Outcome.OK, quick.result
    assert quick.result.value == "finished"
    assert quick.ended_at - signalled < SERVE_GRACE
    assert stuck.result.outcome is Outcome.CANCELLED, stuck.result
    assert stuck.result.error_type == "GatewayShutdown"
    assert stuck.result.error == SHUTDOWN_MESSAGE
    assert stuck.ended_at - signalled >= SERVE_GRACE - 0.1

    log = served.log.read_text()
    assert process.returncode == 0, log
    assert '"event": "invocations_cancelled_for_shutdown"' in log
    assert '"event": "gateway_stopped"' in log
    # The zygote, the warm pool and both sandboxes were running; none outlives the gateway.
    assert len(children) >= 3, children
    assert await eventually(lambda: not survivors(children), 5), survivors(children)
    assert await sandbox_gone(stuck.sandbox)
    assert await sandbox_gone(quick.sandbox)
