"""``airlock invoke``: run an action, print its events live, answer its calls, print the result."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc

from airlock.client import Call, HostHandler, InvocationStream, Outcome, Result, StartRequest
from gateway.cli import host_answers
from gateway.cli.answers import Answers
from gateway.cli.connection import Connection
from gateway.cli.interrupts import Interrupts
from gateway.cli.params import JsonValue
from gateway.cli.render import HumanPrinter, Printer
from gateway.cli.transcript import JsonLinesPrinter

FC = TypeVar("FC", bound=Callable[..., Any])

#: The action ran and returned.
EXIT_OK = 0
#: The action raised.
EXIT_FUNCTION_ERROR = 1
#: The invocation ended another way: a limit, a crash, a cancel.
EXIT_OTHER_OUTCOME = 3
#: The second Ctrl-C: the result never arrived (128 + SIGINT, as shells report it).
EXIT_GAVE_UP = 130


def exit_code(outcome: Outcome) -> int:
    """The exit status for an invocation's outcome."""
    if outcome is Outcome.OK:
        return EXIT_OK
    if outcome is Outcome.FUNCTION_ERROR:
        return EXIT_FUNCTION_ERROR
    return EXIT_OTHER_OUTCOME


class Session:
    """One invocation in progress: the stream, who answers its calls, who prints it."""

    def __init__(self, stream: InvocationStream, answers: Answers, printer: Printer, interrupts: Interrupts) -> None:
        self.stream = stream
        self.answers = answers
        self.printer = printer
        self.interrupts = interrupts
        # Replies and the Cancel are written from two tasks; gRPC allows one write at a time.
        self._writing = asyncio.Lock()

    async def run(self) -> Result:
        """Print and answer messages until the Result, sending Cancel on the first Ctrl-C."""
        canceller = asyncio.create_task(self._cancel_when_interrupted())
        try:
            async for message in self.stream:
                self.printer.show(message)
                if isinstance(message, Call):
                    await self._answer(message)
        finally:
            canceller.cancel()
            await asyncio.wait([canceller])
        if not canceller.cancelled():
            canceller.result()  # surface a failure of the canceller itself
        assert self.stream.result is not None  # the stream only ends after a Result
        return self.stream.result

    async def _answer(self, call: Call) -> None:
        try:
            with self.interrupts.prompting():
                answer = self.answers.answer(call)
        except KeyboardInterrupt:
            # Ctrl-C at a prompt cancels the invocation; the call stays unanswered.
            self.interrupts.interrupt()
            return
        self.printer.answered(call, answer)
        async with self._writing:
            await self.stream.reply(call.call_id, answer.value)

    async def _cancel_when_interrupted(self) -> None:
        await self.interrupts.requested.wait()
        async with self._writing:
            if self.stream.result is not None:
                return
            self.printer.end_line()
            click.echo("airlock: cancelling (press Ctrl-C again to stop waiting)", err=True)
            # Failing means the stream already ended (an error, or the Result raced us);
            # the read loop reports how, so there is nothing to add here.
            with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
                await self.stream.cancel("interrupted at the terminal")


async def _invoke(
    connection: Connection, start: StartRequest, answers: Answers, printer: Printer, host: dict[str, HostHandler]
) -> Result:
    with Interrupts() as interrupts:
        async with connection.client() as client, client.open_invocation(start, host=host) as stream:
            return await Session(stream, answers, printer, interrupts).run()


def _json_option(name: str, what: str, *, object_only: bool = True) -> Callable[[FC], FC]:
    return click.option(name, type=JsonValue(object_only=object_only), default=None, help=what)


@click.command()
@click.argument("action_id")
@_json_option("--body", "Open WebUI's action body {model, messages, chat_id, ...}.")
@_json_option("--user", "__user__: {id, email, name, role, ...}.")
@_json_option("--user-valves", "This user's UserValves values.")
@_json_option("--model-json", "__model__ (any JSON).", object_only=False)
@_json_option("--request-json", "__request__: {method, url, headers, ...}.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Wall-clock budget.")
@click.option(
    "--call-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Wait per call answer."
)
@click.option("--yes/--no", "confirm", default=None, help="Answer every confirmation call.")
@click.option("--input", "inputs", multiple=True, metavar="TEXT", help="Answer the next input call (repeatable).")
@click.option(
    "--answer",
    "values",
    multiple=True,
    type=JsonValue(),
    help="Answer the next call of another type, e.g. execute (repeatable).",
)
@click.option(
    "--openai-url",
    envvar="AIRLOCK_OPENAI_URL",
    show_envvar=True,
    metavar="URL",
    help="Answer generate_chat_completion from this OpenAI-compatible API base "
    "(e.g. http://127.0.0.1:11434/v1); the key is read from AIRLOCK_OPENAI_API_KEY.",
)
@click.option(
    "--openai-model",
    envvar="AIRLOCK_OPENAI_MODEL",
    show_envvar=True,
    metavar="MODEL",
    help="Use this model for every chat completion instead of the one the plugin asks for.",
)
@click.option(
    "--host-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Answer Users/Chats/Files/Models lookups from a JSON file {"users": {id: ...}, "chats": ..., '
    '"files": ..., "models": ...}.',
)
@click.option("--json", "as_json", is_flag=True, help="Print every message as a JSON line.")
@click.pass_obj
def invoke(
    connection: Connection,
    *,
    action_id: str,
    body: dict[str, Any] | None,
    user: dict[str, Any] | None,
    user_valves: dict[str, Any] | None,
    model_json: Any,
    request_json: dict[str, Any] | None,
    timeout: float | None,
    call_timeout: float | None,
    confirm: bool | None,
    inputs: tuple[str, ...],
    values: tuple[Any, ...],
    openai_url: str | None,
    openai_model: str | None,
    host_data: Path | None,
    as_json: bool,
) -> None:
    """Run an action; print its events live and answer its calls.

    ACTION_ID is "<function id>" or "<function id>.<sub-action id>".

    Calls are answered from --yes/--no, --input and --answer, in order; when none is left,
    a terminal is asked, and without one the call is refused (false, or an error object).
    Host requests (Open WebUI internals the plugin calls) are answered from --openai-url,
    --user and --host-data; the others are not offered, and the plugin gets an error.
    Exit status: 0 returned, 1 raised, 3 ended another way (timeout, limit, cancel), 2 error.
    """
    host = host_answers.handlers(user=user, host_data=host_data, openai_url=openai_url, openai_model=openai_model)
    start = StartRequest(
        action_id=action_id,
        body=body or {},
        user=user or {},
        user_valves=user_valves or {},
        model=model_json,
        request=request_json or {},
        timeout=timeout,
        call_timeout=call_timeout,
        host_capabilities=frozenset(host),
    )
    # Only a terminal on stdin means someone can answer; a pipe or /dev/null never prompts.
    interactive = sys.stdin is not None and sys.stdin.isatty()
    answers = Answers(confirm=confirm, inputs=inputs, values=values, interactive=interactive)
    printer: Printer = JsonLinesPrinter() if as_json else HumanPrinter()
    try:
        with connection.rpc_errors():
            result = asyncio.run(_invoke(connection, start, answers, printer, host))
    except (asyncio.CancelledError, KeyboardInterrupt):
        # A second Ctrl-C cancels our task (see interrupts.py); asyncio itself raises
        # KeyboardInterrupt for a Ctrl-C that came before the invocation was open.
        printer.end_line()
        click.echo("airlock: stopped waiting; the gateway may still be finishing the invocation", err=True)
        click.get_current_context().exit(EXIT_GAVE_UP)
    click.get_current_context().exit(exit_code(result.outcome))
