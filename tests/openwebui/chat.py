"""Clicking an action button the way Open WebUI's browser client does.

A ``Browser`` is one tab of one signed-in user: a Socket.IO connection to ``/ws/socket.io``
(websocket transport, the token in ``auth``, then ``user-join`` with it, which puts the
socket in the user's room) and an HTTP client with the user's token. ``click`` posts to
``/api/chat/actions/{action_id}`` and returns the HTTP answer with every ``events`` message
that reached the tab meanwhile, in order.

What a click needs, found by reading 0.12.4 and checked by tests/openwebui/test_upstream.py:

* ``model`` must be the id of a model the server knows (``request.app.state.MODELS``), or the
  click answers 400 ``{"detail": "Model not found"}``; with Ollama and OpenAI off, an active
  Pipe function is that model. A non-admin also needs the model registered and granted to
  them (``OpenWebUIApi.publish_model``) and the action shown on it (global, or assigned to
  the model), else 400 ``Action not available: <id>``. ``model_item`` only matters for
  direct connections; the browser sends the model as ``/api/models`` lists it.
* ``chat_id``: a saved chat of the user (``OpenWebUIApi.new_chat``; ``status`` and
  ``message`` events are then also written into its message ``id``), or a temporary one,
  ``temporary:<socket id>``, which nothing is saved to. Any other id fails the ownership
  check for a non-admin (404 ``Something went wrong :/``); an admin may use any id.
* ``session_id`` must be ``sio.get_sid("/")``: ``__event_call__`` looks the session up in the
  server's pool under the namespace's sid; with another value every call answers
  ``{"error": "Client session disconnected."}`` at once.

An ``__event_call__`` is a Socket.IO call to the tab: the value the ``events`` handler returns
is the answer. ``answer`` (sync or async) is called with every event and its return value
sent back; for plain emits Open WebUI does not ask for one and it is dropped.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.openwebui.api import JSON, OpenWebUIApi

#: Called with each event reaching the tab; the result answers an ``__event_call__``.
Answer = Callable[["Event"], Any | Awaitable[Any]]

#: Event types sent with ``__event_call__`` (the UI opens a dialog and waits for the user).
CALL_TYPES = frozenset({"confirmation", "input", "execute", "request:user_input", "request:elicitation"})


@dataclass(frozen=True)
class Event:
    """One ``events`` message as the tab received it."""

    type: str
    data: Any
    chat_id: str | None = None
    message_id: str | None = None
    raw: JSON = field(default_factory=dict, repr=False)
    """The whole message (``chat_id``, ``message_id``, ``data: {type, data}``)."""

    @classmethod
    def from_message(cls, message: JSON) -> Event:
        """Read the message Open WebUI sends on ``events``."""
        inner = message.get("data") or {}
        return cls(
            type=str(inner.get("type", "")),
            data=inner.get("data"),
            chat_id=message.get("chat_id"),
            message_id=message.get("message_id"),
            raw=message,
        )


@dataclass(frozen=True)
class Click:
    """What one click got back."""

    status: int
    body: Any
    """The decoded JSON answer: the action's return value on 200, ``{"detail": ...}`` on errors."""
    events: list[Event]
    """Every event of the clicked message, in the order the tab received them."""
    chat_id: str
    message_id: str

    def types(self) -> list[str]:
        """The events' types, in order (what most assertions need)."""
        return [event.type for event in self.events]


class Browser:
    """One signed-in tab: a Socket.IO connection and the user's REST client (``api``)."""

    def __init__(self, api: OpenWebUIApi, sio: socketio.AsyncClient) -> None:
        self.api = api
        self._sio = sio
        self._answer: Answer | None = None
        self._received: list[Event] = []
        sio.on("events", self._on_event)

    @property
    def session_id(self) -> str:
        """The namespace's sid: what ``session_id`` of a click must be."""
        sid = self._sio.get_sid("/")
        assert sid is not None, "the socket is not connected to the / namespace"
        return str(sid)

    @property
    def engineio_sid(self) -> str:
        """``sio.sid``, the connection's id: a wrong ``session_id`` a client might send instead."""
        return str(self._sio.sid)

    @property
    def temporary_chat_id(self) -> str:
        """The id of this tab's temporary chat (not saved; no ownership check)."""
        return f"temporary:{self.session_id}"

    async def click(
        self,
        action_id: str,
        *,
        model_id: str,
        chat_id: str | None = None,
        messages: list[JSON] | None = None,
        message_id: str | None = None,
        answer: Answer | None = None,
        session_id: str | None = None,
    ) -> Click:
        """Click ``action_id`` (``fn`` or ``fn.sub``) under a message answered by ``model_id``.

        Without ``chat_id`` a new saved chat is made for the click (``messages`` and
        ``message_id`` from it unless given); with one, ``messages`` default to none and
        ``message_id`` to a fresh id. ``session_id`` overrides this tab's (to show what a
        wrong one does).
        """
        if chat_id is None:
            chat_id, chat_messages = await self.api.new_chat(model_id)
            messages = chat_messages if messages is None else messages
            message_id = message_id or str(chat_messages[-1]["id"])
        message_id = message_id or str(uuid.uuid4())
        models = await self.api.models(refresh=False)
        form = {
            "model": model_id,
            "messages": messages or [],
            "model_item": models.get(model_id, {}),
            "chat_id": chat_id,
            "session_id": session_id or self.session_id,
            "id": message_id,
        }
        self._answer = answer
        self._received = []
        try:
            response = await self.api.http.post(f"/api/chat/actions/{action_id}", json=form)
            await self._barrier()
        finally:
            self._answer = None
        events = [event for event in self._received if event.message_id == message_id]
        return Click(
            status=response.status_code,
            body=response.json() if response.content else None,
            events=events,
            chat_id=chat_id,
            message_id=message_id,
        )

    async def _barrier(self) -> None:
        # The action's emits were queued on this socket before the HTTP answer was sent, but
        # they travel on another connection and may arrive after it. A call's reply is queued
        # behind them on the same socket: once it is back, every earlier event has arrived.
        await self._join()

    async def _join(self) -> None:
        reply = await self._sio.call("user-join", {"auth": {"token": self.api.token}}, timeout=30)
        if not reply:
            raise RuntimeError("user-join was refused: the token was not accepted")

    async def _on_event(self, message: JSON) -> Any:
        event = Event.from_message(message)
        # Appended before any await: handlers run as tasks, started in the arrival order.
        self._received.append(event)
        if self._answer is None:
            return None
        result = self._answer(event)
        if inspect.isawaitable(result):
            result = await result
        return result


@asynccontextmanager
async def browser(url: str, token: str) -> AsyncIterator[Browser]:
    """Open a tab of the user whose token is given, joined to the user's room."""
    sio = socketio.AsyncClient(reconnection=False)
    async with OpenWebUIApi(url, token, timeout=300.0) as api:
        tab = Browser(api, sio)
        await sio.connect(
            url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": token},
            wait_timeout=30,
        )
        try:
            await tab._join()
            yield tab
        finally:
            await sio.disconnect()
