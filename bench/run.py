"""Side-by-side benchmark: in-process floor, gRPC-only floor, Airlock fresh, Airlock warm.

    .venv/bin/python bench/run.py [--quick] [--out bench/results/NAME.json]

Prints markdown tables and writes the figures as JSON. Every variant runs in the same run,
one after the other, on the same action (one status event, then a return), so ratios
between them are meaningful on a noisy machine; absolute figures less so. The gateway's
memory with 1,000 idle streams is measured on an ``airlock serve`` process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import ACTION, call_in_process, load_in_process, start_transport_floor

from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient, Call, Outcome
from gateway import logs
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway

#: The default profile, with room for the streaming and concurrency measurements.
BENCH_PROFILE = "max_concurrent = 32\nmax_events = 100000\nmax_events_per_second = 10000000\nwall_seconds = 60\n"
PROFILES = {
    "fresh": BENCH_PROFILE + 'mode = "fresh"\n',
    "warm": BENCH_PROFILE + 'mode = "warm"\nwarm_pool_size = 8\n',
}
IDLE_STREAMS = 1000


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

    busy_before = busy_cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cpu = busy_cpu_seconds() - busy_before
    return {
        "per_second": round(total / elapsed, 1),
        "errors": errors,
        "invocations": total,
        # Every process on the machine: gateway, zygote, sandboxes, kernel work, the client.
        "machine_cpu_ms_per_invocation": round(cpu * 1000 / total, 2),
    }


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent not idle so far (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def stream_events(client: AirlockClient, action_id: str, events: int) -> float:
    """Events per second on one stream of ``events`` message deltas."""
    began = time.perf_counter()
    async with client.invoke(action_id, body={"status": 0, "events": events}) as invocation:
        result = await invocation.wait()
    assert result.outcome is Outcome.OK, result
    return round(events / (time.perf_counter() - began), 1)


async def call_round_trip(client: AirlockClient, action_id: str, calls: int) -> float:
    """Median time from answering one call to receiving the next, in milliseconds."""
    gaps: list[float] = []
    answered_at = 0.0
    async with client.invoke(action_id, body={"status": 0, "calls": calls}) as invocation:
        async for message in invocation:
            if isinstance(message, Call):
                if answered_at:
                    gaps.append(time.perf_counter() - answered_at)
                await invocation.reply(message.call_id, True)
                answered_at = time.perf_counter()
    return round(statistics.median(gaps) * 1000, 3)


async def invoke_once(client: AirlockClient, action_id: str, peaks: list[int] | None = None) -> None:
    """One invocation of the reference action; raises unless it returned."""
    async with client.invoke(action_id, body={}) as invocation:
        result = await invocation.wait()
    if result.outcome is not Outcome.OK:
        raise RuntimeError(f"{result.outcome.name}: {result.error}")
    if peaks is not None and result.usage.peak_memory_bytes:
        peaks.append(result.usage.peak_memory_bytes)


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def pss_mib(pids: list[int]) -> float:
    """Proportional resident memory of ``pids`` together (shared pages split), in MiB."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return round(total / 1024, 2)


