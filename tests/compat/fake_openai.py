"""A small OpenAI-compatible chat completions server for tests (real HTTP on 127.0.0.1:0).

It answers ``POST /v1/chat/completions`` by echoing the last user message in upper case,
as one completion or as server-sent event chunks (one per word), and records each request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeOpenAI:
    """The running server: its base URL and what it was asked."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


def _answer(payload: dict[str, Any]) -> str:
    messages = payload.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
    return str(last.get("content", "")).upper()


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    """Serve until the block ends."""
    state = FakeOpenAI("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state.requests.append(payload)
            state.authorizations.append(self.headers.get("authorization"))
            if self.path != "/v1/chat/completions" or payload.get("model") == "missing":
                self._send(404, "application/json", b'{"error": {"message": "model not found"}}')
                return
            text = _answer(payload)
            if not payload.get("stream"):
                completion = {
                    "object": "chat.completion",
                    "choices": [{"message": {"role": "assistant", "content": text}}],
                }
                self._send(200, "application/json", json.dumps(completion).encode())
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for word in text.split():
                chunk = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": word + " "}}]}
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
