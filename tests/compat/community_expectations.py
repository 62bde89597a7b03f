"""What each community-style plugin of tests/compat/plugins/ added for issue 13 should do.

Issue 13 runs plugins on a *runtime* (Open WebUI 0.12.4's pinned package set by default)
and installs declared requirements from a package index. These plugins exercise both: five
import packages Open WebUI ships without declaring them (as real community actions do),
one is Open WebUI's own "Example Action", and three declare requirements: one the test
index serves (tests/pkgindex.py ``demo_index``), one published only as an sdist, one a
template's placeholder. Nothing here starts a gateway; a test wires an entry in:

    expected = EXPECTATIONS["world_clock"]
    source = (PLUGINS / "world_clock.py").read_text()
    if not expected.registers:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.put_function("world_clock", source)
        assert all(part in (raised.value.details() or "") for part in expected.error_contains)
    else:
        await client.put_function("world_clock", source)
        drained = await drain(client, "world_clock", body=expected.body, user=USER,
                              on_call=lambda call: expected.call_answer)
        assert drained.result.outcome is expected.outcome
        assert expected.matches(drained.result.value)
        if expected.events is not None:
            assert drained.event_pairs() == list(expected.events)

The values were computed by running each action against the packages of Open WebUI
0.12.4's pins (requests 2.34.2, pytz 2026.2, pandas 3.0.3, Markdown 3.10.2,
python-docx 1.2.0) outside a sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airlock.client import Outcome

MESSAGES: list[dict[str, Any]] = [
    {"role": "user", "content": "plan a trip to lisbon"},
    {"role": "assistant", "content": "Day one: Alfama."},
]
#: The body of tests/compat/test_community_actions.py.
BODY: dict[str, Any] = {"model": "llama3", "messages": MESSAGES, "chat_id": "c-1", "session_id": "s", "id": "m-2"}
#: 2024-07-01T12:00:00Z: summer time in Lisbon (WEST, UTC+1).
SENT_AT = 1719835200
MARKDOWN = "**Day one**: Alfama.\n\n| day | place |\n|---|---|\n| 1 | Alfama |\n\n```\nmap()\n```"


def _with_last(**fields: Any) -> dict[str, Any]:
    """BODY with ``fields`` set on its last message."""
    return {**BODY, "messages": [*MESSAGES[:-1], {**MESSAGES[-1], **fields}]}


@dataclass(frozen=True)
class Expectation:
    """What registering and invoking one plugin should give."""

    #: One line: the outcome and why.
    summary: str
    #: False: put_function is refused (the requirements cannot be installed).
    registers: bool = True
    #: The invocation's outcome (when it registers).
    outcome: Outcome = Outcome.OK
    body: dict[str, Any] = field(default_factory=lambda: BODY)
    #: Exactly the result's value (compared when ``exact``), or keys it must have with these values.
    value: Any = None
    exact: bool = True
    #: Exactly the events, as ``Drained.event_pairs()`` gives them (None: not checked).
    events: tuple[tuple[str, dict[str, Any]], ...] | None = None
    #: What the host answers to every ``__event_call__``.
    call_answer: Any = None
    #: Parts of the refusal's details (``registers=False``).
    error_contains: tuple[str, ...] = ()
    #: The requirement index must be tests/pkgindex.py's demo index.
    needs_index: bool = False
    #: The record's ``requirements`` and ``requirements_installed`` (when it declares some).
    requirements: tuple[str, ...] = ()
    installed: tuple[str, ...] = ()

    def matches(self, value: Any) -> bool:
        if self.exact:
            return bool(value == self.value)
        return isinstance(value, dict) and all(value.get(k) == v for k, v in self.value.items())


_SEARCH_URL = "https://duckduckgo.com/?q=Day+one%3A+Alfama."
_TABLE = (
    "| role | words | content |\n|---|---|---|\n"
    "| user | 5 | plan a trip to lisbon |\n| assistant | 3 | Day one: Alfama. |"
)
_RENDERED = (
    "<p><strong>Day one</strong>: Alfama.</p>\n<table>\n<thead>\n<tr>\n<th>day</th>\n<th>place</th>\n</tr>\n"
    "</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>Alfama</td>\n</tr>\n</tbody>\n</table>\n<pre><code>map()\n</code></pre>"
)
_EXAMPLE_ANSWER = "Also visit Belém."

EXPECTATIONS: dict[str, Expectation] = {
    "search_link": Expectation(
        "OK: requests (undeclared, in the runtime) prepares the search URL; no network",
        value={"url": _SEARCH_URL, "method": "GET"},
        events=(("status", {"description": f"Search: {_SEARCH_URL}", "done": True}),),
    ),
    "world_clock": Expectation(
        "OK: pytz (undeclared, in the runtime) converts the last message's time to Europe/Lisbon",
        body=_with_last(timestamp=SENT_AT),
        value={"zone": "Europe/Lisbon", "local": "2024-07-01 13:00:00 WEST+0100", "abbreviation": "WEST"},
        events=(("status", {"description": "Sent at 2024-07-01 13:00:00 WEST+0100", "done": True}),),
    ),
    "chat_table": Expectation(
        "OK: pandas (undeclared, in the runtime; about 60 MiB once imported) tabulates the chat",
        value={
            "rows": 2,
            "words": 8,
            "csv": "role,words,content\nuser,5,plan a trip to lisbon\nassistant,3,Day one: Alfama.\n",
            "markdown": _TABLE,
        },
        events=(("message", {"content": "\n\n" + _TABLE}),),
    ),
    "render_markdown": Expectation(
        "OK: markdown (undeclared, in the runtime) renders bold, a table and fenced code",
        body=_with_last(content=MARKDOWN),
        value={"html": _RENDERED, "version": "3.10.2"},
        events=(),
    ),
    "word_export": Expectation(
        "OK: python-docx (undeclared, in the runtime) writes a .docx to the sandbox's /tmp and reads it back",
        # path is /tmp/chat-c-1.docx when the sandbox sets no TMPDIR; base64_chars was 48904
        # with python-docx 1.2.0 (its size depends on the package's template, not on time).
        value={
            "paragraphs": 3,
            "texts": ["Conversation", "user: plan a trip to lisbon", "assistant: Day one: Alfama."],
            "zip": "PK",
        },
        exact=False,
    ),
    "example_action": Expectation(
        "OK: Open WebUI's Example Action (re-created): input call, statuses around a message, None;"
        " imports requests undeclared; sleeps 1 s",
        call_answer=_EXAMPLE_ANSWER,
        value=None,
        events=(
            ("status", {"description": "adding message", "done": False}),
            ("message", {"content": _EXAMPLE_ANSWER}),
            ("status", {"description": "added message", "done": True}),
        ),
    ),
    "index_requirement": Expectation(
        "OK: airlock-demo-index 1.0 and its dependency airlock-index-leaf 0.2 installed from the test index",
        needs_index=True,
        requirements=("airlock-demo-index",),
        installed=("airlock-demo-index==1.0", "airlock-index-leaf==0.2"),
        # "file" lies in the function's read-only requirement set (/airlock/site/... today).
        value={"origin": "package index", "leaf": "leaf"},
        exact=False,
    ),
    "sdist_requirement": Expectation(
        "refused at registration: airlock-sdist-only exists on the index only as an sdist (wheels only)",
        registers=False,
        needs_index=True,
        error_contains=("airlock-sdist-only",),
    ),
    "template_requirements": Expectation(
        "refused at registration: the template's placeholder is not a requirement"
        " (upstream: pip fails on '[List of dependencies')",
        registers=False,
        error_contains=("invalid requirement '[List of dependencies'",),
    ),
}
