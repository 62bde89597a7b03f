"""Every example in examples/actions/ registered and run end to end through a real gateway.

The examples are what an admin pastes into Open WebUI, so these tests double as a check that
such code runs unchanged in Airlock: each invocation's events, calls and result are asserted
exactly, and every transcript is validated (Started first, Result last, seq 1..N).
"""

from __future__ import annotations

import ast
import base64
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from airlock.client import AirlockClient, Call, Event, FunctionRecord, Outcome, Result, Started, SubAction
from airlock.client.invocation import CallHandler

pytestmark = pytest.mark.anyio


# The examples' listings, valves and user valves are what these tests look at: a gateway
# per test.
@pytest.fixture
async def client(private_client: AirlockClient) -> AirlockClient:
    return private_client


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "actions"
ICONS = "https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons"

USER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "admin"}
MODEL = {"id": "llama3:8b", "name": "Llama 3", "owned_by": "ollama"}


@dataclass(frozen=True)
class Expected:
    """What the registry should report about one example."""

    name: str
    priority: int
    icon: str
    user_valves: bool = False


EXPECTED = {
    "add_note": Expected("Add Note", 30, "sticky-note", user_valves=True),
    "confirm_export": Expected("Export Chat", 20, "download"),
    "format_as": Expected("Format As", 5, "case-sensitive"),
    "greeting": Expected("Personal Greeting", 0, "hand", user_valves=True),
    "json_validator": Expected("Validate JSON", 40, "braces"),
    "message_stats": Expected("Message Stats", 0, "chart-column"),
    "pirate_translator": Expected("Translate to Pirate", 10, "skull", user_valves=True),
    "reading_time": Expected("Reading Time", 0, "clock"),
    "request_inspector": Expected("Request Inspector", 100, "search-code"),
}

FORMAT_AS_ACTIONS = (
    SubAction("uppercase", "UPPERCASE", f"{ICONS}/case-upper.svg"),
    SubAction("lowercase", "lowercase", f"{ICONS}/case-lower.svg"),
    SubAction("title", "Title Case", f"{ICONS}/case-sensitive.svg"),
    SubAction("sentence", "Format As (sentence)", f"{ICONS}/case-sensitive.svg"),
)


def source(stem: str) -> str:
    return (EXAMPLES / f"{stem}.py").read_text()


async def register(client: AirlockClient, stem: str, valves: dict[str, Any] | None = None) -> FunctionRecord:
    return await client.put_function(stem, source(stem), is_global=True, valves=valves)


def body(content: str, *, model: str = "llama3:8b") -> dict[str, Any]:
    """An Open WebUI action body whose clicked (last) message says ``content``."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Tell me something."},
            {"role": "assistant", "content": content},
        ],
        "chat_id": "4f1c2a",
        "session_id": "sess-7",
        "id": "msg-3",
    }


def answer(value: Any) -> Callable[[Call], Any]:
    """A call handler that answers every call with ``value``."""

    def handler(call: Call) -> Any:
        return value

    return handler


@dataclass(frozen=True)
class Run:
    """One validated invocation."""

    started: Started
    steps: list[Event | Call]
    result: Result

    @property
    def transcript(self) -> list[tuple[str, str, Any]]:
        """("event" | "call", type, data) for every event and call, in order."""
        return [("call" if isinstance(m, Call) else "event", m.type, m.data) for m in self.steps]

    def data(self, event_type: str) -> list[Any]:
        """The data of every event of one type."""
        return [m.data for m in self.steps if isinstance(m, Event) and m.type == event_type]


async def run(
    client: AirlockClient,
    action_id: str,
    *,
    body: dict[str, Any],
    on_call: CallHandler | None = None,
    **options: Any,
) -> Run:
    """Invoke ``action_id`` to its end and validate the transcript's shape."""
    async with client.invoke(action_id, body=body, on_call=on_call, **options) as invocation:
        messages = [m async for m in invocation]
    first, *middle, last = messages
    assert isinstance(first, Started)
    assert first.function_id == action_id.partition(".")[0]
    assert first.profile == "default"
    assert isinstance(last, Result)
    assert invocation.started == first
    assert invocation.result == last
    steps: list[Event | Call] = []
    for message in middle:
        assert isinstance(message, Event | Call), message
        steps.append(message)
    assert [m.seq for m in steps] == list(range(1, len(steps) + 1))
    for call in (m for m in steps if isinstance(m, Call)):
        assert call.call_id
        assert call.timeout == first.call_timeout
    if last.outcome is Outcome.OK:
        assert (last.error, last.error_type, last.traceback) == ("", "", "")
    else:
        assert last.value is None
    return Run(first, steps, last)


