"""The served backends (`QA_LLM_BACKEND=openai`, `QA_EMBED_URL`) against a stand-in server.

The stand-in (tests/openai_standin.py) speaks the OpenAI chat-completions and embeddings API
on 127.0.0.1 and plays one protocol edge per model name: errors, retries, a cut stream, slow
replies, an empty reply. The real llama.cpp server is in tests/test_openai_real.py (slow).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

import qa.api
from qa.api import Assistant, shared_embedder, shared_generator
from qa.cli import _settings, build_parser
from qa.cli import main as cli_main
from qa.errors import (
    ContextTooLongError,
    EmptyReplyError,
    IndexMismatchError,
    ServerAuthError,
    ServerError,
    ServerUnreachableError,
    UnknownServedModelError,
)
from qa.models.embed_openai import OpenAIEmbedder
from qa.models.generate_openai import OpenAIGenerator
from qa.models.openai_http import error_message
from qa.settings import SEED_DIR, Settings
from qa.store.indexer import index_paths
from qa.testing import HashingEmbedder
from tests.openai_standin import StandIn

CHAT = [{"role": "user", "content": "Say something."}]
ENV = ("QA_LLM_BACKEND", "QA_LLM_MODEL", "QA_LLM_URL", "QA_LLM_API_KEY", "QA_LLM_TIMEOUT",
       "QA_EMBED_URL", "QA_EMBED_MODEL", "QA_EMBED_API_KEY")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(qa.api, "_generators", {})
    monkeypatch.setattr(qa.api, "_embedders", {})


@pytest.fixture
def server():
    with StandIn() as standin:
        yield standin


def gen(server: StandIn, model: str, **kw) -> OpenAIGenerator:
    kw.setdefault("backoff", 0.01)
    return OpenAIGenerator(model, url=server.url, **kw)


# ---- settings and wiring ----------------------------------------------------------------------


def test_settings_read_the_served_model_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM_BACKEND", "openai")
    monkeypatch.setenv("QA_LLM_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("QA_LLM_API_KEY", "sk-top-secret")
    monkeypatch.setenv("QA_LLM_TIMEOUT", "7.5")
    monkeypatch.setenv("QA_EMBED_URL", "http://127.0.0.1:10/v1")
    s = Settings.from_env()
    assert (s.llm_backend, s.llm_url, s.llm_api_key, s.llm_timeout, s.embed_url) == (
        "openai", "http://127.0.0.1:9/v1", "sk-top-secret", 7.5, "http://127.0.0.1:10/v1")
    assert s.embed_api_key == "sk-top-secret"  # falls back to the model server's key
    assert "sk-top-secret" not in repr(s)


def test_cli_takes_llm_url_and_embed_url_on_every_llm_verb() -> None:
    for verb in (["ask", "q"], ["serve"], ["eval"], ["prepare"]):
        args = build_parser().parse_args([*verb, "--llm-backend", "openai", "--llm-url", "http://h:1/v1",
                                          "--embed-url", "http://h:2/v1"])
        s = _settings(args)
        assert (s.llm_backend, s.llm_url, s.embed_url) == ("openai", "http://h:1/v1", "http://h:2/v1")


def test_the_openai_backend_without_a_url_is_a_named_error() -> None:
    with pytest.raises(ServerError, match="QA_LLM_URL"):
        shared_generator("m", backend="openai")
    with pytest.raises(ServerError, match="not a server URL"):
        OpenAIGenerator("m", url="127.0.0.1:8000")


def test_shared_generator_shares_per_url_and_key(server: StandIn) -> None:
    a = shared_generator("m", backend="openai", url=server.url, api_key="k1")
    assert isinstance(a, OpenAIGenerator) and a.backend == "openai"
    assert shared_generator("m", backend="openai", url=server.url, api_key="k1") is a
    assert shared_generator("m", backend="openai", url=server.url, api_key="k2") is not a
    assert shared_generator("m", backend="transformers") is not a
    assert not any("k1" in key for key in qa.api._generators)


# ---- streaming ---------------------------------------------------------------------------------


def test_stream_asks_greedy_with_the_token_limit_and_sends_the_key(server: StandIn) -> None:
    server.key = "sk-secret-123"
    g = gen(server, "standin-model", api_key="sk-secret-123")
    messages = [{"role": "system", "content": "Answer."},
                {"role": "user", "content": "[1] A\nThe plant was stormed on Thursday.\n\n"
                                            ">>> Question: When was the plant stormed?\n"}]
    text = g.generate(messages, max_new_tokens=33)
    assert "stormed on Thursday" in text
    path, headers, payload = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-secret-123"
    assert payload["messages"] == messages and payload["stream"] is True
    assert (payload["max_tokens"], payload["temperature"], payload["top_p"]) == (33, 0.0, 1.0)
    assert payload["repeat_penalty"] == 1.0
    assert g.last_usage == {"prompt_tokens": 321, "new_tokens": 7}
    assert "sk-secret" not in repr(g)


def test_closing_the_stream_closes_the_request(server: StandIn) -> None:
    pieces = gen(server, "drip").stream(CHAT, 500)
    got = [next(pieces) for _ in range(3)]
    pieces.close()  # what a Stop button does to the generator
    assert server.reader_left.wait(10), "the server kept writing to a reader that had gone"
    assert got[0].startswith("word0") and server.sent < 100


def test_a_looping_reply_is_stopped_like_the_local_backends(server: StandIn) -> None:
    text = gen(server, "loop").generate(CHAT, 96)
    assert text.count("again") == 8


# ---- failures -----------------------------------------------------------------------------------


def test_a_bad_key_is_a_named_error_that_never_shows_the_key(server: StandIn, caplog) -> None:
    server.key = "sk-right"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ServerAuthError, match=r"refused the API key \(401\)") as info:
        gen(server, "standin-model", api_key="sk-wrong-777").generate(CHAT)
    assert "sk-wrong-777" not in str(info.value) and "***" in str(info.value)
    assert "sk-wrong-777" not in caplog.text
    with pytest.raises(ServerAuthError, match="set QA_LLM_API_KEY"):
        gen(server, "standin-model").generate(CHAT)


def test_unknown_model_and_context_too_long_are_named(server: StandIn) -> None:
    with pytest.raises(UnknownServedModelError, match="does not exist"):
        gen(server, "missing").generate(CHAT)
    with pytest.raises(ContextTooLongError, match="maximum context length is 2048"):
        gen(server, "long").generate(CHAT)
    assert server.counts == {"missing": 1, "long": 1}  # neither is retried


def test_429_is_retried_after_retry_after_and_500_with_backoff(server: StandIn) -> None:
    started = time.perf_counter()
    assert gen(server, "busy").generate(CHAT)
    assert time.perf_counter() - started >= 0.95  # Retry-After: 1 was honoured
    assert server.counts["busy"] == 2
    assert gen(server, "flaky").generate(CHAT)
    assert server.counts["flaky"] == 2


def test_a_retry_after_longer_than_the_wait_cap_is_not_waited_for(server: StandIn) -> None:
    started = time.perf_counter()
    with pytest.raises(ServerError, match="asks to retry after 3600s"):
        gen(server, "quota").generate(CHAT)
    assert time.perf_counter() - started < 5 and server.counts["quota"] == 1


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    import email.utils

    from qa.models.openai_http import _retry_after

    assert _retry_after("2") == 2.0 and _retry_after(None) is None and _retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 < _retry_after(later) <= 20


def test_an_error_event_mid_stream_is_named(server: StandIn) -> None:
    with pytest.raises(ContextTooLongError, match="exceed context window of 8192"):
        gen(server, "overflow").generate(CHAT)


def test_a_server_that_stays_down_gives_up_after_the_retries(server: StandIn) -> None:
    with pytest.raises(ServerError, match=r"refused the request \(503\): overloaded after 3 tries"):
        gen(server, "down", retries=2).generate(CHAT)
    assert server.counts["down"] == 3


def test_an_unreachable_server_is_a_named_error() -> None:
    with StandIn() as standin:
        url = standin.url
    with pytest.raises(ServerUnreachableError, match=r"cannot reach the model server .* 2 tries"):
        OpenAIGenerator("m", url=url, retries=1, backoff=0.01).generate(CHAT)


def test_a_stream_cut_mid_way_is_an_error_not_a_short_answer(server: StandIn) -> None:
    for model in ("cut", "eof"):
        pieces: list[str] = []
        with pytest.raises(EmptyReplyError, match="after 3 pieces; the partial reply was discarded"):
            pieces.extend(gen(server, model).stream(CHAT))
        assert len(pieces) == 3


def test_a_stream_that_ends_before_any_text_is_asked_unstreamed_for_the_real_error(server: StandIn) -> None:
    with pytest.raises(ContextTooLongError, match="too long for the model's context"):
        OpenAIGenerator("overlong", url=server.url).generate([{"role": "user", "content": "x"}], 8)
    streamed, unstreamed = [p for path, _, p in server.requests if p.get("model") == "overlong"]
    assert streamed["stream"] is True and unstreamed["stream"] is False


def test_a_reply_slower_than_the_timeout_is_a_named_error(server: StandIn) -> None:
    server.delay = 6.0
    slow, stall = gen(server, "slow", timeout=0.3), gen(server, "stall", timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(ServerUnreachableError, match=r"sent nothing for 0\.3s"):
        slow.generate(CHAT)
    with pytest.raises(ServerUnreachableError, match=r"stopped sending for 0\.3s mid-reply"):
        stall.generate(CHAT)
    assert time.perf_counter() - started < 5.5  # neither waited the server's 6 s


def test_an_empty_reply_is_a_named_error(server: StandIn) -> None:
    with pytest.raises(EmptyReplyError, match="reply with no content"):
        gen(server, "empty").generate(CHAT)


def test_a_strict_server_gets_the_request_again_without_extra_fields(server: StandIn) -> None:
    g = gen(server, "strict")
    assert g.generate(CHAT) and g.generate(CHAT)
    sent = [set(p) for p in server.chat_payloads()]
    assert "repeat_penalty" in sent[0] and all("repeat_penalty" not in s for s in sent[1:])
    assert len(sent) == 3  # refused once, then asked without the field from then on


def test_the_model_name_comes_from_the_server_when_not_set(server: StandIn) -> None:
    g = OpenAIGenerator(None, url=server.url).load()
    assert g.model == "standin-model" and g.name == "standin-model (openai)"
    server.models = ["a", "b"]
    with pytest.raises(UnknownServedModelError, match=r"name the served model with QA_LLM_MODEL.*a, b"):
        OpenAIGenerator(None, url=server.url).load()


def test_error_bodies_of_the_common_servers_become_one_line() -> None:
    assert error_message(b'{"error": {"message": "model \\"x\\" not found, try pulling it first"}}') == \
        'model "x" not found, try pulling it first'
    assert error_message('{"detail": [{"msg": "field required"}]}') == "field required"
    assert error_message(b"<html>\n Bad   gateway\n</html>") == "<html> Bad gateway </html>"
    assert error_message({"error": "boom"}) == "boom"


# ---- through qa.ask ---------------------------------------------------------------------------


def test_ask_through_the_served_backend_keeps_the_prompt_and_the_citation_check(server, seed_index,
                                                                                 embedder) -> None:
    settings = Settings(index_dir=seed_index, min_relevance=0.05, llm_backend="openai",
                        llm_url=server.url, llm_model="standin-model")
    assistant = Assistant(embedder=embedder, settings=settings)
    answer = assistant.ask("Who masterminded the raid?")
    assert isinstance(assistant.generator, OpenAIGenerator)
    assert "Belmokhtar" in answer.text and answer.citations and not answer.abstained
    for c in answer.citations:
        assert assistant.store.articles[c.doc_id].text[c.start : c.end] == c.text
    prompt = server.chat_payloads()[-1]["messages"]
    from qa.answer.prompt import build_messages

    assert prompt == build_messages("Who masterminded the raid?", answer.passages)
    # the follow-up rewrite goes to the same server
    follow = assistant.ask("When did he do it?", history=[("Who masterminded the raid?", answer.text)])
    assert follow.standalone_question
    assert any("Rewritten question:" in p["messages"][-1]["content"] for p in server.chat_payloads())


def test_ask_with_the_model_the_server_lists(server, seed_index, embedder) -> None:
    settings = Settings(index_dir=seed_index, min_relevance=0.05, llm_backend="openai", llm_url=server.url)
    answer = Assistant(embedder=embedder, settings=settings).ask(
        "How many hostages have been freed according to the state media?")
    assert "650" in answer.text and answer.citations
    assert {p["model"] for p in server.chat_payloads()} == {"standin-model"}


def test_a_server_error_is_one_line_in_the_cli(server, seed_index, monkeypatch, capsys) -> None:
    monkeypatch.setattr(qa.api, "shared_embedder", lambda *a, **k: HashingEmbedder())
    server.key = "sk-right"
    monkeypatch.setenv("QA_LLM_API_KEY", "sk-wrong-42")
    code = cli_main(["ask", "Who masterminded the raid?", "--index-dir", str(seed_index),
                     "--llm-backend", "openai", "--llm-url", server.url, "--llm-model", "standin-model"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("qa: error: the model server at")
    assert "sk-wrong-42" not in err


# ---- served embeddings --------------------------------------------------------------------------


def test_served_embeddings_come_back_in_order_and_normalised(server: StandIn) -> None:
    e = OpenAIEmbedder("hash-64", url=server.url, batch_size=3, concurrency=2)
    texts = [f"passage number {i} about hostages and the gas plant {i * 7}" for i in range(10)]
    rows = e.embed(texts)
    local = HashingEmbedder(dimension=64).embed(texts)
    assert rows.shape == (10, 64) and e.dimension == 64 and e.name == "hash-64"
    np.testing.assert_allclose(rows, local, atol=1e-6)
    calls = [p for path, _, p in server.requests if path == "/v1/embeddings"]
    assert sorted(len(p["input"]) for p in calls) == [1, 3, 3, 3]
    assert {p["model"] for p in calls} == {"hash-64"}


def test_served_embeddings_refuse_a_short_reply(server: StandIn) -> None:
    with pytest.raises(EmptyReplyError, match="returned 1 vectors for 2 texts"):
        OpenAIEmbedder("short", url=server.url).embed(["a b", "c d"])


def test_an_index_built_with_served_embeddings_records_them_and_refuses_another_model(
        server: StandIn, tmp_path) -> None:
    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir, embed_url=server.url, embed_model="hash-64", min_relevance=0.05)
    served = Assistant(settings=settings)
    assert isinstance(served.embedder, OpenAIEmbedder) and shared_embedder(
        "hash-64", url=server.url) is served.embedder
    index_paths(index_dir, [SEED_DIR], served.embedder)
    assert (served.store.manifest.embedding_model, served.store.manifest.dimension) == ("hash-64", 64)
    assert served.retrieve("Who masterminded the raid?", k=2)
    with pytest.raises(IndexMismatchError, match="'hash-64', not 'fake-hashing'"):
        Assistant(settings=Settings(index_dir=index_dir), embedder=HashingEmbedder(64)).store  # noqa: B018


def test_the_ui_stop_button_cancels_the_served_request(server, seed_index, embedder) -> None:
    import socket

    from gradio_client import Client

    import qa.ui.page as ui_page

    settings = Settings(index_dir=seed_index, min_relevance=0.05, llm_backend="openai",
                        llm_url=server.url, llm_model="drip")
    demo = ui_page.build_app(Assistant(embedder=embedder, settings=settings))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit("Who masterminded the raid?", 4, 96, api_name="/respond")
        deadline = time.monotonic() + 120  # a busy machine is slow to start the answer
        while server.sent < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.sent >= 5, "the served reply never started"
        job.cancel()  # the Stop button's `cancels=` goes through the same cancel route
        assert server.reader_left.wait(15), "the served request went on after Stop"
        assert server.sent < 150
    finally:
        demo.close()
