"""One lookup by id, asked of the host (runs in the sandbox)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from runner import host

ModelT = TypeVar("ModelT", bound=BaseModel)


async def by_id(method: str, what: str, model: type[ModelT], id: Any) -> ModelT | None:
    """``model`` built from the host's answer to ``method``, or None when it has no such record.

    Like upstream, the record's id must be a string; the host's JSON is validated by the
    same model upstream returns, so a plugin sees the same attributes and types.
    """
    if not isinstance(id, str):
        raise TypeError(f"{what}: id must be a str, got {type(id).__name__}")
    value = await host.request(method, {"id": id}, what)
    if value is None:
        return None
    return model.model_validate(value)
