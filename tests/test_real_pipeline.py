"""The real models end to end on the seed corpus (slow tier: runs in CI).

Uses the packaged MiniLM embedder and the default answering model, converted once
into the model cache. Asserts real answers, exact citation offsets, and abstention.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import qa
from qa.settings import SEED_DIR

pytestmark = pytest.mark.slow

ARTICLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in SEED_DIR.glob("*.txt")}


def _check_citations(answer: qa.Answer) -> None:
    assert answer.citations, answer
    for n, citation in enumerate(answer.citations, start=1):
        assert citation.n == n and f"[{n}]" in answer.text
        assert ARTICLES[citation.doc_id][citation.start : citation.end] == citation.text


@pytest.mark.parametrize(("question", "expected", "doc_id"), [
    ("Who masterminded the raid?", ["Belmokhtar"], "000_6ad931cbaa20b811"),
    ("What did the militants demand?", ["Mali"], "002_8e2be5257cd0af73"),
    ("How long did the operation last?", ["eight hours", "8 hours"], "002_8e2be5257cd0af73"),
])
def test_real_answers_cite_the_right_article(question, expected, doc_id):
    answer = qa.ask(question)
    assert not answer.abstained, answer
    assert any(form.lower() in answer.text.lower() for form in expected), answer.text
    _check_citations(answer)
    assert doc_id in {c.doc_id for c in answer.citations}


@pytest.mark.parametrize("question", [
    "What is the capital of Peru?",
    "How many Americans were killed?",
    "What ransom did the kidnappers ask for?",
])
def test_real_pipeline_abstains_on_what_the_articles_do_not_say(question):
    answer = qa.ask(question)
    assert answer.abstained and answer.text == "The articles don't say." and answer.citations == []


def test_off_topic_question_never_reaches_the_model():
    answer = qa.ask("Who won the 2010 World Cup?")
    assert answer.abstained and "generate" not in answer.timings and answer.passages


def test_real_retrieve_returns_exact_passages():
    hits = qa.retrieve("Which companies jointly operate the gas plant?", k=3)
    assert len(hits) == 3
    assert "Statoil" in hits[0].text or "Statoil" in hits[1].text
    for hit in hits:
        assert ARTICLES[hit.doc_id][hit.start : hit.end] == hit.text


def test_cli_ask_json_end_to_end(tmp_path):
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index")}
    run = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "Who masterminded the raid?", "--json"],
                         capture_output=True, text=True, env=env, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(run.stdout)
    assert "Belmokhtar" in data["text"] and not data["abstained"]
    assert data["citations"][0]["doc_id"] == "000_6ad931cbaa20b811"


def test_closing_the_stream_stops_the_model():
    """A reader that stops early (the UI's Stop button) ends generation, not after max tokens."""
    from qa.api import shared_generator

    generator = shared_generator()
    stream = generator.stream([{"role": "user", "content": "Count from one to two hundred in words."}], 200)
    for i, _piece in enumerate(stream):
        if i == 3:
            break
    stream.close()
    assert 0 < generator.last_usage["new_tokens"] < 30


def test_the_system_prompt_cache_changes_no_token():
    """Reusing the system prompt's attention cache gives the same greedy reply as a full prefill,
    for two different questions after one another (the cache is copied, never extended)."""
    from qa.answer.prompt import SYSTEM_PROMPT, build_messages
    from qa.api import shared_generator
    from qa.models.generate import TransformersGenerator

    cached = shared_generator("qwen2.5-coder-0.5b", backend="transformers").load()
    assert isinstance(cached, TransformersGenerator) and cached.prefix_cache
    plain = TransformersGenerator("qwen2.5-coder-0.5b", prefix_cache=False)
    plain._model, plain._tokenizer, plain.name = cached._model, cached._tokenizer, cached.name
    first_pass: list[int] = []  # tokens the model reads in the first forward pass of a reply

    def record(module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and (not first_pass or ids.shape[1] > 1):
            first_pass.append(ids.shape[1])

    hook = cached._model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        for question in ("Who masterminded the raid?", "How many hostages were freed?"):
            messages = build_messages(question, qa.retrieve(question, k=4))
            cached.generate(messages, 1)  # computes the prefix once, outside what is recorded
            first_pass.clear()
            with_cache = cached.generate(messages, 24)
            read_with_cache = first_pass[0]
            first_pass.clear()
            assert with_cache == plain.generate(messages, 24)
            assert read_with_cache < first_pass[0]  # the system prompt was not read again
    finally:
        hook.remove()
    assert SYSTEM_PROMPT in cached._prefixes
