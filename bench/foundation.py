"""Foundation figures: fresh-mode invocation latency and how fast cancel/disconnect kill.

Not a test: run it by hand on an otherwise idle machine and read the medians.

    .venv/bin/python bench/foundation.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from airlock.client import AirlockClient, Event
from gateway import logs
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway

ACTION = """
import os, asyncio
class Action:
    async def action(self, body, __event_emitter__):
        sandbox = os.readlink("/proc/self/ns/pid")
        await __event_emitter__({"type": "status", "data": {"description": "hi", "sandbox": sandbox}})
        if body.get("sleep"):
            await asyncio.sleep(60)
        return "ok"
"""


def sandbox_alive(namespace: str) -> bool:
    """Whether any host process is still in the sandbox's pid namespace."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    return True
            except OSError:
                continue
    return False


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def main(runs: int) -> None:
    logs.configure(json=True, level="error")
    with tempfile.TemporaryDirectory() as tmp:
        # The shipped default profile, in fresh mode (the warm pool is bench/run.py's).
        profiles = Path(tmp) / "profiles"
        profiles.mkdir()
        shipped = (shipped_profiles_dir() / "default.toml").read_text().splitlines()
        fresh = ['mode = "fresh"' if line.startswith("mode ") else line for line in shipped]
        (profiles / "default.toml").write_text("\n".join(fresh) + "\n")
        # One client plays every user here: lift the per-user limit so that it never refuses.
        config = GatewayConfig(
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            data_dir=Path(tmp) / "data",
            profiles_dir=profiles,
            max_inflight_per_user=1024,
        )
        gateway = Gateway(config)
        await gateway.start()
        async with AirlockClient(gateway.address) as client:
            await client.put_function("bench", ACTION)
            latency, cancel, disconnect = [], [], []
            for _ in range(runs):
                began = time.perf_counter()
                async with client.invoke("bench") as invocation:
                    await invocation.wait()
                latency.append(time.perf_counter() - began)
            for _ in range(runs):
                async with client.invoke("bench", body={"sleep": True}) as invocation:
                    async for message in invocation:
                        if isinstance(message, Event):
                            sandbox = message.data["sandbox"]
                            began = time.perf_counter()
                            await invocation.cancel("bench")
                while sandbox_alive(sandbox):  # noqa: ASYNC110 - polling the kernel process table
                    await asyncio.sleep(0.0005)
                cancel.append(time.perf_counter() - began)
            for _ in range(runs):
                async with client.invoke("bench", body={"sleep": True}) as invocation:
                    async for message in invocation:
                        if isinstance(message, Event):
                            sandbox = message.data["sandbox"]
                            break
                began = time.perf_counter()  # leaving the block cancels the stream
                while sandbox_alive(sandbox):  # noqa: ASYNC110 - polling the kernel process table
                    await asyncio.sleep(0.0005)
                disconnect.append(time.perf_counter() - began)
        await gateway.stop(0)
    report = {
        "runs": runs,
        "fresh_invocation_end_to_end": summary(latency),
        "cancel_to_sandbox_gone": summary(cancel),
        "disconnect_to_sandbox_gone": summary(disconnect),
    }
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
