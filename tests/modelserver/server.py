"""The HTTP side: one threaded stdlib server on 127.0.0.1 that routes each vendor's endpoint
to its module and answers from the test's ``Script``."""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.modelserver import anthropic, gemini, openai
from tests.modelserver.script import Fail, Hang, Json, Script
from tests.modelserver.wire import Reply

_GEMINI = re.compile(r"/models/(?P<model>[^/:]+):(?P<verb>generateContent|streamGenerateContent|countTokens)")


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, body: Json) -> Reply | None:
        """The reply to a POST, or None to hang."""
        route = path.split("?", 1)[0]
        if route.endswith("/messages/count_tokens"):
            return anthropic.count_tokens(body)
        match = _GEMINI.search(route)
        if match and match["verb"] == "countTokens":
            return gemini.count_tokens(body)
        if not (match or route.endswith(("/messages", "/responses", "/chat/completions"))):
            return Reply(404, b'{"error": {"message": "no such endpoint"}}', "application/json")
        step = self.script.next(route, body)
        if isinstance(step, Hang):
            return None
        side = self.script.side_text
        if match:
            if isinstance(step, Fail):
                return gemini.error(step.status)
            return gemini.reply(step, match["model"], match["verb"] == "streamGenerateContent", side)
        if route.endswith("/messages"):
            return anthropic.error(step.status) if isinstance(step, Fail) else anthropic.reply(step, body, side)
        if isinstance(step, Fail):
            return openai.error(step.status)
        if route.endswith("/responses"):
            return openai.response(step, body, side)
        return openai.chat(step, body, side)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ModelServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        reply = self.server.answer(self.path, body if isinstance(body, dict) else {})
        if reply is None:
            self.server.stopping.wait()  # hang: the client sees nothing until it gives up
            self.close_connection = True
            return
        self._send(reply)

    def do_GET(self) -> None:  # health checks and the like (Claude Code's HEAD /api/hello)
        self._send(Reply(200, b"{}", "application/json"))

    do_HEAD = do_GET

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # the exchanges are the log
        pass


@contextmanager
def serve(script: Script) -> Iterator[ModelServer]:
    server = ModelServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