# -- the sources -----------------------------------------------------------------------


def test_examples_are_pasteable_open_webui_actions() -> None:
    """Frontmatter first, only the standard library and pydantic imported, one Action class."""
    allowed = set(sys.stdlib_module_names) | {"pydantic"}
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text()
        assert text.splitlines()[0] == '"""', path.name
        tree = ast.parse(text)
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert {name.partition(".")[0] for name in imported} <= allowed, path.name
        classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
        assert classes == ["Action"], path.name


async def test_every_example_registers_and_lists_in_priority_order(client: AirlockClient) -> None:
    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(EXPECTED)
    for stem, expected in EXPECTED.items():
        record = await register(client, stem)
        assert record.id == stem
        assert record.kind == "action"
        assert record.name == expected.name
        assert record.profile == "default"
        assert record.is_global
        assert record.icon_url == f"{ICONS}/{expected.icon}.svg"
        assert record.description
        assert record.description == record.manifest["description"]
        assert record.manifest["title"] == expected.name
        assert record.manifest["required_open_webui_version"] == "0.5.0"
        assert record.manifest["version"]
        assert record.priority == expected.priority
        assert record.valves is None
        assert record.default_valves is not None
        assert record.default_valves["priority"] == expected.priority
        assert record.valves_schema is not None
        assert "priority" in record.valves_schema["properties"]
        assert (record.user_valves_schema is not None) == expected.user_valves
        assert record.actions == (FORMAT_AS_ACTIONS if stem == "format_as" else ())

    buttons = await client.list_actions("llama3:8b")
    assert [(b.id, b.priority) for b in buttons] == [
        ("greeting", 0),
        ("message_stats", 0),
        ("reading_time", 0),
        ("format_as.uppercase", 5),
        ("format_as.lowercase", 5),
        ("format_as.title", 5),
        ("format_as.sentence", 5),
        ("pirate_translator", 10),
        ("confirm_export", 20),
        ("add_note", 30),
        ("json_validator", 40),
        ("request_inspector", 100),
    ]
    assert [b.name for b in buttons if b.id.startswith("format_as.")] == [a.name for a in FORMAT_AS_ACTIONS]


# -- status, citation, admin valves --------------------------------------------------------

STATS_TEXT = "The quick brown fox jumps over the lazy dog. The dog didn't care!\n\nFoxes are quick; dogs are lazy?"


def stats_report(top: str) -> str:
    return (
        "**Words:** 19 (13 unique)\n"
        "**Characters:** 98 (79 without spaces)\n"
        "**Sentences:** 3 · **Paragraphs:** 2\n"
        "**Average word length:** 3.95\n"
        f"**Most frequent:** {top}"
    )


def stats_transcript(top: str) -> list[tuple[str, str, Any]]:
    return [
        ("event", "status", {"description": "Counting words…", "done": False, "hidden": False}),
        (
            "event",
            "citation",
            {
                "document": [stats_report(top)],
                "metadata": [{"source": "Message Stats", "message_id": "msg-3"}],
                "source": {"name": "Message Stats"},
            },
        ),
        ("event", "status", {"description": "19 words, 3 sentences", "done": True, "hidden": False}),
    ]


STATS = {
    "characters": 98,
    "characters_no_spaces": 79,
    "words": 19,
    "unique_words": 13,
    "sentences": 3,
    "paragraphs": 2,
    "average_word_length": 3.95,
}


