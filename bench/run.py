"""Side-by-side benchmark: in-process floor, gRPC-only floor, Airlock (fresh mode).

    .venv/bin/python bench/run.py [--quick] [--out bench/results/NAME.json]

Prints a markdown table and writes the figures as JSON. Every variant runs in the same
process and run, one after the other, on the same action, so ratios between them are
meaningful on a noisy machine; absolute figures are not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import ACTION, call_in_process, load_in_process, start_transport_floor

from gateway import logs
from gateway.client import AirlockClient, Call, Outcome
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway

#: The default profile, with room for the streaming and concurrency measurements.
BENCH_PROFILE = "max_concurrent = 32\nmax_events = 100000\nmax_events_per_second = 10000000\nwall_seconds = 60\n"


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(len(ordered) * 0.99) - 1)]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


async def latency(one: Callable[[], Awaitable[Any]], runs: int) -> dict[str, float]:
    """Latency of ``one`` at concurrency 1."""
    await one()  # warm up
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        await one()
        samples.append(time.perf_counter() - began)
    return percentiles(samples)


async def throughput(one: Callable[[], Awaitable[Any]], concurrency: int, total: int) -> dict[str, float]:
    """Invocations per second with ``concurrency`` in flight, and how many failed."""
    errors = 0
    remaining = total

    async def worker() -> None:
        nonlocal errors, remaining
        while remaining > 0:
            remaining -= 1
            try:
                await one()
            except Exception:  # noqa: BLE001 - counted, not raised: the figure is the error count
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"per_second": round(total / elapsed, 1), "errors": errors, "invocations": total}


async def stream_events(client: AirlockClient, action_id: str, events: int) -> float:
    """Events per second on one stream of ``events`` message deltas."""
    began = time.perf_counter()
    async with client.invoke(action_id, body={"events": events}) as invocation:
        result = await invocation.wait()
    assert result.outcome is Outcome.OK, result
    return round(events / (time.perf_counter() - began), 1)


async def call_round_trip(client: AirlockClient, action_id: str, calls: int) -> float:
    """Median time from answering one call to receiving the next, in milliseconds."""
    gaps: list[float] = []
    answered_at = 0.0
    async with client.invoke(action_id, body={"events": 0, "calls": calls}) as invocation:
        async for message in invocation:
            if isinstance(message, Call):
                if answered_at:
                    gaps.append(time.perf_counter() - answered_at)
                await invocation.reply(message.call_id, True)
                answered_at = time.perf_counter()
    return round(statistics.median(gaps) * 1000, 3)


async def invoke_once(client: AirlockClient, action_id: str) -> None:
    """One invocation of the reference action; raises unless it returned."""
    async with client.invoke(action_id, body={"events": 1}) as invocation:
        result = await invocation.wait()
    if result.outcome is not Outcome.OK:
        raise RuntimeError(f"{result.outcome.name}: {result.error}")


async def measure(quick: bool) -> dict[str, Any]:
    """Every variant, one after the other."""
    runs, total, events, calls = (20, 64, 2000, 20) if quick else (100, 320, 10_000, 100)
    results: dict[str, Any] = {"settings": {"runs": runs, "throughput_invocations": total, "events": events}}

    instance = load_in_process()
    sink: list[Any] = []
    results["in_process"] = {
        "latency": await latency(lambda: call_in_process(instance, sink), runs),
        "throughput_c32": await throughput(lambda: call_in_process(instance, sink), 32, total * 10),
    }

    server, address = await start_transport_floor()
    async with AirlockClient(address) as client:
        results["grpc_floor"] = {
            "latency": await latency(lambda: invoke_once(client, "bench"), runs),
            "throughput_c32": await throughput(lambda: invoke_once(client, "bench"), 32, total * 10),
            "events_per_second": await stream_events(client, "bench", events),
            "call_round_trip_ms": await call_round_trip(client, "bench", calls),
        }
    await server.stop(0)

    with tempfile.TemporaryDirectory() as tmp:
        profiles = Path(tmp) / "profiles"
        profiles.mkdir()
        (profiles / "default.toml").write_text((shipped_profiles_dir() / "default.toml").read_text())
        (profiles / "bench.toml").write_text(BENCH_PROFILE)
        gateway = Gateway(GatewayConfig(listen="127.0.0.1:0", data_dir=Path(tmp) / "data", profiles_dir=profiles))
        await gateway.start()
        async with AirlockClient(gateway.address) as client:
            await client.put_function("bench", ACTION, profile="bench")
            results["airlock_fresh"] = {
                "latency": await latency(lambda: invoke_once(client, "bench"), max(10, runs // 5)),
                "throughput_c32": await throughput(lambda: invoke_once(client, "bench"), 32, total),
                "events_per_second": await stream_events(client, "bench", events),
                "call_round_trip_ms": await call_round_trip(client, "bench", calls),
            }
        await gateway.stop(0)
    return results


def table(results: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    rows = [
        "| variant | p50 (c=1) | p99 (c=1) | invocations/s (c=32), errors | events/s (one stream) | call round trip |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("in_process", "grpc_floor", "airlock_fresh"):
        r = results[name]
        events = r.get("events_per_second", "—")
        rtt = f"{r['call_round_trip_ms']} ms" if "call_round_trip_ms" in r else "—"
        rows.append(
            f"| {name} | {r['latency']['p50_ms']} ms | {r['latency']['p99_ms']} ms | "
            f"{r['throughput_c32']['per_second']}, {r['throughput_c32']['errors']} | {events} | {rtt} |"
        )
    return "\n".join(rows)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the harness)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON figures")
    args = parser.parse_args()
    logs.configure(json=True, level=40)
    results = asyncio.run(measure(args.quick))
    out = args.out or Path(__file__).parent / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(table(results))
    print(f"\nfigures: {out}")


if __name__ == "__main__":
    main()
