"""Rich UI embeds from an action's return value, as Open WebUI makes them (runs in the sandbox).

Upstream (``utils/actions.py`` → ``utils/middleware.py::process_tool_result``, 0.12.4) looks
at what an action returned:

* an ``HTMLResponse`` (optionally as ``(response, context)``) whose ``Content-Disposition``
  contains ``inline``: its body becomes an embed;
* a ``(content, headers)`` tuple whose headers say ``inline``: the content becomes an embed
  when the content type is ``text/html`` (``(html, context)`` nested allowed), else the
  ``Location`` header does.

When there is an embed, upstream emits ``{"type": "embeds", "data": {"embeds": [...]}}`` and
the action's value becomes the context given, or a status dict chosen by the response's
status code. Otherwise the value is left as it was. A starlette ``Response`` that is left
(no inline embed) cannot cross the process boundary as an object; its body is returned
instead: parsed for JSON media types, else as text. That is what upstream's HTTP client
receives when such a response is sent as the HTTP reply.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from starlette.responses import HTMLResponse


def _status(function_id: str, status_code: int) -> dict[str, str]:
    if 200 <= status_code < 300:
        return {
            "status": "success",
            "code": "ui_component",
            "message": f"{function_id}: Embedded UI result is active and visible to the user.",
        }
    if 400 <= status_code < 500:
        message = f"{function_id}: Client error {status_code} from embedded UI result."
    elif 500 <= status_code < 600:
        message = f"{function_id}: Server error {status_code} from embedded UI result."
    else:
        message = f"{function_id}: Unexpected status code {status_code} from embedded UI result."
    return {"status": "error", "code": "ui_component", "message": message}


def _context(value: Any) -> bool:
    return isinstance(value, str | dict | list)


def _header(headers: Mapping[Any, Any], name: str) -> str:
    return str(headers.get(name, headers.get(name.lower(), "")))


def _from_response(response: HTMLResponse, context: Any, function_id: str) -> tuple[Any, list[str]]:
    if "inline" not in response.headers.get("Content-Disposition", ""):
        return response, []
    embed = bytes(response.body).decode("utf-8", "replace")
    if 200 <= response.status_code < 300 and context is not None and _context(context):
        return context, [embed]
    return _status(function_id, response.status_code), [embed]


def _from_tuple(content: Any, headers: Any, function_id: str) -> tuple[Any, list[str]]:
    try:
        headers = headers if isinstance(headers, dict) else dict(headers)
    except (TypeError, ValueError):
        headers = {}
    success = _status(function_id, 200)
    if not headers or "inline" not in _header(headers, "Content-Disposition"):
        return content, []
    context = None
    if "text/html" in _header(headers, "Content-Type"):
        html = content
        if isinstance(content, tuple | list) and len(content) == 2:
            html, context = content
        return (context if context is not None and _context(context) else success), [html]
    location = _header(headers, "Location")
    if location:
        if isinstance(content, tuple | list) and len(content) == 2:
            context = content[1]
        return (context if context is not None and _context(context) else success), [location]
    return content, []


def _html_response() -> type[HTMLResponse] | None:
    # Only a plugin that imported starlette (or fastapi) can return a response; the others
    # do not pay for importing it (a fresh interpreter per invocation would).
    if "starlette.responses" not in sys.modules:
        return None
    from starlette.responses import HTMLResponse  # noqa: PLC0415

    return HTMLResponse


def process(value: Any, function_id: str) -> tuple[Any, list[Any]]:
    """The value to return and the embeds to emit first (none: the value is unchanged)."""
    response = _html_response()
    if response and isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], response):
        processed, embeds = _from_response(value[0], value[1], function_id)
    elif response and isinstance(value, response):
        processed, embeds = _from_response(value, None, function_id)
    elif isinstance(value, tuple):
        # Upstream unpacks any tuple an action returns into (content, headers): another
        # length fails there too, with Python's own unpacking error.
        content, headers = value
        processed, embeds = _from_tuple(content, headers, function_id)
    else:
        return value, []
    return (processed, embeds) if embeds else (value, [])


def plain(value: Any) -> Any:
    """A value without starlette responses: a response becomes its body (JSON or text)."""
    if "starlette.responses" not in sys.modules:
        return value
    from starlette.responses import Response  # noqa: PLC0415

    if isinstance(value, Response):
        body = bytes(value.body)
        if "json" in (value.media_type or ""):
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        return body.decode("utf-8", "replace")
    return value