async def test_message_stats_reports_status_and_citation_and_follows_admin_valves(client: AirlockClient) -> None:
    await register(client, "greeting")
    await register(client, "message_stats")
    assert [b.id for b in await client.list_actions("any")] == ["greeting", "message_stats"]

    first = await run(client, "message_stats", body=body(STATS_TEXT), user=USER)
    assert first.transcript == stats_transcript("quick (2), lazy (2), dog (2)")
    assert first.result.outcome is Outcome.OK
    assert first.result.value == {**STATS, "top_words": [["quick", 2], ["lazy", 2], ["dog", 2]]}

    record = await client.update_valves("message_stats", {"priority": -1, "top_words": 1, "ignore_stopwords": False})
    assert record.valves == {"priority": -1, "top_words": 1, "ignore_stopwords": False}
    assert record.priority == -1
    assert [b.id for b in await client.list_actions("any")] == ["message_stats", "greeting"]

    second = await run(client, "message_stats", body=body(STATS_TEXT), user=USER)
    assert second.transcript == stats_transcript("the (3)")
    assert second.result.value == {**STATS, "top_words": [["the", 3]]}


# -- chat:message replace and chat:message:delta streaming -------------------------------


async def test_pirate_translator_clears_the_message_then_streams_deltas(client: AirlockClient) -> None:
    await register(client, "pirate_translator")
    text = "Hello my friend, where is the treasure? Stop right there!"
    translated = "Ahoy me matey, whar be th' booty? Avast right there! Arrr!"

    result = await run(client, "pirate_translator", body=body(text), user=USER)

    assert result.transcript == [
        ("event", "status", {"description": "Hoisting the sails…", "done": False}),
        ("event", "chat:message", {"content": ""}),
        ("event", "chat:message:delta", {"content": "Ahoy me matey, "}),
        ("event", "chat:message:delta", {"content": "whar be th' "}),
        ("event", "chat:message:delta", {"content": "booty? Avast right "}),
        ("event", "chat:message:delta", {"content": "there! Arrr!"}),
        ("event", "status", {"description": "Translated 11 words", "done": True}),
    ]
    assert "".join(d["content"] for d in result.data("chat:message:delta")) == translated
    assert result.result.outcome is Outcome.OK
    assert result.result.value == {"content": translated}


# -- confirmation call -----------------------------------------------------------------

CONFIRM = (
    "call",
    "confirmation",
    {"title": "Export chat?", "message": "Export 2 messages as a Markdown file?"},
)
CANCELLED = [CONFIRM, ("event", "notification", {"type": "warning", "content": "Export cancelled."})]


async def test_confirm_export_exports_only_after_a_yes(client: AirlockClient) -> None:
    await register(client, "confirm_export")

    yes = await run(client, "confirm_export", body=body("Done."), on_call=answer(True))
    assert yes.transcript == [
        CONFIRM,
        ("event", "status", {"description": "Preparing export…", "done": False}),
        ("event", "status", {"description": "Export ready", "done": True}),
        ("event", "notification", {"type": "success", "content": "Exported 2 messages to chat-4f1c2a.md"}),
    ]
    assert yes.result.outcome is Outcome.OK
    value = yes.result.value
    markdown = "# Chat export (llama3:8b)\n\n## User\n\nTell me something.\n\n## Assistant\n\nDone.\n"
    prefix = "data:text/markdown;base64,"
    assert value["data_url"].startswith(prefix)
    assert base64.b64decode(value["data_url"].removeprefix(prefix)).decode() == markdown
    assert value == {
        "exported": True,
        "filename": "chat-4f1c2a.md",
        "mime_type": "text/markdown",
        "size_bytes": len(markdown.encode()),
        "data_url": value["data_url"],
    }

    no = await run(client, "confirm_export", body=body("Done."), on_call=answer(False))
    assert no.transcript == CANCELLED
    assert no.result.value == {"exported": False}


async def test_confirm_export_treats_an_unanswered_confirmation_as_no(client: AirlockClient) -> None:
    # Nobody answers: the call returns Open WebUI's {"error": ...} dict, which is truthy.
    await register(client, "confirm_export")
    result = await run(client, "confirm_export", body=body("Done."), call_timeout=0.2)
    assert result.transcript == CANCELLED
    assert result.result.value == {"exported": False}


