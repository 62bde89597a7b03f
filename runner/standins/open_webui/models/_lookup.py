"""Lookups asked of the host, and the base of the stand-in repositories (runs in the sandbox)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

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
    return _record(method, model, value)


def _record(method: str, model: type[ModelT], value: Any) -> ModelT:
    """``value`` as ``model``; a host answer that is not such a record is the host's error, not the plugin's."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
            for error in exc.errors(include_url=False)[:5]
        )
        raise host.HostError(f"{method}: the host's answer is not a valid {model.__name__} ({problems})") from None


async def listed(method: str, what: str, model: type[ModelT], args: dict[str, Any]) -> list[ModelT]:
    """The host's answer to ``method``, a list of records, each built as ``model``."""
    value = await host.request(method, args, what)
    if not isinstance(value, list):
        raise TypeError(f"{what}: the host answered {type(value).__name__}, not a list of records")
    return [_record(method, model, item) for item in value]


def ids_of(what: str, ids: Any) -> list[str]:
    """A list of record ids as upstream takes them (any iterable of strings), for the host."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise TypeError(f"{what}: ids must be a list of str, got {type(ids).__name__}")
    listed_ids = list(ids)
    for item in listed_ids:
        if not isinstance(item, str):
            raise TypeError(f"{what}: ids must be a list of str, found a {type(item).__name__}")
    return listed_ids


class Table:
    """Base of the stand-in repositories (``Users``, ``Models``, ...): a missing method says why.

    Upstream's repositories also insert, update and delete. Here a plugin only reads, through
    its host: the server's database is what the sandbox withholds. Asking for any method
    this stand-in lacks (a write above all) fails where it is named, before any call,
    with a message listing what exists instead of a bare ``AttributeError``.
    """

    #: The name plugins know the singleton by (``Models``).
    _name: ClassVar[str]

    def __getattr__(self, attribute: str) -> NoReturn:
        # Only called for attributes the class lacks; dunder probes (copy, pickle) stay plain.
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        provided = ", ".join(sorted(a for a in dir(type(self)) if not a.startswith("_")))
        raise AttributeError(
            f"{self._name}.{attribute} is not available in Airlock's sandbox: {self._name} here has only "
            f"{provided}, answered by the host; the server's database is out of reach, and its records "
            f"are never written from a sandbox (see Airlock's docs/COMPATIBILITY.md)",
            name=attribute,
            obj=self,
        )
