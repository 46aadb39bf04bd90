"""The openvino backend with the real 0.5B model (slow tier; skipped when OpenVINO is missing).

Exports the packaged Qwen2.5-Coder-0.5B once into the model cache at fp16 (the precision
whose greedy output must equal the transformers float32 reference), checks that both
backends write the same reply to a grounded prompt, and answers a seed question and an
unanswerable one end to end through `Assistant` with `llm_backend="openvino"`.
"""

from __future__ import annotations

import pytest

from qa.models.generate_openvino import INSTALL_HINT

pytestmark = pytest.mark.slow
pytest.importorskip("openvino_genai", reason=f"openvino-genai is not installed: {INSTALL_HINT}")
pytest.importorskip("optimum.intel", reason=f"optimum-intel is not installed: {INSTALL_HINT}")

from qa.answer.prompt import build_messages  # noqa: E402
from qa.api import Assistant, shared_embedder  # noqa: E402
from qa.models.generate import TransformersGenerator  # noqa: E402
from qa.models.generate_openvino import OpenVINOGenerator  # noqa: E402
from qa.settings import SEED_DIR, Settings  # noqa: E402
from qa.store.indexer import index_paths  # noqa: E402

ARTICLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in SEED_DIR.glob("*.txt")}
PRECISION = "fp16"
MODEL = "qwen2.5-coder-0.5b"  # the export is tested on the small model, at fp16


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("openvino") / "index"
    index_paths(index_dir, [SEED_DIR], shared_embedder())
    settings = Settings.from_env(index_dir=index_dir, llm_backend="openvino", llm_model=MODEL)
    return Assistant(settings=settings, generator=OpenVINOGenerator(MODEL, precision=PRECISION))


def test_fp16_greedy_reply_equals_the_transformers_reference(assistant):
    question = "Who masterminded the raid?"
    messages = build_messages(question, assistant.retrieve(question, k=4))
    reference = TransformersGenerator(MODEL, precision="float32", prefix_cache=False)
    expected = reference.generate(messages, 40)
    got = assistant.generator.generate(messages, 40)
    assert assistant.generator.last_usage["prompt_tokens"] == reference.last_usage["prompt_tokens"]
    assert got == expected


def test_openvino_answers_a_seed_question_with_exact_citations(assistant):
    answer = assistant.ask("Who masterminded the raid?")
    assert assistant.generator.backend == "openvino"
    assert not answer.abstained, answer
    assert "belmokhtar" in answer.text.lower()
    for c in answer.citations:
        assert ARTICLES[c.doc_id][c.start : c.end] == c.text
    usage = assistant.generator.last_usage
    assert usage["prompt_tokens"] > 100 and 0 < usage["new_tokens"] <= assistant.settings.max_new_tokens


def test_openvino_abstains_when_the_articles_do_not_say(assistant):
    answer = assistant.ask("What ransom did the kidnappers ask for?")
    assert answer.abstained and answer.text == "The articles don't say."
