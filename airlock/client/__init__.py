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
from airlock.domain.functions import ActionButton, FunctionRecord, SubAction
from airlock.domain.invocation import Call, Event, HostRequest, Outcome, Result, Started, StartRequest
from airlock.domain.progress import Progress, Stage
from airlock.domain.usage import Usage

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
    "Progress",
    "Result",
    "Stage",
    "StartRequest",
    "Started",
    "SubAction",
    "Usage",
]
