"""What a function is, as the registry needs to know it (runs in the sandbox).

The gateway never executes plugin sources itself: a worker loads the source and reports
its kind, frontmatter, valves schemas and defaults, sub-actions, priority and icon, as
``open_webui/utils/models.py`` (0.12.4) derives them.
"""

from __future__ import annotations

from typing import Any

from runner.loader import LoadedFunction


class InvalidValves(Exception):
    """The given valves do not validate against the function's Valves model."""


def _schema(loaded: LoadedFunction, name: str) -> dict[str, Any] | None:
    model = getattr(loaded.instance, name, None)
    schema = getattr(model, "model_json_schema", None)
    return schema() if callable(schema) else None


def _dump(valves: Any) -> dict[str, Any]:
    result = valves.model_dump(mode="json")
    if not isinstance(result, dict):
        raise InvalidValves("Valves.model_dump() did not return an object")
    return result


def validate_valves(loaded: LoadedFunction, valves: dict[str, Any]) -> dict[str, Any]:
    """Normalise admin valves through the Valves model, or raise InvalidValves."""
    model = getattr(loaded.instance, "Valves", None)
    if model is None:
        raise InvalidValves("this function has no Valves class, so it takes no valves")
    try:
        return _dump(model(**valves))
    except Exception as exc:  # noqa: BLE001 - pydantic's message is the useful answer
        raise InvalidValves(_without_values(exc)) from None


def _without_values(exc: Exception) -> str:
    """Pydantic's error list without the offending inputs.

    Valves hold secrets (API keys) and this message is logged and returned, so it names
    fields and rules, never values.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"{type(exc).__name__}: {exc}"
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'valves'}: {e['msg']}"
        for e in errors(include_url=False, include_input=False)
    ]
    return "; ".join(problems)


def _priority(loaded: LoadedFunction, stored: dict[str, Any] | None) -> int:
    # Upstream: Valves(**stored) then getattr(valves, "priority", 0); any failure counts as 0.
    model = getattr(loaded.instance, "Valves", None)
    if model is None:
        return 0
    try:
        priority = getattr(model(**(stored or {})), "priority", 0)
    except Exception:  # noqa: BLE001 - a broken valve counts as 0, as upstream
        return 0
    if isinstance(priority, bool) or not isinstance(priority, int):
        return 0
    return priority


def _icon(loaded: LoadedFunction) -> str | None:
    icon = loaded.frontmatter.get("icon_url") or getattr(loaded.instance, "icon_url", None)
    icon = icon or getattr(loaded.instance, "icon", None)
    return icon if isinstance(icon, str) else None


def _sub_actions(loaded: LoadedFunction, name: str, icon: str | None) -> list[dict[str, Any]]:
    if not hasattr(loaded.instance, "actions"):
        return []
    actions = loaded.instance.actions
    if not isinstance(actions, list | tuple):
        raise TypeError(f"'actions' must be a list of dicts, got {type(actions).__name__}")
    result = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            raise TypeError(f"actions[{index}] must be a dict, got {type(action).__name__}")
        sub_id = action.get("id")
        if not isinstance(sub_id, str) or not sub_id or "." in sub_id:
            raise ValueError(f"actions[{index}]['id'] must be a non-empty string without '.', got {sub_id!r}")
        sub_name = action.get("name", f"{name} ({sub_id})")
        sub_icon = action.get("icon_url", icon)
        result.append(
            {
                "id": sub_id,
                "name": str(sub_name),
                "icon_url": sub_icon if isinstance(sub_icon, str) else None,
            }
        )
    ids = [a["id"] for a in result]
    if len(set(ids)) != len(ids):
        raise ValueError(f"'actions' has duplicate ids: {ids}")
    return result


def describe(loaded: LoadedFunction, stored_valves: dict[str, Any] | None) -> dict[str, Any]:
    """Everything the registry stores about a loaded function.

    ``stored_valves`` are the admin valves to keep; they are validated and normalised
    (``valves`` in the answer), and ``priority`` is computed from them.
    """
    frontmatter = loaded.frontmatter
    name = frontmatter.get("title") or loaded.function_id
    valves = validate_valves(loaded, stored_valves) if stored_valves is not None else None
    default_valves = None
    if getattr(loaded.instance, "Valves", None) is not None:
        try:
            default_valves = _dump(loaded.instance.Valves())
        except Exception:  # noqa: BLE001 - a Valves with required fields has no defaults
            default_valves = None
    icon = _icon(loaded)
    return {
        "kind": loaded.kind,
        "name": name,
        "description": frontmatter.get("description", ""),
        "frontmatter": frontmatter,
        "icon_url": icon,
        "valves_schema": _schema(loaded, "Valves"),
        "user_valves_schema": _schema(loaded, "UserValves"),
        "default_valves": default_valves,
        "valves": valves,
        "priority": _priority(loaded, valves),
        "actions": _sub_actions(loaded, name, icon),
        # Upstream lists sub-actions whenever the attribute exists: `actions = []` means no button.
        "declares_actions": hasattr(loaded.instance, "actions"),
    }
