"""The served-model adapter: the same `Generator` over an OpenAI-compatible chat API.

`OpenAIGenerator` streams `POST <QA_LLM_URL>/chat/completions` (`stream: true`, server-sent
events) from vLLM, Ollama, llama.cpp's server, LM Studio or any server of that API. It asks
for greedy decoding (temperature 0, top_p 1, seed 0, and llama.cpp's `repeat_penalty` 1.0,
which is dropped once if the server refuses extra fields), `max_tokens` new tokens, and stops
a degenerate loop with the same rule as the local backends (applied to the streamed pieces,
one token each on llama.cpp's and vLLM's servers). Closing the stream early (the UI's Stop
button) closes the HTTP connection, so the server stops generating.

Unlike the local adapters it holds no lock: the server schedules concurrent requests. The
prompt, the citation check and the follow-up rewrite are the callers' (`qa.api`), unchanged.
Transport, retries and error names are `qa.models.openai_http`'s.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from qa.errors import EmptyReplyError, ServerError, UnknownServedModelError
from qa.models.generate import Generator, Message, is_looping
from qa.models.openai_http import ServedAPI, StreamCut

# Fields not every server takes: llama.cpp's repeat_penalty (its server's default is 1.1; 1.0 is
# greedy like the local backends) and the usage report; a server that refuses them (a plain 400
# or 422) gets the request again without them.
OPTIONAL_FIELDS: dict[str, Any] = {"repeat_penalty": 1.0, "stream_options": {"include_usage": True}}
# The local backends apply the loop rule to prompt + reply; this stands in for the prompt's tail.
_PROMPT_TAIL = tuple(object() for _ in range(12))


def served_model_name(api: ServedAPI, model: str | None) -> str:
    """`model`, else the one model the server lists at /models; raises a named error otherwise."""
    if model:
        return model
    listed = api.get_json("models")
    ids = [m.get("id") for m in (listed or {}).get("data", []) if isinstance(m, dict) and m.get("id")]
    if len(ids) == 1:
        return str(ids[0])
    offered = ", ".join(map(str, ids[:8])) or "none"
    setting = "QA_LLM_MODEL" if api.what == "model server" else "QA_EMBED_MODEL"
    raise UnknownServedModelError(f"name the served model with {setting}: the {api.what} at "
                                  f"{api.base_url} offers {offered}")


def key_fingerprint(api_key: str | None) -> str:
    """A short, one-way tag of a key, for telling shared clients apart without keeping the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12] if api_key else ""


class OpenAIGenerator(Generator):
    """A chat model behind an OpenAI-compatible server (`QA_LLM_BACKEND=openai`)."""

    backend = "openai"

    def __init__(self, model: str | None = None, url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, retries: int | None = None,
                 backoff: float | None = None) -> None:
        from qa.settings import Settings

        settings = Settings.from_env()
        url = url or settings.llm_url
        if not url:
            raise ServerError("the openai backend needs the server's address: set QA_LLM_URL (or "
                              "--llm-url) to its base URL ending in /v1, e.g. http://127.0.0.1:8000/v1")
        self.api = ServedAPI(url, api_key if api_key is not None else settings.llm_api_key,
                             timeout=timeout or settings.llm_timeout, retries=retries,
                             backoff=backoff)
        self.model = model or settings.llm_model or None
        self.name = f"{self.model or 'served model'} (openai)"
        self._extras = dict(OPTIONAL_FIELDS)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model={self.model!r}, api={self.api!r})"

    def load(self) -> OpenAIGenerator:
        """Check that the server answers and learn the model's name when none was given."""
        with self._lock:
            if self.model is None:
                self.model = served_model_name(self.api, None)
                self.name = f"{self.model} (openai)"
            else:
                self.api.get_json("models")
        return self

    def _payload(self, messages: list[Message], max_new_tokens: int) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "stream": True, "max_tokens": max_new_tokens,
                "temperature": 0.0, "top_p": 1.0, "seed": 0, **self._extras}

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        if self.model is None:
            self.load()
        pieces: list[str] = []
        usage: dict[str, int] = {}
        finish: str | None = None
        try:
            with self._open(messages, max_new_tokens) as events:
                for event in events:
                    if isinstance(event.get("usage"), dict):
                        usage = event["usage"]
                    for choice in event.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or ""
                        if text:
                            pieces.append(text)
                            yield text
                        finish = choice.get("finish_reason") or finish
                    if pieces and is_looping([*_PROMPT_TAIL, *pieces[-12:]]):
                        finish = "loop"
                        break
        except StreamCut as exc:
            if finish is None and pieces:
                raise EmptyReplyError(f"{exc} after {len(pieces)} pieces; the partial reply was "
                                      "discarded") from exc
            if finish is None:  # cut before any text: some servers (llama.cpp's) report errors
                text, usage = self._reply_unstreamed(messages, max_new_tokens, exc)  # only unstreamed
                if text:
                    pieces.append(text)
                    yield text
        finally:
            self.last_usage = {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                               "new_tokens": int(usage.get("completion_tokens") or len(pieces))}
        if not "".join(pieces).strip():
            raise EmptyReplyError(f"the model server at {self.api.base_url} sent a reply with no content "
                                  f"(model {self.model!r}, finish_reason {finish!r})")

    def _reply_unstreamed(self, messages: list[Message], max_new_tokens: int,
                          cut: StreamCut) -> tuple[str, dict[str, Any]]:
        """Ask once more without streaming, after a stream that was cut before any text.

        A server that fails inside a stream (a prompt past the context, in llama.cpp's server)
        answers the same request unstreamed with its real error status, which is raised here
        as the named error; a server that answers gives its reply and usage.
        """
        body = self.api.post_json("chat/completions", {**self._payload(messages, max_new_tokens),
                                                       "stream": False})
        try:
            text = body["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise EmptyReplyError(f"{cut}, and the reply without streaming had no message") from exc
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return str(text), usage

    @contextmanager
    def _open(self, messages: list[Message], max_new_tokens: int) -> Iterator[Iterator[dict[str, Any]]]:
        """The open event stream; again without the extra sampling fields if a plain 400/422
        refuses them (a strict server), and from then on without them."""
        with ExitStack() as stack:
            try:
                events = stack.enter_context(
                    self.api.stream("chat/completions", self._payload(messages, max_new_tokens)))
            except ServerError as exc:
                if not (self._extras and type(exc) is ServerError
                        and getattr(exc, "status", None) in (400, 422)):
                    raise
                self._extras = {}
                events = stack.enter_context(
                    self.api.stream("chat/completions", self._payload(messages, max_new_tokens)))
            yield events
