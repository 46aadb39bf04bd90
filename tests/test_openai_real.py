"""The served backend against a real OpenAI-compatible server (slow tier).

Starts llama-cpp-python's server (`python -m llama_cpp.server`) on 127.0.0.1 with the
sha256-checked Qwen2.5-Coder-0.5B GGUF, answers seed questions through
`QA_LLM_BACKEND=openai`, and compares the drafts with the in-process llama.cpp backend on
the same file. Skipped when llama-cpp-python[server] is not installed (`./run test` builds it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from qa.models.generate_llamacpp import INSTALL_HINT

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed (optional): "
                    + INSTALL_HINT.replace("llama-cpp-python==", "'llama-cpp-python[server]'=="))

from qa.api import Assistant, shared_embedder  # noqa: E402
from qa.errors import ContextTooLongError  # noqa: E402
from qa.models.generate_llamacpp import DEFAULT_CONTEXT, LlamaCppGenerator  # noqa: E402
from qa.models.generate_openai import OpenAIGenerator  # noqa: E402
from qa.models.model_files import resolve_gguf  # noqa: E402
from qa.settings import SEED_DIR, Settings  # noqa: E402
from qa.store.indexer import index_paths  # noqa: E402

ARTICLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in SEED_DIR.glob("*.txt")}
MODEL = "qwen2.5-coder-0.5b"
QUESTIONS = ["Who masterminded the raid?", "How many hostages have been freed according to the state media?"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, log path) of a llama.cpp server running the checked GGUF."""
    gguf = resolve_gguf(MODEL)
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    threads = str(int(os.environ.get("QA_THREADS", "0") or 0) or os.cpu_count() or 1)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(DEFAULT_CONTEXT),
           "--n_threads", threads, "--n_threads_batch", threads, "--seed", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in 180s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("served") / "index"
    index_paths(path, [SEED_DIR], shared_embedder())
    return path


@pytest.fixture(scope="module")
def assistant(served, index_dir):
    return Assistant(settings=Settings.from_env(index_dir=index_dir, llm_backend="openai", llm_url=served,
                                                 llm_model=MODEL))


def test_served_backend_answers_a_seed_question_with_exact_citations(assistant):
    answer = assistant.ask(QUESTIONS[0])
    assert isinstance(assistant.generator, OpenAIGenerator) and assistant.generator.model == MODEL
    assert not answer.abstained, answer
    assert "belmokhtar" in answer.text.lower()
    assert answer.citations and "000_6ad931cbaa20b811" in {c.doc_id for c in answer.citations}
    for c in answer.citations:
        assert ARTICLES[c.doc_id][c.start : c.end] == c.text


def test_served_backend_abstains_when_the_articles_do_not_say(assistant):
    answer = assistant.ask("What ransom did the kidnappers ask for?")
    assert answer.abstained and answer.text == "The articles don't say."


def test_served_and_in_process_llamacpp_give_the_same_drafts(assistant, index_dir):
    local = Assistant(settings=Settings.from_env(index_dir=index_dir),
                      generator=LlamaCppGenerator(MODEL, n_ctx=DEFAULT_CONTEXT))
    for question in QUESTIONS:
        served, here = assistant.ask(question), local.ask(question)
        assert served.passages == here.passages
        assert served.draft == here.draft, question
        assert served.text == here.text


def test_a_prompt_past_the_context_is_a_named_error(served):
    long = [{"role": "user", "content": "hostage " * (DEFAULT_CONTEXT + 500)}]
    with pytest.raises(ContextTooLongError, match="too long for the model's context"):
        OpenAIGenerator(MODEL, url=served).generate(long, 16)


def test_closing_a_real_stream_early_leaves_the_server_ready(served):
    gen = OpenAIGenerator(MODEL, url=served)
    messages = [{"role": "user", "content": "Count from one to one hundred in words."}]
    pieces = gen.stream(messages, 400)
    first = [next(pieces) for _ in range(3)]
    pieces.close()
    started = time.perf_counter()
    reply = gen.generate([{"role": "user", "content": "Say OK."}], 4)
    assert first and reply.strip()
    assert time.perf_counter() - started < 60  # not behind the 400 tokens of the closed stream
