"""
title: Misbehave
description: does what body["do"] says; used by the outcome tests
"""

import asyncio
import os
import signal
import struct
import sys
import time


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


class Unserialisable:
    pass


class Action:
    async def action(self, body, __event_emitter__):
        do = body.get("do")
        await __event_emitter__({"type": "pid", "data": {"pid": os.getpid(), "sandbox": sandbox_identity()}})
        if do == "sleep":
            await asyncio.sleep(3600)
        if do == "block":
            time.sleep(3600)
        if do == "spin":
            while True:
                pass
        if do == "spin_ignoring_sigxcpu":
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
            while True:
                pass
        if do == "exit":
            os._exit(3)
        if do == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if do == "alloc":
            blob = bytearray(8 * 1024 * 1024 * 1024)
            return len(blob)
        if do == "print_flood":
            chunk = "x" * 4096
            while True:
                sys.stdout.write(chunk)
        if do == "one_long_line":
            sys.stdout.write("y" * (10 * 1024 * 1024))
            sys.stdout.flush()
            return "wrote"
        if do == "event_flood":
            while True:
                await __event_emitter__({"type": "chat:message:delta", "data": {"content": "z"}})
        if do == "huge_event":
            await __event_emitter__({"type": "status", "data": {"description": "h" * (2 * 1024 * 1024)}})
            return "sent"
        if do == "unserialisable":
            return Unserialisable()
        if do == "bad_event":
            await __event_emitter__("not a dict")
        if do == "fork_and_sleep":
            child = os.fork()
            if child == 0:
                time.sleep(3600)
                os._exit(0)
            await __event_emitter__({"type": "child", "data": {"pid": child}})
            await asyncio.sleep(3600)
        if do == "close_channel":
            for fd in range(3, 64):
                try:
                    os.close(fd)
                except OSError:
                    pass
            time.sleep(3600)
        if do == "system_exit":
            sys.exit(5)
        if do == "forged_deep_event":
            payload = b'{"op":"event","type":"x","data":' + b"[" * 300 + b"]" * 300 + b"}"
            os.write(4, struct.pack(">I", len(payload)) + payload)
            time.sleep(3600)
        if do == "forged_unknown_op":
            payload = b'{"op":"ready"}'
            os.write(4, struct.pack(">I", len(payload)) + payload)
            time.sleep(3600)
        if do == "long_error":
            raise RuntimeError("e" * 100_000)
        if do == "long_event_type":
            await __event_emitter__({"type": "t" * 300})
        if do == "background_thread":
            asyncio.get_running_loop().run_in_executor(None, time.sleep, 3600)
            return "quick"
        if do == "print_paths":
            print(os.__file__, sys.executable, __file__)
            return "printed"
        if do == "print_then_return":
            print("hello from the plugin")
            print("to stderr", file=sys.stderr)
            return "ok"
        if do == "read_stdin":
            return sys.stdin.read()
        return "nothing"
