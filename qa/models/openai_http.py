"""HTTP to an OpenAI-compatible server: timeouts, retries with backoff, and named errors.

`ServedAPI` sends JSON to `<base URL>/<path>` (the base ends in `/v1`, as vLLM, Ollama,
llama.cpp's server, LM Studio and TEI serve it) over one pooled `httpx.Client`. It
retries a refused connection, 429 and 5xx with exponential backoff (honouring
`Retry-After`), and turns every failure into a `ServerError` subclass with a one-line
message. `stream()` reads a server-sent-event stream as JSON objects; leaving its
block closes the connection, which is how the server learns that the reader stopped.

The API key goes out as `Authorization: Bearer …` only: it is in no repr, log line or
error message (a server's message that quotes it is redacted). This module knows HTTP
and the servers' error shapes; it builds no prompt and reads no reply's meaning.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from qa.errors import (
    ContextTooLongError,
    EmptyReplyError,
    ServerAuthError,
    ServerError,
    ServerUnreachableError,
    UnknownServedModelError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0  # seconds without a byte from the server (a long prefill, a queue)
CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  # first wait; doubles each retry
MAX_WAIT = 30.0  # a longer Retry-After is not waited for: the error says so
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_CONTEXT_RE = re.compile(
    r"context[ _](length|window|size)|maximum context|context_length_exceeded|too many tokens|"
    r"prompt is too long|exceeds? (the )?(model'?s? )?(max|context)|input is too long|"
    r"must have less than \d+ tokens|too long for (the )?model", re.I)
_MODEL_RE = re.compile(r"model\b.*\b(not found|does not exist|not exist|unknown|not available|not loaded)|"
                       r"(unknown|invalid|no such) model|model_not_found", re.I)


class StreamCut(EmptyReplyError):
    """The event stream ended before its `[DONE]` (connection closed or cut mid-way)."""


def normalise_base_url(url: str) -> str:
    """The base URL without a trailing slash; raises ServerError when it is not http(s)."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerError(f"not a server URL: {url!r} (give the base URL ending in /v1, "
                          "e.g. http://127.0.0.1:8000/v1)")
    return url


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_message(body: bytes | str | Any) -> str:
    """The human part of an error body: {"error": {"message"}}, {"error"}, {"message"}, {"detail"}."""
    data: Any = body
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            return _one_line(text)
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, dict):
                return error_message(value)
            if isinstance(value, list) and value:
                return _one_line("; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v)
                                           for v in value))
            if value:
                return _one_line(str(value))
    return _one_line(json.dumps(data) if not isinstance(data, str) else data)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), else None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ServedAPI:
    """One OpenAI-compatible server: JSON requests and SSE streams with retries and named errors.

    `what` names the server in messages ("model server", "embedding server"); `key_env`
    names the setting that holds its key. Thread-safe (one pooled client).
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None,
                 what: str = "model server", key_env: str = "QA_LLM_API_KEY",
                 url_env: str = "QA_LLM_URL") -> None:
        self.base_url = normalise_base_url(base_url)
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.retries = max(0, int(DEFAULT_RETRIES if retries is None else retries))
        self.backoff = DEFAULT_BACKOFF if backoff is None else backoff
        self.what, self.key_env, self.url_env = what, key_env, url_env
        self._key = (api_key or "").strip() or None
        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        # Certificates are loaded for https only (loading the CA bundle costs seconds on a busy CPU).
        self._client = httpx.Client(
            headers=headers, follow_redirects=False, trust_env=False,
            verify=self.base_url.startswith("https:"),
            timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)))

    def __repr__(self) -> str:
        return f"ServedAPI({self.base_url!r}, key={'set' if self._key else 'none'})"

    def close(self) -> None:
        self._client.close()

    # ---- requests ----------------------------------------------------------------------------
    def get_json(self, path: str) -> Any:
        """GET `<base>/<path>` as JSON."""
        with self._send("GET", path, None) as response:
            return self._json(response, path)

    def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        """POST a JSON payload to `<base>/<path>`; the reply as JSON."""
        with self._send("POST", path, payload) as response:
            return self._json(response, path)

    @contextmanager
    def stream(self, path: str, payload: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
        """POST and read the reply as server-sent events: yields an iterator of their JSON objects.

        The iterator raises StreamCut when the stream ends without `data: [DONE]`, and
        ServerUnreachableError when the server stops sending for longer than the timeout.
        Leaving the block closes the connection (the server sees the reader go away).
        """
        with self._send("POST", path, payload) as response:
            yield self._events(response)

    # ---- internals ---------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            response.read()
            return response.json()
        except httpx.TimeoutException as exc:
            raise self._timeout_error() from exc
        except (httpx.TransportError, ValueError) as exc:
            raise EmptyReplyError(f"the {self.what} at {self.base_url} sent a broken reply to /{path}: "
                                  f"{self._redact(_one_line(str(exc)))}") from exc

    def _timeout_error(self) -> ServerUnreachableError:
        return ServerUnreachableError(
            f"the {self.what} at {self.base_url} sent nothing for {self.timeout:g}s "
            f"(the timeout; raise it with QA_LLM_TIMEOUT)")

    def _events(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        event = ""
        try:
            for line in response.iter_lines():
                if line.startswith(":"):
                    continue
                if line:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field == "event":
                        event = value
                    continue
                if not data:
                    continue
                text, data = "\n".join(data), []
                if text.strip() == "[DONE]":
                    return
                try:
                    obj = json.loads(text)
                except ValueError as exc:
                    raise EmptyReplyError(f"the {self.what} at {self.base_url} sent an event that is "
                                          f"not JSON: {self._redact(_one_line(text, 80))!r}") from exc
                if event == "error" or (isinstance(obj, dict) and obj.get("error")
                                        and not obj.get("choices")):
                    raise self._status_error(None, obj)
                event = ""
                if isinstance(obj, dict):
                    yield obj
            if data and "\n".join(data).strip() == "[DONE]":  # no blank line after the last event
                return
        except httpx.TimeoutException as exc:
            raise ServerUnreachableError(f"the {self.what} at {self.base_url} stopped sending for "
                                         f"{self.timeout:g}s mid-reply (the timeout; raise it with "
                                         "QA_LLM_TIMEOUT)") from exc
        except httpx.TransportError as exc:
            raise StreamCut(f"the {self.what} at {self.base_url} cut the reply off mid-way "
                            f"({self._redact(_one_line(str(exc), 120))})") from exc
        raise StreamCut(f"the {self.what} at {self.base_url} ended the reply stream before it was done")

    def _status_error(self, status: int | None, body: Any) -> ServerError:
        message = self._redact(error_message(body))
        where = f"the {self.what} at {self.base_url}"
        code = f" ({status})" if status else ""
        if status in (401, 403):
            hint = (f"check {self.key_env}" if self._key else f"it needs an API key: set {self.key_env}")
            error: ServerError = ServerAuthError(f"{where} refused the API key{code}: {message}; {hint}")
        elif _CONTEXT_RE.search(message) or status == 413:
            error = ContextTooLongError(f"{where}: the prompt is too long for the model's context"
                                        f"{code}: {message}")
        elif _MODEL_RE.search(message) or (status == 404 and "model" in message.lower()):
            error = UnknownServedModelError(f"{where} does not serve that model{code}: {message}")
        elif status == 404:
            error = ServerError(f"{where} has no such endpoint{code}: {message}; {self.url_env} must be "
                                "the base URL ending in /v1")
        else:
            error = ServerError(f"{where} refused the request{code}: {message}")
        error.status = status  # type: ignore[attr-defined]
        return error

    def _wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retry `attempt` (0-based), or None when not to retry."""
        if attempt >= self.retries:
            return None
        wanted = _retry_after(response.headers.get("retry-after")) if response is not None else None
        if wanted is None:
            wanted = self.backoff * (2 ** attempt) * (1 + 0.1 * random.random())
        return wanted if wanted <= MAX_WAIT else None

    @contextmanager
    def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> Iterator[httpx.Response]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        while True:
            try:
                request = self._client.build_request(method, url, json=payload)
                response = self._client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and (wait := self._wait(attempt, None)) is not None:
                    time.sleep(wait)
                    attempt += 1
                    continue
                raise self._timeout_error() from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if (wait := self._wait(attempt, None)) is not None:
                    log.info("%s at %s: %s; retrying in %.1fs", self.what, self.base_url,
                             exc.__class__.__name__, wait)
                    time.sleep(wait)
                    attempt += 1
                    continue
                raise ServerUnreachableError(
                    f"cannot reach the {self.what} at {self.base_url} "
                    f"({self._redact(_one_line(str(exc), 120)) or exc.__class__.__name__}; "
                    f"{attempt + 1} tries); is it running, and is {self.url_env} right?") from exc
            except httpx.HTTPError as exc:
                raise ServerUnreachableError(f"cannot reach the {self.what} at {self.base_url}: "
                                             f"{self._redact(_one_line(str(exc), 120))}") from exc
            if response.status_code < 400:
                try:
                    yield response
                finally:
                    response.close()
                return
            try:
                body = response.read()
            except httpx.HTTPError:
                body = b""
            finally:
                response.close()
            error = self._status_error(response.status_code, body)
            if response.status_code in RETRY_STATUSES and type(error) is ServerError:
                wait = self._wait(attempt, response)
                if wait is not None:
                    log.info("%s at %s answered %d; retrying in %.1fs", self.what, self.base_url,
                             response.status_code, wait)
                    time.sleep(wait)
                    attempt += 1
                    continue
                later = _retry_after(response.headers.get("retry-after"))
                tail = (f" (it asks to retry after {later:.0f}s)" if later and later > MAX_WAIT
                        else f" after {attempt + 1} tries")
                error.args = (str(error) + tail,)
            raise error
