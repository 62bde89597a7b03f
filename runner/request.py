"""The ``__request__`` object handed to actions (runs in the sandbox).

Open WebUI passes its FastAPI ``Request``. The gateway's request cannot cross into a
sandbox, so the host describes it in ``request_json`` and plugins get a read-only object
with the attributes plugins use: ``method``, ``url``, ``headers``, ``query_params``,
``cookies``, ``client``. Anything else (``app``, ``state`` of the host's server) does not
exist here, and says so instead of returning something misleading.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlsplit


class Address(NamedTuple):
    """The client address, like starlette's ``request.client``."""

    host: str
    port: int


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._items = {str(k).lower(): str(v) for k, v in raw.items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class URL(str):
    """A URL string with starlette-like parts (``path``, ``query``, ``hostname``...)."""

    __slots__ = ()

    @property
    def _parts(self) -> SplitResult:
        return urlsplit(self)

    @property
    def scheme(self) -> str:
        """The URL scheme."""
        return self._parts.scheme

    @property
    def hostname(self) -> str | None:
        """The host name, if any."""
        return self._parts.hostname

    @property
    def port(self) -> int | None:
        """The explicit port, if any."""
        return self._parts.port

    @property
    def path(self) -> str:
        """The path."""
        return self._parts.path

    @property
    def query(self) -> str:
        """The raw query string."""
        return self._parts.query


class Request:
    """What the host told Airlock about the HTTP request that triggered the action."""

    def __init__(self, description: Mapping[str, Any]) -> None:
        self.method = str(description.get("method") or "POST").upper()
        self.url = URL(str(description.get("url") or ""))
        self.headers = Headers(_mapping(description, "headers"))
        query = description.get("query_params")
        self.query_params: dict[str, str] = (
            {str(k): str(v) for k, v in query.items()}
            if isinstance(query, Mapping)
            else dict(parse_qsl(self.url.query))
        )
        self.cookies: dict[str, str] = {str(k): str(v) for k, v in _mapping(description, "cookies").items()}
        client = description.get("client")
        self.client = _address(client)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"__request__.{name} is not available in Airlock: the host's server objects do not "
            "exist inside the sandbox (available: method, url, headers, query_params, cookies, client)"
        )

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url!s}>"


def _mapping(description: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = description.get(key)
    return value if isinstance(value, Mapping) else {}


def _address(client: Any) -> Address | None:
    if isinstance(client, Mapping) and "host" in client:
        return Address(str(client["host"]), int(client.get("port") or 0))
    if isinstance(client, list | tuple) and len(client) == 2:
        return Address(str(client[0]), int(client[1]))
    return None