# -- multi-action routing through __id__ -----------------------------------------------


async def test_format_as_routes_each_sub_action_through_id(client: AirlockClient) -> None:
    await register(client, "format_as")
    text = "the lord OF the rings. it is a BOOK!"
    expected = {
        "uppercase": "THE LORD OF THE RINGS. IT IS A BOOK!",
        "lowercase": "the lord of the rings. it is a book!",
        "title": "The Lord of the Rings. It Is a Book!",
        "sentence": "The lord of the rings. It is a book!",
    }
    for sub, formatted in expected.items():
        result = await run(client, f"format_as.{sub}", body=body(text))
        assert result.transcript == [("event", "chat:message", {"content": formatted})], sub
        assert result.result.outcome is Outcome.OK
        assert result.result.value == {"format": sub, "content": formatted}


async def test_format_as_without_a_sub_action_is_a_function_error(client: AirlockClient) -> None:
    await register(client, "format_as")
    result = await run(client, "format_as", body=body("x"))
    assert result.steps == []
    assert result.result.outcome is Outcome.FUNCTION_ERROR
    assert result.result.error_type == "ValueError"
    assert result.result.error == (
        "Unknown format 'format_as': invoke one of format_as.uppercase, format_as.lowercase, "
        "format_as.title, format_as.sentence"
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(client, "format_as.nope", body=body("x"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "has no sub-action 'nope'" in str(caught.value.details())


# -- user valves and __model__ ------------------------------------------------------------


async def test_greeting_uses_user_valves_model_and_admin_valves(client: AirlockClient) -> None:
    await register(client, "greeting", valves={"sign_off": "Fair winds!"})
    prefs = {"nickname": "Cap", "language": "fr", "formal": True}

    custom = await run(client, "greeting", body=body("x"), user=USER, user_valves=prefs, model=MODEL)
    greeting = "Bonjour, Cap! Llama 3 est prêt quand vous l'êtes. Fair winds!"
    assert custom.transcript == [("event", "notification", {"type": "info", "content": greeting})]
    assert custom.result.value == greeting


async def test_greeting_falls_back_to_defaults_when_user_valves_are_invalid(client: AirlockClient) -> None:
    # Upstream logs the UserValves error and leaves __user__["valves"] out; the action carries on.
    await register(client, "greeting")
    result = await run(client, "greeting", body=body("x", model="mistral"), user=USER, user_valves={"language": "xx"})
    greeting = "Hi, Ada! mistral is ready when you are."
    assert result.transcript == [("event", "notification", {"type": "info", "content": greeting})]
    assert result.result.value == greeting
    assert result.result.output.startswith("Failed to get user values: 1 validation error for UserValves")


# -- __request__, __model__, __id__, source events ---------------------------------------


async def test_request_inspector_reports_the_described_request(client: AirlockClient) -> None:
    await register(client, "request_inspector")
    request = {
        "method": "post",
        "url": "https://chat.example.com/api/chat/actions/request_inspector?debug=1&v=2",
        "headers": {"Authorization": "Bearer sk-secret", "User-Agent": "pytest", "X-Forwarded-For": "10.0.0.9"},
        "cookies": {"token": "jwt-secret", "theme": "dark"},
        "client": {"host": "203.0.113.7", "port": 51234},
    }

    result = await run(client, "request_inspector", body=body("x"), user=USER, model=MODEL, request=request)

    report = {
        "action_id": "request_inspector",
        "chat_id": "4f1c2a",
        "message_id": "msg-3",
        "model": MODEL,
        "user": {"id": "u-1", "role": "admin"},
        "request": {
            "method": "POST",
            "url": "https://chat.example.com/api/chat/actions/request_inspector?debug=1&v=2",
            # A real starlette Request: the cookies and the URL's host arrive as headers too,
            # as they would on Open WebUI's server.
            "headers": {
                "authorization": "***",
                "cookie": "***",
                "host": "chat.example.com",
                "user-agent": "pytest",
                "x-forwarded-for": "10.0.0.9",
            },
            "query_params": {"debug": "1", "v": "2"},
            "cookies": {"theme": "***", "token": "***"},
            "client": {"host": "203.0.113.7", "port": 51234},
        },
    }
    assert result.result.outcome is Outcome.OK
    assert result.result.value == report
    [source_event, delta] = result.transcript
    assert source_event[:2] == ("event", "source")
    assert source_event[2]["source"] == {"name": "Request Inspector"}
    assert source_event[2]["metadata"] == [{"source": "Request Inspector", "name": "request report"}]
    [document] = source_event[2]["document"]
    assert "sk-secret" not in document
    assert "jwt-secret" not in document
    assert delta == ("event", "chat:message:delta", {"content": f"\n\n```json\n{document}\n```"})


# -- input call: text, empty, cancelled ----------------------------------------------------

INPUT = (
    "call",
    "input",
    {
        "title": "Add a note",
        "message": "The note is added under this message for everyone in the chat.",
        "placeholder": "Write a note…",
        "value": "",
    },
)


async def test_add_note_handles_text_empty_and_cancelled_input(client: AirlockClient) -> None:
    await register(client, "add_note")

    typed = await run(
        client,
        "add_note",
        body=body("x"),
        user=USER,
        user_valves={"marker": "⚓"},
        on_call=answer("  Check the sources  "),
    )
    assert typed.transcript == [
        INPUT,
        ("event", "chat:message:delta", {"content": "\n\n> ⚓ Ada: Check the sources"}),
        ("event", "notification", {"type": "success", "content": "Note added."}),
    ]
    assert typed.result.value == {"saved": True, "note": "Check the sources"}

    empty = await run(client, "add_note", body=body("x"), user=USER, on_call=answer(""))
    assert empty.transcript == [
        INPUT,
        ("event", "notification", {"type": "warning", "content": "The note was empty, so nothing was added."}),
    ]
    assert empty.result.value == {"saved": False, "reason": "empty"}

    cancelled = await run(client, "add_note", body=body("x"), user=USER, on_call=answer(False))
    assert cancelled.transcript == [INPUT, ("event", "notification", {"type": "info", "content": "Note cancelled."})]
    assert cancelled.result.value == {"saved": False, "reason": "cancelled"}


# -- a plugin exception is a FUNCTION_ERROR result ---------------------------------------------


async def test_json_validator_pretty_prints_valid_json(client: AirlockClient) -> None:
    await register(client, "json_validator")
    result = await run(client, "json_validator", body=body('Here you go:\n```json\n{"b": [1, 2], "a": null}\n```'))
    pretty = '```json\n{\n  "b": [\n    1,\n    2\n  ],\n  "a": null\n}\n```'
    assert result.transcript == [
        ("event", "chat:message", {"content": pretty}),
        ("event", "status", {"description": "Valid JSON: object with 2 keys", "done": True}),
    ]
    assert result.result.value == {"valid": True, "type": "object", "keys": ["a", "b"]}


async def test_json_validator_raises_a_clear_error_on_invalid_json(client: AirlockClient) -> None:
    await register(client, "json_validator")
    result = await run(client, "json_validator", body=body('{"a": 1,, }'))
    # Events sent before the exception still reach the host, in order.
    assert result.transcript == [
        ("event", "notification", {"type": "error", "content": "Invalid JSON at line 1, column 9"}),
    ]
    assert result.result.outcome is Outcome.FUNCTION_ERROR
    assert result.result.error_type == "ValueError"
    message = "The message is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 9)"
    assert result.result.error == message
    assert result.result.traceback.startswith('  File "<function json_validator>", line ')
    assert result.result.traceback.endswith(f"ValueError: {message}\n")


# -- a plain synchronous action ----------------------------------------------------------


async def test_reading_time_runs_a_synchronous_action_without_events(client: AirlockClient) -> None:
    await register(client, "reading_time")
    result = await run(client, "reading_time", body=body(" ".join(["word"] * 300)))
    assert result.steps == []
    assert result.result.outcome is Outcome.OK
    assert result.result.value == {"words": 300, "seconds": 79, "minutes": 2, "label": "About 2 min read"}
    assert result.result.output == ""
