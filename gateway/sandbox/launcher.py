"""Hands out confined workers per profile, bounded by each profile's ``max_concurrent``.

``warm`` profiles fork workers from their zygote, ahead of time into a warm pool and on
demand when the pool is empty; ``fresh`` profiles spawn a new interpreter per worker. Every
worker goes through the same cgroup placement and confinement either way, and runs exactly
one job.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

import anyio
import structlog
from anyio.abc import Process

from gateway.background import Background
from gateway.egress.relays import EgressRelays
from gateway.metrics.families import Metrics, PoolState
from gateway.profiles import Profile
from gateway.sandbox.cgroups import Cgroups
from gateway.sandbox.codecache import CodeCache
from gateway.sandbox.confinement import Imports, SiteBind
from gateway.sandbox.pool import WarmPool
from gateway.sandbox.worker import Spawn, StartFailed, Worker, runner_config, spawner
from gateway.sandbox.zygote import ZygoteFailed, ZygoteSlot, become_subreaper
from gateway.uids import SANDBOX_UID_FIRST, SANDBOX_UIDS_PER_GATEWAY, UidAllocator, UidRange, UidsExhausted

log = structlog.get_logger("airlock.launcher")

Pool = Literal["invoke", "inspect"]


class NoCapacity(Exception):
    """Every capacity slot of the profile stayed taken for as long as the caller could wait."""


#: How long closing waits for workers still in use to be stopped and released.
_DRAIN_SECONDS = 30.0


def worst_case_sandboxes(profile: Profile) -> int:
    """The most sandboxes ``profile`` can have at once.

    Invocations and registrations each draw from a limiter of ``max_concurrent`` slots, and
    a warm profile's pool waits outside both (requirement installs run under an installer
    profile of their own, counted as such).
    """
    pool = profile.warm_pool_size if profile.mode == "warm" else 0
    return 2 * profile.max_concurrent + pool


class Launcher:
    """Starts workers; one capacity limiter per profile and pool, one zygote and warm pool per profile."""

    def __init__(
        self,
        cgroups: Cgroups,
        *,
        background: Background,
        python: str | None = None,
        metrics: Metrics | None = None,
        egress: EgressRelays | None = None,
        uids: UidRange | None = None,
        imports: Callable[[Profile], Imports] | None = None,
    ) -> None:
        self.python = python or sys.executable
        #: What a profile's workers import from (its runtime); the gateway's own environment
        #: when not given, which only tests of the sandbox machinery do.
        self.imports: Callable[[Profile], Imports] = imports or (lambda _profile: Imports.gateway())
        self.cgroups = cgroups
        #: The relays of network = "egress" profiles (None: such profiles cannot start).
        self.egress = egress
        self._metrics = metrics
        self.code_cache = CodeCache()
        #: The uids this launcher's sandboxes run as (the gateway's claimed slice).
        self.uids = UidAllocator(uids or UidRange(SANDBOX_UID_FIRST, SANDBOX_UIDS_PER_GATEWAY))
        self._limiters: dict[tuple[str, Pool], anyio.CapacityLimiter] = {}
        self._zygotes: dict[str, ZygoteSlot] = {}
        self._pools: dict[str, WarmPool] = {}
        self._closed = False
        #: Whether this launcher counts among the process's child-subreaper holders.
        self._holds_subreaper = False
        #: Runs the warm pools' refills and the releases of used workers.
        self._background = background
        #: Releases under way in the background.
        self._releasing = 0
        self._released = asyncio.Event()
        #: Workers handed out and not yet released.
        self._in_use = 0
        self._idle = asyncio.Event()
        if metrics is not None:
            metrics.watch_pools(self.pool_states)

    def _limiter(self, profile: Profile, pool: Pool) -> anyio.CapacityLimiter:
        key = (profile.name, pool)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = anyio.CapacityLimiter(profile.max_concurrent)
        return limiter

    def zygote(self, profile: Profile) -> ZygoteSlot:
        """The zygote slot of a ``warm`` profile (created on first use)."""
        slot = self._zygotes.get(profile.name)
        if slot is None:
            if not self._holds_subreaper:
                # Forked workers are re-parented to the gateway, which must reap them.
                become_subreaper()
                self._holds_subreaper = True
            # Forked workers warm up while they wait in the pool (runner.warmup).
            config = {**runner_config(profile, self.imports(profile)), "warm_up": True}
            slot = self._zygotes[profile.name] = ZygoteSlot(profile, config, self.python)
        return slot

    def _spawner(self, profile: Profile, imports: Imports | None) -> Spawn:
        if profile.mode == "fresh":
            return spawner(profile, self.python, imports or self.imports(profile))
        slot = self.zygote(profile)

        async def fork() -> Process:
            try:
                return await slot.fork()
            except ZygoteFailed as exc:
                raise StartFailed(f"the zygote of profile {profile.name!r} failed: {exc}") from None

        return fork

    async def start(self, profile: Profile, site: SiteBind | None = None, imports: Imports | None = None) -> Worker:
        """A new ready worker of ``profile`` (not from the pool), with ``site`` bound if given.

        ``imports`` replaces what the profile's workers import from (the installers' pip);
        only ``fresh`` profiles take it (a zygote has imported its runtime already).
        """
        began = time.monotonic()
        egress_dir = None
        if profile.network == "egress":
            if self.egress is None:
                raise StartFailed(f"profile {profile.name!r} needs network egress, which this launcher does not relay")
            # The relay listens before any sandbox of the profile can ask it for anything.
            egress_dir = await self.egress.ensure(profile)
        try:
            uid = self.uids.take()
        except UidsExhausted as exc:
            raise StartFailed(str(exc)) from None
        uid_settled = False

        def released(worker: Worker) -> None:
            nonlocal uid_settled
            uid_settled = True
            self._uid_done(worker, uid)

        try:
            worker = await Worker.start(
                profile,
                spawn=self._spawner(profile, imports),
                cgroups=self.cgroups,
                uid=uid,
                site=site,
                egress_dir=egress_dir,
                on_release=released,
                imports=imports or self.imports(profile),
            )
        except BaseException:
            # A start that failed after its spawn released the worker, and with it the uid
            # (retired if its cgroup could not be emptied); before the spawn nothing ran as it.
            if not uid_settled:
                self.uids.give_back(uid)
            raise
        if self._metrics is not None:
            self._metrics.sandbox_start.labels(profile.name).observe(time.monotonic() - began)
        return worker

    def _uid_done(self, worker: Worker, uid: int) -> None:
        try:
            leftover = not worker.cgroup.empty()
        except OSError:
            leftover = False  # its directories are gone: they were empty
        if leftover:
            # Something of the sandbox may still run as this uid: a later sandbox given it
            # could signal or ptrace that process. Never hand it out again.
            log.error("sandbox_uid_retired", uid=uid, pid=worker.pid)
            return
        self.uids.give_back(uid)

    def pool_states(self) -> list[PoolState]:
        """The warm pools now, for a metrics scrape (runs on the scraping thread: reads only)."""
        return [
            PoolState(name, pool.size, pool.ready, pool.hits, pool.misses) for name, pool in list(self._pools.items())
        ]

    def pool(self, profile: Profile) -> WarmPool | None:
        """The warm pool of ``profile``, started on first use (None without one)."""
        if profile.mode != "warm" or profile.warm_pool_size == 0 or self._closed or not self._background.running:
            return None
        pool = self._pools.get(profile.name)
        if pool is None:
            pool = WarmPool(profile.name, profile.warm_pool_size, lambda: self.start(profile), self._background)
            self._pools[profile.name] = pool
            pool.run()
        return pool

    def warm_up(self, profiles: list[Profile]) -> None:
        """Start the warm pools of ``profiles`` now rather than on their first invocation."""
        for profile in profiles:
            self.pool(profile)

    @asynccontextmanager
    async def worker(
        self,
        profile: Profile,
        pool: Pool = "invoke",
        *,
        wait_limit: float | None = None,
        site: SiteBind | None = None,
        imports: Imports | None = None,
    ) -> AsyncIterator[Worker]:
        """A ready worker for one job; stopped on exit, whatever happened, then released.

        NoCapacity when no capacity slot frees up within ``wait_limit`` seconds.

        A worker with a ``site`` (a function's installed requirements) never comes from the
        warm pool, whose workers were confined before anyone knew which function they would
        run: it is forked on demand from the same zygote (or spawned, in ``fresh`` mode)
        and confined with the extra bind.

        On exit the sandbox is killed and its output and counters collected (Worker.stop)
        before the caller goes on, so that it can build its result; reaping the worker and
        removing its cgroup (Worker.release) then finish in the background, and the
        worker's capacity slot is only given back once they have.

        Registrations draw from their own limiter: invocations waiting on a human for
        minutes must not make ``PutFunction`` time out.
        """
        limiter = self._limiter(profile, pool)
        slot = object()
        with anyio.move_on_after(math.inf if wait_limit is None else wait_limit) as waiting:
            await limiter.acquire_on_behalf_of(slot)
        if waiting.cancelled_caught:
            raise NoCapacity(
                f"no {profile.name!r} sandbox became free within {wait_limit:g} s "
                f"(max_concurrent={profile.max_concurrent})"
            )
        self._in_use += 1
        try:
            warm = self.pool(profile) if site is None and imports is None else None
            worker = warm.take() if warm is not None else None
            if worker is None:
                worker = await self.start(profile, site, imports)
        except BaseException:
            self._done_with(limiter, slot)
            raise
        try:
            yield worker
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await worker.stop()
                finally:
                    await self._release_later(worker, limiter, slot)

    async def _release_later(self, worker: Worker, limiter: anyio.CapacityLimiter, slot: object) -> None:
        if not self._background.running:
            # Handed out before the gateway stopped and given back after (its invocation
            # outlasted the drain): nothing runs in the background any more, so the caller
            # waits for the release.
            await self._release(worker, limiter, slot)
            return
        self._releasing += 1
        self._background.start_soon(self._release_counted, worker, limiter, slot, name=f"release-{worker.pid}")

    async def _release_counted(self, worker: Worker, limiter: anyio.CapacityLimiter, slot: object) -> None:
        try:
            await self._release(worker, limiter, slot)
        finally:
            self._releasing -= 1
            if not self._releasing:
                self._released.set()

    async def _release(self, worker: Worker, limiter: anyio.CapacityLimiter, slot: object) -> None:
        # Never cut short (the gateway's background is cancelled when it stops): it reaps the
        # worker and removes its cgroup.
        with anyio.CancelScope(shield=True):
            try:
                await worker.release()
            except Exception:
                log.exception("worker_release_failed", pid=worker.pid)
            finally:
                self._done_with(limiter, slot)

    def _done_with(self, limiter: anyio.CapacityLimiter, slot: object) -> None:
        limiter.release_on_behalf_of(slot)
        self._in_use -= 1
        if self._in_use == 0:
            self._idle.set()

    async def aclose(self) -> None:
        """Close the warm pools and retire the zygotes (running workers are the callers')."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            # Workers still handed out (their invocations are being cancelled) and releases
            # in flight finish first: they reap workers and remove cgroups.
            with anyio.move_on_after(_DRAIN_SECONDS):
                while self._in_use:
                    self._idle = asyncio.Event()
                    await self._idle.wait()
            while self._releasing:
                self._released = asyncio.Event()
                await self._released.wait()
            for warm in self._pools.values():
                await warm.aclose()
            for slot in self._zygotes.values():
                await slot.aclose()
            if self._holds_subreaper:
                # Workers still running are the callers' and already reparented. Once only:
                # aclose may run twice, and the flag is shared with the process's other gateways.
                self._holds_subreaper = False
                become_subreaper(enable=False)
            if self.egress is not None:
                await self.egress.aclose()
