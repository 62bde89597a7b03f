"""ListActions ordering as a pure function."""

from __future__ import annotations

from airlock.domain.functions import FunctionRecord, SubAction
from gateway.registry.ordering import action_buttons


def fn(fid: str, **kw: object) -> FunctionRecord:
    base: dict[str, object] = {"source": "", "sha256": "", "name": fid.title(), "kind": "action", "profile": "default"}
    return FunctionRecord(id=fid, **{**base, **kw})  # type: ignore[arg-type]


def test_priority_then_id_with_ties() -> None:
    functions = [
        fn("b", is_global=True),
        fn("a", is_global=True),
        fn("c", priority=-1, model_ids=("m",)),
        fn("d", priority=1, is_global=True),
    ]
    assert [b.id for b in action_buttons(functions, "m")] == ["c", "a", "b", "d"]
    assert [b.id for b in action_buttons(functions, "other")] == ["a", "b", "d"]


def test_inactive_and_other_kinds_are_left_out() -> None:
    functions = [
        fn("a", is_global=True, is_active=False),
        fn("f", kind="filter", is_global=True),
        fn("ok", is_global=True),
    ]
    assert [b.id for b in action_buttons(functions, "m")] == ["ok"]


def test_sub_actions_expand_in_declared_order() -> None:
    subs = (SubAction("z", "Zed", None), SubAction("a", "Ay", "icon"))
    buttons = action_buttons([fn("multi", actions=subs, declares_actions=True, is_global=True, description="d")], "m")
    assert [(b.id, b.name, b.icon_url, b.description) for b in buttons] == [
        ("multi.z", "Zed", None, "d"),
        ("multi.a", "Ay", "icon", "d"),
    ]


def test_an_empty_actions_attribute_shows_no_button() -> None:
    functions = [fn("none", declares_actions=True, is_global=True), fn("plain", is_global=True)]
    assert [b.id for b in action_buttons(functions, "m")] == ["plain"]
