"""A stand-in OpenAI-compatible server on 127.0.0.1 for the fast tests (stdlib only).

The requested model name picks the behaviour, so one server covers every protocol edge:

- any other name: streams the extractive fake's reply to the received prompt, a word per
  event, then usage and `[DONE]` (so the prompt really travels over the wire);
- `missing` 404 model not found; `long` 400 context length; `down` 503 always;
- `busy` 429 (Retry-After: 1) then a reply; `quota` 429 (Retry-After: 3600); `flaky` 500 then a reply;
- `overflow` two events, then an error event (context length);
- `cut` three events, then the connection is cut (no `[DONE]`); `eof` ends without `[DONE]`;
- `overlong` as llama.cpp's server with a prompt past its context: a stream that ends before any
  text, and 400 context length for the same request unstreamed;
- `slow` sleeps before answering; `stall` sends one event, then sleeps;
- `empty` a stream with no content; `loop` one piece over and over;
- `drip` a long reply, slowly: `sent` counts the events written before the reader left;
- `strict` 400 for a field outside the OpenAI schema.

`/v1/embeddings` returns the hashing fake's vectors (scaled, in reverse `index` order);
`/v1/models` lists `models`. With `key` set, a request without that bearer token gets 401,
with a message that quotes the token it got. `requests` records (path, headers, payload).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from qa.testing import ExtractiveGenerator, HashingEmbedder

STANDARD_FIELDS = {"model", "messages", "stream", "stream_options", "max_tokens", "temperature", "top_p",
                   "seed", "stop", "n", "presence_penalty", "frequency_penalty", "user"}


class StandIn:
    """The server, its settings and what it saw; `url` is the base ending in /v1."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.models = ["standin-model"]
        self.delay = 2.0
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.counts: dict[str, int] = {}
        self.sent = 0
        self.reader_left = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_payloads(self) -> list[dict[str, Any]]:
        return [p for path, _, p in self.requests if path.endswith("/chat/completions")]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "model": "standin",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _handler(server: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError):  # a reader that left on purpose
                super().handle()

        # -- plumbing
        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _event(self, obj: Any) -> None:
            data = (f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _error(self, status: int, message: str, code: str = "", headers: dict[str, str] | None = None):
            self._json(status, {"error": {"message": message, "type": "invalid_request_error",
                                          "code": code}}, headers)

        # -- routes
        def do_GET(self) -> None:
            server.requests.append((self.path, dict(self.headers), None))
            if not self._authorised():
                return
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"}
                                                            for m in server.models]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            server.requests.append((self.path, dict(self.headers), payload))
            if not self._authorised():
                return
            if self.path == "/v1/embeddings":
                return self._embeddings(payload)
            if self.path != "/v1/chat/completions":
                return self._error(404, f"no route {self.path}")
            model = payload.get("model", "")
            server.counts[model] = server.counts.get(model, 0) + 1
            first = server.counts[model] == 1
            if model == "missing":
                return self._error(404, "The model `missing` does not exist.", "model_not_found")
            if model == "long":
                return self._error(400, "This model's maximum context length is 2048 tokens. However, "
                                   "you requested 5120 tokens.", "context_length_exceeded")
            if model == "down":
                return self._error(503, "overloaded")
            if model == "busy" and first:
                return self._error(429, "rate limited", headers={"Retry-After": "1"})
            if model == "quota":
                return self._error(429, "quota exhausted", headers={"Retry-After": "3600"})
            if model == "flaky" and first:
                return self._error(500, "internal error")
            if model == "strict" and set(payload) - STANDARD_FIELDS:
                extra = sorted(set(payload) - STANDARD_FIELDS)[0]
                return self._error(400, f"Unrecognized request argument supplied: {extra}")
            if model == "overlong" and not payload.get("stream"):
                return self._error(400, "Requested tokens (9000) exceed context window of 8192")
            if model == "slow":
                time.sleep(server.delay)
            self._stream(model, payload)

        def _authorised(self) -> bool:
            if server.key is None:
                return True
            given = self.headers.get("Authorization", "")
            if given == f"Bearer {server.key}":
                return True
            self._error(401, f"Incorrect API key provided: {given.removeprefix('Bearer ')}",
                        "invalid_api_key")
            return False

        def _stream(self, model: str, payload: dict[str, Any]) -> None:
            self._start_stream()
            self._event(_chunk({"role": "assistant", "content": ""}))
            if model == "overlong":
                return self._end_stream()
            if model == "empty":
                self._event(_chunk({}, "stop"))
                self._event("[DONE]")
                return self._end_stream()
            if model == "loop":
                words = ["again "] * 40
            elif model == "drip":
                words = [f"word{i} " for i in range(200)]
            else:
                words = ExtractiveGenerator().stream(payload["messages"])
            for i, word in enumerate(words):
                if model == "overflow" and i == 2:
                    self._event({"error": {"message": "Requested tokens (9000) exceed context window of 8192",
                                           "code": "context_length_exceeded"}})
                    return self._end_stream()
                if model in ("cut", "eof") and i == 3:
                    if model == "eof":
                        return self._end_stream()
                    self.wfile.write(b"40\r\ndata: {\"choi")  # half a chunk, then the line drops
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if model == "stall" and i == 1:
                    time.sleep(server.delay)
                try:
                    self._event(_chunk({"content": word}))
                except (BrokenPipeError, ConnectionResetError):
                    server.reader_left.set()
                    return
                if model == "drip":
                    server.sent += 1
                    time.sleep(0.05)
            self._event(_chunk({}, "stop"))
            self._event({"id": "c1", "choices": [], "usage": {"prompt_tokens": 321, "completion_tokens": 7}})
            self._event("[DONE]")
            self._end_stream()

        def _embeddings(self, payload: dict[str, Any]) -> None:
            texts = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
            if payload.get("model") == "short":
                texts = texts[:-1]
            rows = HashingEmbedder(dimension=64).embed(texts) * 3.0  # not unit length on purpose
            data = [{"object": "embedding", "index": i, "embedding": row.tolist()}
                    for i, row in enumerate(rows)]
            self._json(200, {"object": "list", "model": payload.get("model"), "data": data[::-1],
                             "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    return Handler
