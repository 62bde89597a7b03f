"""The ``__request__`` handed to actions: a real ``starlette.requests.Request`` (runs in the sandbox).

Open WebUI passes its FastAPI ``Request``. The gateway's request cannot cross into a
sandbox, so the host describes it in ``request_json`` and the plugin gets a starlette
``Request`` over an ASGI scope built from that description: ``method``, ``url`` (with
``path``, ``query``, ``hostname``...), ``headers``, ``query_params``, ``cookies``,
``client`` and ``state`` work as upstream. The server's application does not exist here:
``request.app`` is an object whose every attribute raises an error that says so, rather
than a ``KeyError`` from deep inside starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import SplitResult, urlencode, urlsplit

if TYPE_CHECKING:
    from starlette.requests import Request

_DEFAULT_PORTS = {"http": 80, "https": 443}


class MissingApp:
    """``request.app``: Open WebUI's server application, which a sandbox does not have."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AttributeError(
            f"__request__.app.{name} is not available in Airlock: the host's server application "
            "does not exist inside the sandbox (see Airlock's docs/COMPATIBILITY.md)"
        )

    def __repr__(self) -> str:
        return "<Open WebUI app: not available in Airlock's sandbox>"


def _mapping(description: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = description.get(key)
    return value if isinstance(value, Mapping) else {}


def _client(value: Any) -> tuple[str, int] | None:
    if isinstance(value, Mapping) and "host" in value:
        return str(value["host"]), int(value.get("port") or 0)
    if isinstance(value, list | tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    return None


def _headers(description: Mapping[str, Any], url: SplitResult) -> list[tuple[bytes, bytes]]:
    headers = {str(k).lower(): str(v) for k, v in _mapping(description, "headers").items()}
    cookies = _mapping(description, "cookies")
    if cookies and "cookie" not in headers:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if url.netloc and "host" not in headers:
        headers["host"] = url.netloc
    # latin-1 is what ASGI headers are; a character outside it is replaced, not fatal.
    return [(k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in headers.items()]


async def _no_body() -> dict[str, Any]:
    # The host's request body is not forwarded (the action gets it parsed, as ``body``).
    return {"type": "http.request", "body": b"", "more_body": False}


def build(description: Mapping[str, Any]) -> Request:
    """A starlette Request for the HTTP request the host says triggered the action."""
    # Imported here: only actions that take __request__ pay for starlette (warm workers
    # have it preloaded by the zygote).
    from starlette.requests import Request  # noqa: PLC0415

    url = urlsplit(str(description.get("url") or ""))
    query = description.get("query_params")
    query_string = urlencode(dict(query)) if isinstance(query, Mapping) else url.query
    scheme = url.scheme or "http"
    server = (url.hostname, url.port or _DEFAULT_PORTS.get(scheme, 80)) if url.hostname else None
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": str(description.get("method") or "POST").upper(),
        "scheme": scheme,
        "path": url.path or "/",
        "raw_path": (url.path or "/").encode("latin-1", "replace"),
        "root_path": "",
        "query_string": query_string.encode("latin-1", "replace"),
        "headers": _headers(description, url),
        "client": _client(description.get("client")),
        "server": server,
        "app": MissingApp(),
        "state": {},
    }
    return Request(scope, receive=_no_body)
