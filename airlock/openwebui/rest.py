"""The part of Open WebUI's REST API that manages functions (``/api/v1/functions``).

Checked against Open WebUI 0.12.4. Its quirks, handled here so that callers need not
know them: a function that does not exist is answered 401 like a bad key; toggles flip
rather than set; every frontmatter key is taken from the source, whatever ``meta.manifest``
says; errors come as ``{"detail": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

#: Function calls load the source in Open WebUI's process (and may pip-install): not instant.
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class OpenWebUIError(Exception):
    """Open WebUI refused a request or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class OpenWebUIFunction:
    """A function as Open WebUI lists it (``content`` only when fetched one by one)."""

    id: str
    name: str
    type: str
    is_active: bool
    is_global: bool
    description: str = ""
    content: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpenWebUIFunction:
        """From a FunctionModel/FunctionResponse object."""
        meta = data.get("meta") or {}
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            type=str(data.get("type") or ""),
            is_active=bool(data.get("is_active")),
            is_global=bool(data.get("is_global")),
            description=str(meta.get("description") or ""),
            content=data.get("content"),
        )


class OpenWebUI:
    """An admin's session with one Open WebUI server (``async with``)."""

    def __init__(self, url: str, api_key: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=_TIMEOUT,
            transport=transport,
        )

    async def __aenter__(self) -> OpenWebUI:
        """Open the session."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(method, f"/api/v1/functions{path}", json=body)
        except httpx.HTTPError as exc:
            raise OpenWebUIError(f"cannot reach Open WebUI at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise OpenWebUIError(f"Open WebUI answered {response.status_code} to {method} {path}: {detail}")
        try:
            return response.json()
        except ValueError:
            raise OpenWebUIError(f"Open WebUI answered {method} {path} with something not JSON") from None

    async def functions(self) -> dict[str, OpenWebUIFunction]:
        """Every function, by id (without sources)."""
        listed = await self._call("GET", "/list")
        if not isinstance(listed, list):
            raise OpenWebUIError("Open WebUI's function list is not a list (is the key an admin's?)")
        return {f.id: f for f in map(OpenWebUIFunction.from_json, listed)}

    async def function(self, function_id: str) -> OpenWebUIFunction:
        """One function with its source."""
        return OpenWebUIFunction.from_json(await self._call("GET", f"/id/{function_id}"))

    async def valves(self, function_id: str) -> dict[str, Any]:
        """The admin valves stored for a function (``{}`` when none were set)."""
        stored = await self._call("GET", f"/id/{function_id}/valves")
        return stored if isinstance(stored, dict) else {}

    async def update_valves(self, function_id: str, valves: dict[str, Any]) -> None:
        """Store a function's admin valves (as its Valves form would)."""
        await self._call("POST", f"/id/{function_id}/valves/update", valves)

    async def create(self, function_id: str, name: str, content: str, description: str) -> OpenWebUIFunction:
        """Create a function (Open WebUI creates it inactive and not global)."""
        form = {"id": function_id, "name": name, "content": content, "meta": {"description": description}}
        return OpenWebUIFunction.from_json(await self._call("POST", "/create", form))

    async def update(self, function_id: str, name: str, content: str, description: str) -> OpenWebUIFunction:
        """Replace a function's source; its valves, active and global switches are kept."""
        form = {"id": function_id, "name": name, "content": content, "meta": {"description": description}}
        return OpenWebUIFunction.from_json(await self._call("POST", f"/id/{function_id}/update", form))

    async def set_switches(self, current: OpenWebUIFunction, *, active: bool, is_global: bool) -> OpenWebUIFunction:
        """Make a function active/global as asked (Open WebUI only flips them)."""
        if current.is_active != active:
            current = OpenWebUIFunction.from_json(await self._call("POST", f"/id/{current.id}/toggle"))
        if current.is_global != is_global:
            current = OpenWebUIFunction.from_json(await self._call("POST", f"/id/{current.id}/toggle/global"))
        return current
