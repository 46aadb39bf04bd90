"""The llama.cpp backend with the real GGUF (slow tier; skipped when llama-cpp-python is missing).

Builds a seed index with the packaged embedder, answers through `LlamaCppGenerator`
on the assembled, sha256-checked Qwen2.5-Coder-0.5B GGUF, and checks that the
prompt it feeds the model is token for token the one the transformers backend feeds.
"""

from __future__ import annotations

import pytest

from qa.models.generate_llamacpp import INSTALL_HINT

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason=f"llama-cpp-python is not installed (optional): {INSTALL_HINT}")

from qa.answer.prompt import build_messages  # noqa: E402
from qa.api import Assistant, shared_embedder  # noqa: E402
from qa.models.model_files import resolve_llm  # noqa: E402
from qa.settings import SEED_DIR, Settings  # noqa: E402
from qa.store.indexer import index_paths  # noqa: E402

# the backend is tested with the small model (the default model is exercised elsewhere)
MODEL = "qwen2.5-coder-0.5b"
ARTICLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in SEED_DIR.glob("*.txt")}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("llamacpp") / "index"
    index_paths(index_dir, [SEED_DIR], shared_embedder())
    return Assistant(settings=Settings.from_env(index_dir=index_dir, llm_backend="llama.cpp",
                                                 llm_model=MODEL))


def test_llamacpp_answers_a_seed_question_with_exact_citations(assistant):
    answer = assistant.ask("Who masterminded the raid?")
    assert assistant.generator.backend == "llama.cpp"
    assert not answer.abstained, answer
    assert "belmokhtar" in answer.text.lower()
    assert answer.citations and "000_6ad931cbaa20b811" in {c.doc_id for c in answer.citations}
    for c in answer.citations:
        assert ARTICLES[c.doc_id][c.start : c.end] == c.text
    usage = assistant.generator.last_usage
    assert usage["prompt_tokens"] > 100 and 0 < usage["new_tokens"] <= assistant.settings.max_new_tokens


def test_llamacpp_abstains_when_the_articles_do_not_say(assistant):
    answer = assistant.ask("What ransom did the kidnappers ask for?")
    assert answer.abstained and answer.text == "The articles don't say."


def test_both_backends_feed_the_model_the_same_prompt_tokens(assistant):
    hits = assistant.retrieve("How long did the operation last?", k=4)
    messages = build_messages("How long did the operation last?", hits)
    llama_ids = assistant.generator.prompt_tokens(messages)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_llm(assistant.settings.llm_model)))
    torch_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                              return_dict=True)["input_ids"]
    assert list(llama_ids) == list(torch_ids)
