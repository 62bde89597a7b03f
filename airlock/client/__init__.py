"""Async Python client for hosts: register functions, list actions, run invocations.

async with AirlockClient("127.0.0.1:50051") as client:
    await client.put_function("hello", source)
    async with client.invoke("hello", body={...}, on_call=answer) as invocation:
        async for message in invocation:
            ...
    result = invocation.result
"""

from airlock.client.client import AirlockClient
from airlock.client.host import HostHandler
from airlock.client.invocation import InvocationStream
from gateway.invocation.domain import Call, Event, HostRequest, Outcome, Result, Started, StartRequest
from gateway.registry.record import ActionButton, FunctionRecord, SubAction
from gateway.sandbox.usage import Usage

__all__ = [
    "ActionButton",
    "AirlockClient",
    "Call",
    "Event",
    "FunctionRecord",
    "HostHandler",
    "HostRequest",
    "InvocationStream",
    "Outcome",
    "Result",
    "StartRequest",
    "Started",
    "SubAction",
    "Usage",
]
