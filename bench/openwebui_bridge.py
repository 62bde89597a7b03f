"""What a bridge adds to a click in a real Open WebUI: the plugin run in-process vs in Airlock.

    .venv/bin/python bench/openwebui_bridge.py [--clicks N]

Starts Open WebUI 0.12.4 (tests/openwebui's cached install, offline) and a gateway, installs
one small action twice, as Open WebUI runs it (``direct``) and as a bridge to Airlock
(``bridged``), and clicks them alternately, as the browser does: the POST to
``/api/chat/actions/{id}`` and the action's events received on the tab's Socket.IO
connection. It prints each one's median and 90th percentile click time (from the POST to
the last event received) and the median difference: what a user waits for the sandbox.
Clicks use a temporary chat (nothing written to the database), so both measure the same path.
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

from airlock.client import AirlockClient
from airlock.openwebui.bridge import BridgeSettings, render
from gateway import logs
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway
from tests.openwebui.api import OpenWebUIApi
from tests.openwebui.chat import browser
from tests.openwebui.install import ensure_openwebui
from tests.openwebui.server import running_openwebui

ROOT = Path(__file__).resolve().parent.parent
MODEL = '''"""
title: Bench Model
"""


class Pipe:
    def pipe(self, body):
        return "ok"
'''
ACTION = '''"""
title: Bench Click
"""


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "status", "data": {"description": "working", "done": False}})
        await __event_emitter__({"type": "status", "data": {"description": "done", "done": True}})
        return {"ok": True}
'''


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 1), "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 1)}


async def measure(clicks: int, runtimes_dir: Path | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        config = GatewayConfig(
            listen="127.0.0.1:0", metrics_listen="", data_dir=Path(tmp) / "data", profiles_dir=shipped_profiles_dir()
        )
        if runtimes_dir is not None:
            wheels = runtimes_dir / "wheels"
            config = config.model_copy(update={"runtimes_dir": runtimes_dir, "wheel_cache_dir": wheels})
        gateway = Gateway(config)
        await gateway.start()
        try:
            with running_openwebui(ensure_openwebui(), Path(tmp) / "openwebui") as server:
                return await _clicks(gateway, server.url, server.admin_token, clicks)
        finally:
            await gateway.stop(0)


async def _clicks(gateway: Gateway, url: str, token: str, clicks: int) -> dict[str, object]:
    async with AirlockClient(gateway.address) as client, OpenWebUIApi(url, token) as api:
        await api.create_function("bench_model", MODEL)
        await api.set_active("bench_model", True)
        record = await client.put_function("bridged", ACTION, is_global=True)
        for function_id, source in (("direct", ACTION), ("bridged", render(record, BridgeSettings(gateway.address)))):
            await api.create_function(function_id, source)
            await api.set_active(function_id, True)
            await api.set_global(function_id, True)
        await api.models(refresh=True)
        samples: dict[str, list[float]] = {"direct": [], "bridged": []}
        async with browser(url, token) as tab:
            for round_number in range(clicks + 3):
                for function_id in ("direct", "bridged"):
                    began = time.perf_counter()
                    click = await tab.click(function_id, model_id="bench_model", chat_id=tab.temporary_chat_id)
                    elapsed = (time.perf_counter() - began) * 1000
                    assert click.status == 200, click.body
                    assert click.types() == ["status", "status"], click.types()
                    if round_number >= 3:  # the first clicks warm both paths up
                        samples[function_id].append(elapsed)
    differences = [b - d for d, b in zip(samples["direct"], samples["bridged"], strict=True)]
    return {
        "clicks": clicks,
        "direct": summary(samples["direct"]),
        "bridged": summary(samples["bridged"]),
        "added_p50_ms": round(statistics.median(differences), 1),
        "ratio_p50": round(statistics.median(samples["bridged"]) / statistics.median(samples["direct"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument(
        "--runtimes-dir",
        type=Path,
        default=ROOT / ".test-runtimes" if (ROOT / ".test-runtimes").is_dir() else None,
        help="Where built runtimes are (default: the tests' .test-runtimes, if built).",
    )
    arguments = parser.parse_args()
    logs.configure(json=False, level="warning")
    print(asyncio.run(measure(arguments.clicks, arguments.runtimes_dir)))


if __name__ == "__main__":
    main()
