"""A small async client of Open WebUI's REST API: functions, valves, models, users, chats.

Only what the tests need, named after what an admin does in the UI. Every call raises
``OpenWebUIHTTPError`` (with the status and body) on a non-2xx answer, except the lookups
documented to return ``None``. Open WebUI answers 401, not 404, for an unknown function id.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, Self

import httpx

JSON = dict[str, Any]


class OpenWebUIHTTPError(RuntimeError):
    """A non-2xx answer from Open WebUI."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path}: {status} {body!r}")
        self.status = status
        self.body = body


class OpenWebUIApi:
    """Calls to one Open WebUI server as one user (the bearer ``token``)."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self.token = token
        self.http = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def request(self, method: str, path: str, json: Any = None) -> Any:
        """The decoded JSON of a 2xx answer (``None`` for an empty body)."""
        response = await self.http.request(method, path, json=json)
        body = _decode(response)
        if not response.is_success:
            raise OpenWebUIHTTPError(method, path, response.status_code, body)
        return body

    # Functions ---------------------------------------------------------------------------

    async def create_function(self, function_id: str, source: str, *, name: str = "", description: str = "") -> JSON:
        """Create a function from its source (its type is read from the class it defines)."""
        form = _function_form(function_id, source, name, description)
        result: JSON = await self.request("POST", "/api/v1/functions/create", form)
        return result

    async def update_function(self, function_id: str, source: str, *, name: str = "", description: str = "") -> JSON:
        """Replace a function's source, name and description (its valves are kept)."""
        form = _function_form(function_id, source, name, description)
        result: JSON = await self.request("POST", f"/api/v1/functions/id/{function_id}/update", form)
        return result

    async def get_function(self, function_id: str) -> JSON | None:
        """The function, or ``None`` when there is none with that id."""
        try:
            result: JSON = await self.request("GET", f"/api/v1/functions/id/{function_id}")
        except OpenWebUIHTTPError as error:
            if error.status == 401:
                return None
            raise
        return result

    async def list_functions(self) -> list[JSON]:
        """Every function (admin view: with ``is_active``, ``is_global``, without the source)."""
        result: list[JSON] = await self.request("GET", "/api/v1/functions/list")
        return result

    async def delete_function(self, function_id: str) -> bool:
        """Delete a function; whether one was deleted."""
        return bool(await self.request("DELETE", f"/api/v1/functions/id/{function_id}/delete"))

    async def set_active(self, function_id: str, active: bool = True) -> JSON:
        """Make the function active (or not): Open WebUI only offers a toggle, so look first."""
        return await self._set_flag(function_id, "is_active", "toggle", active)

    async def set_global(self, function_id: str, is_global: bool = True) -> JSON:
        """Make the function global, shown on every model (or not)."""
        return await self._set_flag(function_id, "is_global", "toggle/global", is_global)

    async def _set_flag(self, function_id: str, flag: str, toggle: str, wanted: bool) -> JSON:
        function = await self.get_function(function_id)
        if function is None:
            raise OpenWebUIHTTPError("GET", f"/api/v1/functions/id/{function_id}", 401, "no such function")
        if bool(function[flag]) != wanted:
            function = await self.request("POST", f"/api/v1/functions/id/{function_id}/{toggle}")
        assert function is not None
        return function

    # Valves ------------------------------------------------------------------------------

    async def get_valves(self, function_id: str) -> JSON | None:
        """The admin valves stored (only those set; ``None`` before any)."""
        result: JSON | None = await self.request("GET", f"/api/v1/functions/id/{function_id}/valves")
        return result

    async def update_valves(self, function_id: str, values: JSON) -> JSON:
        """Set admin valves (validated by the function's ``Valves``); the values stored."""
        result: JSON = await self.request("POST", f"/api/v1/functions/id/{function_id}/valves/update", values)
        return result

    async def get_user_valves(self, function_id: str) -> JSON | None:
        """This user's valves for the function (only those set)."""
        result: JSON | None = await self.request("GET", f"/api/v1/functions/id/{function_id}/valves/user")
        return result

    async def update_user_valves(self, function_id: str, values: JSON) -> JSON:
        """Set this user's valves (the function must be active); the values stored."""
        path = f"/api/v1/functions/id/{function_id}/valves/user/update"
        result: JSON = await self.request("POST", path, values)
        return result

    # Models ------------------------------------------------------------------------------

    async def models(self, *, refresh: bool = True) -> dict[str, JSON]:
        """The models this user sees, by id; ``refresh`` rebuilds them (after function changes)."""
        body = await self.request("GET", "/api/models?refresh=true" if refresh else "/api/models")
        return {model["id"]: model for model in body["data"]}

    async def publish_model(self, model_id: str, name: str = "") -> JSON:
        """Register ``model_id`` (e.g. a Pipe function's) as a workspace model every user may read.

        Admins use any model; other users only registered ones they are granted, and clicking
        an action checks that too.
        """
        form = {
            "id": model_id,
            "name": name or model_id,
            "meta": {},
            "params": {},
            "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}],
        }
        result: JSON = await self.request("POST", "/api/v1/models/create", form)
        return result

    # Users and chats ---------------------------------------------------------------------

    async def add_user(self, name: str, email: str, password: str, *, role: str = "user") -> JSON:
        """Create a user as an admin does (no pending approval); the answer holds its ``token``."""
        form = {"name": name, "email": email, "password": password, "role": role}
        result: JSON = await self.request("POST", "/api/v1/auths/add", form)
        return result

    async def new_chat(self, model_id: str, prompt: str = "Hello", answer: str = "Hi") -> tuple[str, list[JSON]]:
        """A saved chat holding a user message and the model's answer, as the browser makes them.

        Returns the chat id and the messages (the last one, the answer, is what actions are
        clicked on: its ``id`` is the click's message id).
        """
        user_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
        user_message: JSON = {
            "id": user_id,
            "parentId": None,
            "childrenIds": [answer_id],
            "role": "user",
            "content": prompt,
            "models": [model_id],
        }
        assistant_message: JSON = {
            "id": answer_id,
            "parentId": user_id,
            "childrenIds": [],
            "role": "assistant",
            "content": answer,
            "model": model_id,
            "done": True,
        }
        chat = {
            "title": "airlock test chat",
            "models": [model_id],
            "messages": [user_message, assistant_message],
            "history": {"messages": {user_id: user_message, answer_id: assistant_message}, "currentId": answer_id},
        }
        body = await self.request("POST", "/api/v1/chats/new", {"chat": chat})
        return str(body["id"]), [user_message, assistant_message]

    async def get_chat(self, chat_id: str) -> JSON:
        """A chat as stored (``chat.history.messages`` holds what events saved)."""
        result: JSON = await self.request("GET", f"/api/v1/chats/{chat_id}")
        return result


def _function_form(function_id: str, source: str, name: str, description: str) -> JSON:
    return {"id": function_id, "name": name or function_id, "content": source, "meta": {"description": description}}


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
