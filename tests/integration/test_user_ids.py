"""Start.user_json ids are bounded where they enter: they key admission and go into every log line."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs

from airlock.client import AirlockClient, Outcome
from gateway.servicer.convert import MAX_USER_ID_CHARS
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio


async def refused(client: AirlockClient, user: dict[str, Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain(client, "emitter", user=user)
    return caught.value


async def test_a_user_id_of_the_longest_length_is_admitted_and_logged_whole(client: AirlockClient) -> None:
    await register(client, "emitter")
    user_id = "u" * MAX_USER_ID_CHARS
    with capture_logs() as logs:
        drained = await drain(client, "emitter", user={"id": user_id})
    assert drained.result.outcome is Outcome.OK
    assert [entry["user_id"] for entry in logs if entry["event"] == "invocation"] == [user_id]


async def test_cant_send_an_overlong_user_id(client: AirlockClient) -> None:
    await register(client, "emitter")
    with capture_logs() as logs:
        error = await refused(client, {"id": "u" * (MAX_USER_ID_CHARS + 1)})
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == f"Start.user_json.id has more than {MAX_USER_ID_CHARS} characters (257)"
    # Refused before admission and before the invocation's log line: the id is in neither.
    assert not any("u" * (MAX_USER_ID_CHARS + 1) in str(entry) for entry in logs)


@pytest.mark.parametrize(
    ("user_id", "kind"), [(7, "int"), (["a"], "list"), ({"id": "a"}, "dict"), (True, "bool"), (1.5, "float")]
)
async def test_cant_send_a_user_id_that_is_not_a_string(client: AirlockClient, user_id: object, kind: str) -> None:
    await register(client, "emitter")
    error = await refused(client, {"id": user_id})
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == f"Start.user_json.id must be a string, got {kind}"


async def test_a_null_or_missing_user_id_shares_the_anonymous_allowance(client: AirlockClient) -> None:
    await register(client, "emitter")
    for user in ({}, {"id": None}):
        drained = await drain(client, "emitter", user=user)
        assert drained.result.outcome is Outcome.OK
