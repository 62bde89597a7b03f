"""Run one attack as one real invocation of a threat probe plugin (tests/threats/plugins/).

Each probe plugin first emits a ``sandbox`` event with its pid namespace ("pid:[inode]"),
then runs the attack ``body["attack"]`` names and returns what it observed (an errno name,
a listing...). The test asserts that exact observation, or the exact verdict when the
attack ends the invocation.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from airlock.client import AirlockClient, Call, Event, Outcome, Result
from airlock.client.invocation import CallHandler
from gateway.profiles.loader import shipped_profiles_dir
from runner.confine.syscalls import landlock_abi
from tests.helpers import Drained, check, drain

T = TypeVar("T")

PLUGINS = Path(__file__).parent / "plugins"
#: Every profile Airlock ships: each claims the whole threat model.
SHIPPED_PROFILES = sorted(path.stem for path in shipped_profiles_dir().glob("*.toml"))
#: The Landlock ABI of this host's kernel (0: none); the sandbox uses what it offers.
LANDLOCK_ABI = landlock_abi()
#: Which (plugin, profile) pairs each client's gateway already has registered.
_registered: weakref.WeakKeyDictionary[AirlockClient, set[str]] = weakref.WeakKeyDictionary()


def needs_landlock(abi: int, what: str) -> pytest.MarkDecorator:
    """Expect failure (strictly) on a host whose Landlock is older than ``abi``: a missing layer."""
    return pytest.mark.xfail(
        abi > LANDLOCK_ABI, strict=True, reason=f"{what} needs Landlock ABI {abi}; this host has {LANDLOCK_ABI}"
    )


def plugin_source(plugin: str) -> str:
    """The source of tests/threats/plugins/<plugin>.py."""
    return (PLUGINS / f"{plugin}.py").read_text()


def function_id(plugin: str, profile: str) -> str:
    """The id a probe plugin is registered under for ``profile``."""
    return f"{plugin}_{profile}"


async def register(client: AirlockClient, plugin: str, profile: str = "fast") -> str:
    """Register a probe plugin under ``profile`` once per gateway; returns its id."""
    done = _registered.setdefault(client, set())
    fid = function_id(plugin, profile)
    if fid not in done:
        await client.put_function(fid, plugin_source(plugin), profile=profile)
        done.add(fid)
    return fid


@dataclass(frozen=True)
class Attacked:
    """One attack's invocation, its stream invariants already checked."""

    drained: Drained

    @property
    def sandbox(self) -> str:
        """The sandbox's pid namespace, as the plugin reported it before attacking."""
        first = self.drained.events[0]
        assert first.type == "sandbox", first
        return str(first.data["pid_namespace"])

    @property
    def result(self) -> Result:
        """The invocation's Result."""
        return self.drained.result

    @property
    def value(self) -> Any:
        """What the plugin observed; asserts the invocation ended OK first."""
        assert self.result.outcome is Outcome.OK, self.result
        return self.result.value


async def attack(
    client: AirlockClient,
    plugin: str,
    name: str,
    /,
    *,
    profile: str = "fast",
    time_limit: float | None = None,
    on_call: CallHandler | None = None,
    user: dict[str, Any] | None = None,
    **body: Any,
) -> Attacked:
    """Run attack ``name`` of probe ``plugin`` as one invocation to its end.

    ``time_limit`` is the invocation's timeout (Start.timeout; the profile's by default);
    ``user`` is Start.user_json (admission counts invocations per user id).
    """
    fid = await register(client, plugin, profile)
    drained = await drain(client, fid, body={"attack": name, **body}, timeout=time_limit, on_call=on_call, user=user)
    return Attacked(drained)


async def while_holding(
    client: AirlockClient,
    plugin: str,
    name: str,
    during: Callable[[str, Any], Awaitable[T]],
    /,
    *,
    profile: str = "fast",
    **body: Any,
) -> tuple[Attacked, T]:
    """Run an attack that holds its sandbox open with one ``__event_call__``.

    While the plugin waits for the answer, ``during(sandbox, call data)`` runs (typically
    another attack, concurrently); then the call is answered "released" and the holder
    runs to its end. Returns the holder's invocation and what ``during`` returned.
    """
    fid = await register(client, plugin, profile)
    received: list[Any] = []
    sandbox = ""
    outcome: list[T] = []
    async with client.invoke(fid, body={"attack": name, **body}) as stream:
        async for message in stream:
            received.append(message)
            if isinstance(message, Event) and message.type == "sandbox":
                sandbox = str(message.data["pid_namespace"])
            elif isinstance(message, Call):
                outcome.append(await during(sandbox, message.data))
                await stream.reply(message.call_id, "released")
    assert len(outcome) == 1, "the holder made no call (or several)"
    return Attacked(check(received)), outcome[0]
