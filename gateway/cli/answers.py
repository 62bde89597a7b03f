"""Answers to a plugin's ``__event_call__``: from flags, else the terminal, else a safe default.

Values follow Open WebUI's dialogs: a confirmation returns true or false; an input returns
the entered string, or false when cancelled; an ``execute`` call returns whatever the
browser's JavaScript produced, so any other call type is answered with a JSON value.

The safe defaults refuse (false, or an ``{"error": ...}`` object): a script that did not
foresee a call must not approve something by accident.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import click

from airlock.client import Call
from gateway.cli.params import JsonValue
from runner import exact_json

T = TypeVar("T")

#: What a non-interactive run answers to a call type it has no flag for.
NO_ANSWER_ERROR = {"error": "no answer available (non-interactive)"}
#: What an ``execute`` (or other) call gets when the person at the terminal presses Ctrl-D.
DECLINED_ERROR = {"error": "no answer given"}


class Source(Enum):
    """Where an answer came from."""

    FLAG = "flag"
    TERMINAL = "terminal"
    DEFAULT = "default"


@dataclass(frozen=True)
class Answer:
    """The value returned to the plugin, and where it came from."""

    value: Any
    source: Source


def _text(data: Any, key: str) -> str:
    # Call data is whatever the plugin sent; a missing or odd field reads as empty.
    value = data.get(key) if isinstance(data, dict) else None
    return "" if value is None else str(value)


def _ask(prompt: Callable[[], T]) -> T | None:
    """Run a click prompt; None for Ctrl-D, KeyboardInterrupt for Ctrl-C.

    click turns both into Abort; the original exception is still its ``__context__``,
    and the two must differ: Ctrl-D cancels one dialog, Ctrl-C the whole invocation.
    """
    try:
        return prompt()
    except click.Abort as exc:
        click.echo(err=True)  # the cursor is still on the prompt's line
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        return None


class Answers:
    """Answers calls in order: ``--yes/--no``, ``--input`` and ``--answer`` first, then the terminal.

    ``interactive`` is whether a person can be asked (stdin is a TTY); prompts go to stderr
    so that stdout stays the invocation's output.
    """

    def __init__(
        self, *, confirm: bool | None, inputs: Iterable[str], values: Iterable[Any], interactive: bool
    ) -> None:
        self._confirm = confirm
        self._inputs = deque(inputs)
        self._values = deque(values)
        self._interactive = interactive

    def answer(self, call: Call) -> Answer:
        """The answer to ``call``; a terminal prompt may raise KeyboardInterrupt (Ctrl-C)."""
        if call.type == "confirmation":
            return self._confirmation(call.data)
        if call.type == "input":
            return self._input(call.data)
        return self._other(call)

    def _confirmation(self, data: Any) -> Answer:
        if self._confirm is not None:
            return Answer(self._confirm, Source.FLAG)
        if not self._interactive:
            _note(f"confirmation {_text(data, 'title')!r}", "--yes or --no", "false")
            return Answer(False, Source.DEFAULT)
        title, message = _text(data, "title"), _text(data, "message")
        if title and message:
            click.secho(title, bold=True, err=True)
        question = message or title or "Confirm?"
        confirmed = _ask(lambda: click.confirm(question, default=False, err=True))
        return Answer(bool(confirmed), Source.TERMINAL)

    def _input(self, data: Any) -> Answer:
        if self._inputs:
            return Answer(self._inputs.popleft(), Source.FLAG)
        if not self._interactive:
            _note(f"input {_text(data, 'title')!r}", "--input TEXT, once per input call", "false (cancelled)")
            return Answer(False, Source.DEFAULT)
        title, message = _text(data, "title"), _text(data, "message")
        placeholder, value = _text(data, "placeholder"), _text(data, "value")
        if title and message:
            click.secho(title, bold=True, err=True)
        question = message or title or "Input"
        if placeholder:
            question += click.style(f" ({placeholder})", dim=True)
        # An empty line submits the prefilled value, as confirming the untouched dialog
        # would; Ctrl-D is the dialog's Cancel button.
        entered = _ask(lambda: click.prompt(question, default=value, show_default=bool(value), err=True))
        return Answer(False if entered is None else str(entered), Source.TERMINAL)

    def _other(self, call: Call) -> Answer:
        if self._values:
            return Answer(self._values.popleft(), Source.FLAG)
        if not self._interactive:
            _note(f"{call.type} call", "--answer JSON, once per such call", exact_json.dumps(NO_ANSWER_ERROR).decode())
            return Answer(NO_ANSWER_ERROR, Source.DEFAULT)
        click.secho(f"{call.type} call:", bold=True, err=True)
        code = call.data.get("code") if isinstance(call.data, dict) else None
        click.echo(code if isinstance(code, str) else exact_json.dumps(call.data).decode(), err=True)
        # Wrapped in a tuple because JSON null is a valid answer, unlike a Ctrl-D.
        entered = _ask(lambda: (click.prompt("Answer (JSON)", type=JsonValue(), err=True),))
        return Answer(DECLINED_ERROR if entered is None else entered[0], Source.TERMINAL)


def _note(what: str, flag: str, reply: str) -> None:
    click.echo(f"airlock: no answer for {what} (give one with {flag}); replying {reply}", err=True)
