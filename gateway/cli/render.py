"""Printing an invocation for a person: events live on stdout, the result at the end.

stdout carries what the action produced (statuses, message text, the returned value on its
own last line); stderr carries everything about how it went (errors, the plugin's printed
output, notes), so ``airlock invoke ... | tail -n 1`` is the value.
"""

from __future__ import annotations

from typing import Any, Protocol

import click

from airlock.client import Call, Event, Result, Started
from airlock.domain.invocation import HostRequest, Outbound
from gateway.cli.answers import Answer, Source
from runner import exact_json

#: Event types whose content continues the assistant message (Open WebUI appends them).
APPEND_TYPES = frozenset({"chat:message:delta", "message"})
#: Event types whose content replaces the assistant message.
REPLACE_TYPES = frozenset({"chat:message", "replace"})


class Printer(Protocol):
    """Shows the messages of one invocation."""

    def show(self, message: Outbound) -> None:
        """Show one message as it arrives (a Call before it is answered)."""

    def answered(self, call: Call, answer: Answer) -> None:
        """Show how a call was answered."""

    def end_line(self) -> None:
        """Finish a partly written stdout line before something else is written to the terminal."""


def compact_json(value: Any) -> str:
    """One-line JSON text."""
    return exact_json.dumps(value).decode()


def _field(data: Any, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return "" if value is None else str(value)


class HumanPrinter:
    """Events as readable lines; message deltas are written inline, as a chat would show them."""

    def __init__(self) -> None:
        # True while stdout's cursor is after inline message text, not at a line start.
        self._mid_line = False

    def end_line(self) -> None:
        """Break an inline message so the next output starts on its own line."""
        if self._mid_line:
            click.echo()
            self._mid_line = False

    def _line(self, text: str, *, dim: bool = False) -> None:
        self.end_line()
        # dim=False would still emit a "normal intensity" code; None emits nothing.
        click.secho(text, dim=dim or None)

    def _inline(self, text: str) -> None:
        click.echo(text, nl=False)
        if text:
            self._mid_line = not text.endswith("\n")

    def show(self, message: Outbound) -> None:
        """Print an event now; a Started prints nothing, a Result prints the outcome."""
        if isinstance(message, Event):
            self._event(message)
        elif isinstance(message, Result):
            self._result(message)
        elif isinstance(message, HostRequest):
            # How it went, not what the action produced: stderr, like the other notes.
            self.end_line()
            streamed = " (streamed)" if message.stream else ""
            click.secho(f"» host request {message.method}{streamed}", err=True, dim=True)
        elif isinstance(message, Call | Started):
            self.end_line()  # a prompt or note about the call may follow

    def _event(self, event: Event) -> None:
        data = event.data
        if event.type == "status" and isinstance(data, dict):
            # An empty status only clears the status line in Open WebUI: nothing to show.
            if description := _field(data, "description"):
                self._line(f"· {description}", dim=bool(data.get("hidden")))
        elif event.type in APPEND_TYPES and isinstance(data, dict):
            self._inline(_field(data, "content"))
        elif event.type in REPLACE_TYPES and isinstance(data, dict):
            # The replacement starts a new message on a new line; deltas that follow append
            # to it, as they do in the chat (a plugin often clears with "" and then streams).
            self.end_line()
            self._inline(_field(data, "content"))
        elif event.type == "notification" and isinstance(data, dict):
            self._line(f"[{_field(data, 'type') or 'info'}] {_field(data, 'content')}")
        else:
            self._line(f"{event.type}: {compact_json(data)}")

    def answered(self, call: Call, answer: Answer) -> None:
        """Record flag and default answers (a terminal answer is already on the screen)."""
        if answer.source is not Source.TERMINAL:
            title = _field(call.data, "title")
            label = f"{call.type} {title!r}" if title else call.type
            self._line(f"? {label} -> {compact_json(answer.value)}", dim=True)

    def _result(self, result: Result) -> None:
        self.end_line()
        if result.output:
            click.secho("--- output of the function ---", err=True, dim=True)
            click.echo(result.output, err=True, nl=not result.output.endswith("\n"))
            if result.output_truncated:
                click.secho("--- output truncated ---", err=True, dim=True)
        if result.ok:
            click.echo((result.value_json or b"null").decode())
            return
        summary = ": ".join(part for part in (result.outcome.name, result.error_type, result.error) if part)
        click.secho(summary, err=True, fg="red")
        if result.traceback:
            click.echo(result.traceback.rstrip("\n"), err=True)
