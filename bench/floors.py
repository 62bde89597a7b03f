"""The two floors Airlock is measured against, side by side with it.

* in-process: the action called the way Open WebUI calls it (no isolation at all);
* gRPC only: a servicer that answers Invoke like Airlock does (Started, the event, the
  Result) without any worker: the cost of the transport alone.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc

#: The benchmark's action: one status event, then a return (the issue's reference action).
ACTION = """
class Action:
    async def action(self, body, __event_emitter__, __event_call__=None):
        for _ in range(body.get("status", 1)):
            await __event_emitter__({"type": "status", "data": {"description": "done", "done": True}})
        for _ in range(body.get("events", 0)):
            await __event_emitter__({"type": "chat:message:delta", "data": {"content": "x"}})
        for _ in range(body.get("calls", 0)):
            await __event_call__({"type": "confirmation", "data": {"title": "?"}})
        return "ok"
"""


def load_in_process() -> Any:
    """The action's instance, loaded in this process as Open WebUI would."""
    namespace: dict[str, Any] = {}
    exec(compile(ACTION, "<bench action>", "exec"), namespace)  # noqa: S102 - our own benchmark action
    return namespace["Action"]()


async def call_in_process(instance: Any, events: list[Any]) -> Any:
    """One in-process invocation, with an emitter that appends to ``events``."""

    async def emit(event: Any) -> None:
        events.append(event)

    action = instance.action
    params = {"body": {}, "__event_emitter__": emit}
    return await action(**params) if inspect.iscoroutinefunction(action) else action(**params)


class TransportFloor(pb_grpc.RuntimeServicer):
    """Answers Invoke as Airlock does (Started, events, calls, Result), without a worker."""

    async def Invoke(  # type: ignore[override]  # noqa: N802
        self, request_iterator: AsyncIterator[pb.InvokeRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        start = await context.read()
        assert isinstance(start, pb.InvokeRequest)
        body = orjson.loads(start.start.body_json or b"{}")
        await context.write(pb.InvokeResponse(started=pb.Started(invocation_id="floor", function_id="bench")))
        seq = 0
        for _ in range(body.get("status", 1)):
            seq += 1
            event = pb.Event(seq=seq, type="status", data_json=b'{"description":"done","done":true}')
            await context.write(pb.InvokeResponse(event=event))
        for _ in range(body.get("events", 0)):
            seq += 1
            event = pb.Event(seq=seq, type="chat:message:delta", data_json=b'{"content":"x"}')
            await context.write(pb.InvokeResponse(event=event))
        for number in range(body.get("calls", 0)):
            seq += 1
            call = pb.Call(seq=seq, call_id=str(number), type="confirmation", data_json=b'{"title":"?"}')
            await context.write(pb.InvokeResponse(call=call))
            await context.read()  # the host's CallReply
        await context.write(pb.InvokeResponse(result=pb.Result(outcome=pb.OK, value_json=b'"ok"')))


async def start_transport_floor() -> tuple[grpc.aio.Server, str]:
    """A gRPC server with only the floor servicer, on a free loopback port."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_RuntimeServicer_to_server(TransportFloor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
