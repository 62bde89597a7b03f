"""Which action buttons a model shows, in Open WebUI's order (utils/models.py, 0.12.4).

A model's own actions plus every global one, active actions only, sorted by
``(priority, function id)``; a function with an ``actions`` class attribute yields one
button per entry (none for an empty list), any other one button.
"""

from __future__ import annotations

from collections.abc import Iterable

from airlock.domain.functions import ActionButton, FunctionRecord


def action_buttons(functions: Iterable[FunctionRecord], model_id: str) -> list[ActionButton]:
    """The buttons of ``model_id`` in display order."""
    chosen = [f for f in functions if f.kind == "action" and f.is_active and (f.is_global or model_id in f.model_ids)]
    chosen.sort(key=lambda f: (f.priority, f.id))
    buttons: list[ActionButton] = []
    for function in chosen:
        if function.declares_actions:
            buttons.extend(
                ActionButton(f"{function.id}.{sub.id}", sub.name, function.description, sub.icon_url, function.priority)
                for sub in function.actions
            )
        else:
            buttons.append(
                ActionButton(function.id, function.name, function.description, function.icon_url, function.priority)
            )
    return buttons
