"""Real loopback HTTP servers for the endpoint tests: each runs one behaviour (a function of
the handler and the request it saw) and records every request it received.

Servers are ``ThreadingHTTPServer`` on 127.0.0.1 with daemon handler threads; the ``serve``
fixtures of the test modules shut each one down when its test ends. Every misbehaviour is
bounded (a drip stops after a fixed number of bytes), so no thread outlives its purpose.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def question(self) -> str:
        """The text part of the chat request's one user turn."""
        return self.json["messages"][0]["content"][-1]["text"]


Behaviour = Callable[["Handler", Seen], None]


class Loopback(ThreadingHTTPServer):
    """A server on a free loopback port running ``behave`` for every request."""

    daemon_threads = True

    def __init__(self, behave: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.behave = behave
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Loopback
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(self.command, self.path, headers, body, time.monotonic())
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            self.server.behave(self, seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first: what some tests check

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete reply with its Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def chat_reply(text: str) -> bytes:
    """A chat-completions reply whose assistant message is ``text``."""
    message = {"role": "assistant", "content": text}
    return json.dumps({"choices": [{"message": message}]}).encode()


def answer_ok(handler: Handler, seen: Seen) -> None:
    """Answers every question with ``ok: <question's last word>``."""
    handler.send(200, chat_reply(f"ok: {seen.question.split()[-1]}"))


@contextmanager
def serving() -> Iterator[Callable[[Behaviour], Loopback]]:
    """A function starting servers, each on a daemon thread; all shut down at exit."""
    started: list[Loopback] = []

    def start(behave: Behaviour) -> Loopback:
        server = Loopback(behave)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.shutdown()
            server.server_close()