def waiting_sandbox_memory(gateway: Gateway, profile: str) -> dict[str, float]:
    """Memory of each sandbox waiting in a warm pool: cgroup charge and PSS of its processes."""
    pool = gateway.launcher.pool(gateway.profiles[profile])
    assert pool is not None
    charged, pss = [], []
    for worker in pool.waiting():
        directory = worker.cgroup.dirs.get("memory") or next(iter(worker.cgroup.dirs.values()))
        usage = directory / ("memory.usage_in_bytes" if "memory" in worker.cgroup.dirs else "memory.current")
        charged.append(int(usage.read_text()) / (1 << 20))
        pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
        pss.append(pss_mib(pids))
    return {
        "waiting": len(charged),
        "cgroup_charge_mib": round(statistics.median(charged), 2),
        "pss_mib": round(statistics.median(pss), 2),
    }


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def idle_streams_rss(profiles: Path, data: Path, count: int) -> dict[str, float]:
    """RSS of an ``airlock serve`` process idle, then with ``count`` open streams."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    serve = subprocess.Popen(  # noqa: ASYNC220 - our own CLI, started once
        [
            str(Path(sys.executable).with_name("airlock")),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data),
            "--profiles",
            str(profiles),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        await asyncio.wait_for(channel.channel_ready(), 60)
        await asyncio.sleep(3)  # warm pools filled, start-up garbage collected
        before = rss_mib(serve.pid)
        stub = pb_grpc.RuntimeStub(channel)
        calls = [stub.Invoke() for _ in range(count)]
        # An idle stream: open, headers exchanged, no Start yet (the handler waits for it).
        await asyncio.gather(*(call.wait_for_connection() for call in calls))
        await asyncio.sleep(2)
        during = rss_mib(serve.pid)
        for call in calls:
            call.cancel()
        await channel.close()
        return {"streams": count, "rss_idle_mib": before, "rss_with_streams_mib": during}
    finally:
        serve.terminate()
        serve.wait(30)


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
        for name, text in PROFILES.items():
            (profiles / f"{name}.toml").write_text(text)
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
            for mode in PROFILES:
                await client.put_function(mode, ACTION, profile=mode)
            pool = gateway.launcher.pool(gateway.profiles["warm"])
            assert pool is not None
            await pool.wait_ready()
            memory = waiting_sandbox_memory(gateway, "warm")
            for mode in PROFILES:
                peaks: list[int] = []
                if mode == "warm":
                    await pool.wait_ready()
                    hits, misses = pool.hits, pool.misses
                results[f"airlock_{mode}"] = {
                    "latency": await latency(
                        lambda m=mode, p=peaks: invoke_once(client, m, p),  # type: ignore[misc]
                        runs if mode == "warm" else max(10, runs // 5),
                    ),
                    "throughput_c32": await throughput(lambda m=mode: invoke_once(client, m), 32, total),  # type: ignore[misc]
                    "events_per_second": await stream_events(client, mode, events),
                    "call_round_trip_ms": await call_round_trip(client, mode, calls),
                    "sandbox_peak_memory_mib": round(statistics.median(peaks) / (1 << 20), 2),
                }
            results["airlock_warm"]["waiting_sandbox"] = memory
            results["airlock_warm"]["pool"] = {"hits": pool.hits - hits, "misses": pool.misses - misses}
        await gateway.stop(0)
        results["gateway_memory"] = await idle_streams_rss(profiles, Path(tmp) / "serve-data", IDLE_STREAMS)
    return results


def table(results: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    rows = [
        "| variant | p50 (c=1) | p99 (c=1) | invocations/s (c=32), errors | machine CPU per invocation (c=32) "
        "| events/s (one stream) | call round trip |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("in_process", "grpc_floor", "airlock_fresh", "airlock_warm"):
        r = results[name]
        events = r.get("events_per_second", "—")
        rtt = f"{r['call_round_trip_ms']} ms" if "call_round_trip_ms" in r else "—"
        rows.append(
            f"| {name} | {r['latency']['p50_ms']} ms | {r['latency']['p99_ms']} ms | "
            f"{r['throughput_c32']['per_second']}, {r['throughput_c32']['errors']} | "
            f"{r['throughput_c32']['machine_cpu_ms_per_invocation']} ms | {events} | {rtt} |"
        )
    floor, warm = results["grpc_floor"], results["airlock_warm"]
    memory = results["gateway_memory"]
    rows += [
        "",
        "| check | figure |",
        "|---|---|",
        f"| warm events/s ÷ transport floor | {warm['events_per_second'] / floor['events_per_second']:.0%} |",
        f"| warm call round trip minus transport floor | "
        f"{warm['call_round_trip_ms'] - floor['call_round_trip_ms']:.2f} ms |",
        f"| warm pool hits / misses during the run | {warm['pool']['hits']} / {warm['pool']['misses']} |",
        f"| gateway RSS idle → with {memory['streams']} idle streams | "
        f"{memory['rss_idle_mib']} → {memory['rss_with_streams_mib']} MiB |",
        f"| per sandbox: cgroup peak during an invocation (fresh / warm) | "
        f"{results['airlock_fresh']['sandbox_peak_memory_mib']} / {warm['sandbox_peak_memory_mib']} MiB |",
        f"| per waiting warm sandbox: cgroup charge / PSS of its 3 processes | "
        f"{warm['waiting_sandbox']['cgroup_charge_mib']} / {warm['waiting_sandbox']['pss_mib']} MiB |",
    ]
    return "\n".join(rows)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the harness)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON figures")
    args = parser.parse_args()
    logs.configure(json=True, level="error")
    results = asyncio.run(measure(args.quick))
    out = args.out or Path(__file__).parent / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(table(results))
    print(f"\nfigures: {out}")


if __name__ == "__main__":
    main()
