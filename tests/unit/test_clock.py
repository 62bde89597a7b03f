"""The active-time clock pauses while calls are outstanding."""

from __future__ import annotations

import anyio
import pytest

from gateway.invocation.clock import ActiveClock, TokenBucket

pytestmark = pytest.mark.anyio


async def test_budget_expires_while_running() -> None:
    clock = ActiveClock(budget=0.1, ceiling=5)
    with anyio.fail_after(2):
        assert await clock.expired() == "wall"


async def test_outstanding_calls_pause_the_budget_until_the_ceiling() -> None:
    clock = ActiveClock(budget=0.1, ceiling=0.4)
    clock.call_started()
    with anyio.fail_after(2):
        assert await clock.expired() == "session"
    assert clock.running_time() < 0.1


async def test_running_time_resumes_after_the_last_call() -> None:
    clock = ActiveClock(budget=10, ceiling=20)
    clock.call_started()
    clock.call_started()
    await anyio.sleep(0.05)
    clock.call_finished()
    paused = clock.running_time()
    await anyio.sleep(0.05)
    assert clock.running_time() == paused
    clock.call_finished()
    await anyio.sleep(0.05)
    assert clock.running_time() > paused


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(10)
    assert all(bucket.take() for _ in range(10))
    assert not bucket.take()


async def test_token_bucket_refills_over_time() -> None:
    bucket = TokenBucket(100)
    while bucket.take():
        pass
    await anyio.sleep(0.05)
    assert bucket.take()
