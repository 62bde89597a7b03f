"""Pool-hit latency: one invocation at a time, each taken from a full warm pool.

    .venv/bin/python bench/pool_hit.py [--runs N] [--action {trivial,requests,aiohttp}]

bench/run.py's c=1 latency mixes pool hits and misses (its invocations come faster than the
pool refills). Here the pool is full before every invocation, so each one is a hit: the
figure is what a host sees when the gateway keeps up. It prints the median and the 90th
percentile of the client's wall time from opening the stream to the Result, and the pool's
hits and misses (every invocation must be a hit).

``--action requests`` (or ``aiohttp``) imports that package at module level, as most
community actions do: the import runs in the sandbox on every invocation unless the
zygote preloaded it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airlock.client import AirlockClient, Outcome
from gateway import logs
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway

ACTION = '''"""
title: Bench
"""
{imports}


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({{"type": "status", "data": {{"description": "working", "done": True}}}})
        return {{"ok": True}}
'''
IMPORTS = {"trivial": "", "requests": "import requests", "aiohttp": "import aiohttp"}


async def measure(runs: int, action: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        profiles = Path(tmp) / "profiles"
        profiles.mkdir()
        (profiles / "default.toml").write_text((shipped_profiles_dir() / "default.toml").read_text())
        # The shipped runtimes (a checkout from before runtimes has none: that is fine).
        runtimes = shipped_profiles_dir() / "runtimes"
        if runtimes.is_dir():
            (profiles / "runtimes").symlink_to(runtimes)
        config = GatewayConfig(
            listen="127.0.0.1:0", metrics_listen="", data_dir=Path(tmp) / "data", profiles_dir=profiles
        )
        gateway = Gateway(config)
        await gateway.start()
        try:
            async with AirlockClient(gateway.address) as client:
                await client.put_function("bench", ACTION.format(imports=IMPORTS[action]))
                pool = gateway.launcher.pool(gateway.profiles["default"])
                assert pool is not None
                samples: list[float] = []
                await pool.wait_ready()
                hits, misses = pool.hits, pool.misses
                for _ in range(runs):
                    await pool.wait_ready()
                    began = time.perf_counter()
                    async with client.invoke("bench", body={"messages": []}) as invocation:
                        result = await invocation.wait()
                    samples.append((time.perf_counter() - began) * 1000)
                    assert result.outcome is Outcome.OK, result
                hits, misses = pool.hits - hits, pool.misses - misses
        finally:
            await gateway.stop(0)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2),
        "hits": hits,
        "misses": misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--action", choices=sorted(IMPORTS), default="trivial")
    arguments = parser.parse_args()
    logs.configure(json=False, level="warning")
    print(asyncio.run(measure(arguments.runs, arguments.action)))


if __name__ == "__main__":
    main()
