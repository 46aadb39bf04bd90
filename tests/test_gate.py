"""The answer gate with fakes: its signals, the fitted decision, and the assistant withholding."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer.cite import Grounded, ground
from qa.answer.gate import GATE_FEATURES, GATE_FILE, AnswerGate, gate_features
from qa.answer.judge import FittedModel
from qa.answer.prompt import ABSTAIN_TEXT
from qa.api import Assistant
from qa.records import Citation, Hit
from qa.settings import Settings
from qa.testing import ExtractiveGenerator

SHIPPED = GATE_FILE  # bound at import, before conftest points the default elsewhere
PASSAGE = ("The state media have reported that 650 hostages have been freed, of which 573 are "
           "Algerians. The raid lasted eight hours.")
HIT = Hit(doc_id="a", chunk_id=0, text=PASSAGE, score=1.0, dense_score=0.62)


def checked(text: str = "650 hostages have been freed [1].") -> Grounded:
    citation = Citation(n=1, doc_id="a", title="", text=PASSAGE, start=0, end=len(PASSAGE), score=1.0)
    return Grounded(text, [citation], False)


def one_feature_model(name: str, weight: float, threshold: float = 0.5, mean: float = -1.0) -> FittedModel:
    """A model that reads only `name`, centred on `mean` with scale 1 (0.5 at the mean)."""
    coef = tuple(weight if n == name else 0.0 for n in GATE_FEATURES)
    means = tuple(mean if n == name else 0.0 for n in GATE_FEATURES)
    return FittedModel(GATE_FEATURES, means, tuple(1.0 for _ in GATE_FEATURES), coef, 0.0, threshold)


def test_features_measure_how_much_of_the_question_the_cited_passage_holds():
    on_topic = gate_features("How many hostages were freed?", checked(), [HIT],
                             "650 hostages were freed [1].")
    off_topic = gate_features("How many tanks did the army send to Mali?", checked(), [HIT],
                              "650 hostages were freed [1].")
    assert on_topic["question_missing"] == 0.0
    assert off_topic["question_missing"] > 0.5
    assert on_topic["dense_top"] == pytest.approx(0.62) and on_topic["dense_cited"] == pytest.approx(0.62)
    assert on_topic["answers_kind"] == 1.0 and on_topic["kind_checked"] == 1.0


def test_the_log_probability_is_a_feature_only_when_the_backend_gives_it():
    without = gate_features("How many hostages were freed?", checked(), [HIT], "650 were freed [1].")
    assert "logprob" not in without and "mean_logprob" not in without
    given = gate_features("How many hostages were freed?", checked(), [HIT], "650 were freed [1].",
                          logprob=-6.0, new_tokens=12)
    assert given["logprob"] == -6.0 and given["mean_logprob"] == pytest.approx(-0.5)
    assert gate_features("q?", checked(), [HIT], "d", logprob=-500.0, new_tokens=1)["logprob"] == -40.0


def test_a_draft_the_check_cut_down_or_that_hedges_shows_in_the_features():
    draft = "650 hostages have been freed [1]. Tanks rolled in from Mali. The articles don't say why."
    values = gate_features("How many hostages were freed?", checked(), [HIT], draft)
    assert values["kept_share"] == pytest.approx(0.5)
    assert values["draft_hedges"] == 1.0


def test_the_gate_withholds_a_low_confidence_answer_and_keeps_a_confident_one():
    gate = AnswerGate(model=one_feature_model("mean_logprob", 4.0))
    question, draft = "How many hostages were freed?", "650 hostages were freed [1]."
    sure = gate.verdict(question, checked(), [HIT], draft, logprob=-0.5, new_tokens=10)
    unsure = gate.verdict(question, checked(), [HIT], draft, logprob=-20.0, new_tokens=10)
    assert sure.keep and sure.score > 0.5
    assert not unsure.keep and unsure.score < 0.5
    assert unsure.features["mean_logprob"] == pytest.approx(-2.0)


def test_an_unknown_feature_counts_as_its_mean_and_an_abstention_is_never_judged():
    gate = AnswerGate(model=one_feature_model("mean_logprob", 4.0, threshold=0.6))
    unknown = gate.verdict("How many?", checked(), [HIT], "650 [1].")  # no log-probability
    assert unknown.score == pytest.approx(0.5) and not unknown.keep
    abstained = Grounded(ABSTAIN_TEXT, [], True)
    assert gate.verdict("How many?", abstained, [HIT], "").keep


def test_without_a_fitted_file_every_answer_is_kept(tmp_path):
    gate = AnswerGate(path=tmp_path / "absent.json")
    assert gate.model is None
    assert gate.verdict("How many?", checked(), [HIT], "650 [1].", logprob=-99.0, new_tokens=1).keep


def test_the_shipped_gate_file_loads_and_names_its_features():
    gate = AnswerGate(path=SHIPPED)
    assert gate.model is not None, "qa/answer/data/answer_gate.json is missing: run scripts/fit_gate.py"
    assert gate.model.features and set(gate.model.features) <= set(GATE_FEATURES)
    assert 0.0 <= gate.model.threshold < 1.0
    # the threshold loses at most max_lost of the right answers in each dev dataset, each scored
    # by a model fitted without it
    held = gate.model.meta["dev_leave_one_dataset_out"]
    assert {"seed", "rgb", "squad"} <= set(held)
    assert all(f["lost"] <= gate.model.meta["max_lost"] for f in held.values())


class ConfidentGenerator(ExtractiveGenerator):
    """The extractive fake, reporting a fixed summed log-probability for each reply."""

    def __init__(self, logprob: float) -> None:
        super().__init__()
        self.logprob = logprob

    def stream(self, messages, max_new_tokens=160):
        yield from super().stream(messages, max_new_tokens)
        self.last_usage = {"prompt_tokens": 100, "new_tokens": 10}
        self.last_logprob = self.logprob


@pytest.mark.parametrize("gate_on", [True, False])
def test_the_assistant_abstains_when_the_gate_withholds(seed_index, embedder, gate_on):
    settings = Settings(index_dir=seed_index, min_relevance=0.0, answer_gate=gate_on)
    assistant = Assistant(embedder=embedder, generator=ConfidentGenerator(-30.0), settings=settings)
    if gate_on:
        assistant.gate = AnswerGate(model=one_feature_model("mean_logprob", 4.0), embed=embedder.embed)
    answer = assistant.ask("How many hostages did state media say were freed?")
    if gate_on:
        assert answer.abstained and answer.text == ABSTAIN_TEXT and answer.citations == []
        assert answer.abstain_reason == "the passages seem not to answer the question"
        assert any(c.startswith("withheld the checked answer") and "650" in c for c in answer.changes)
        assert "650" in answer.draft
    else:
        assert assistant.gate is None
        assert not answer.abstained and "650" in answer.text


def test_a_confident_answer_passes_the_assistant_gate(seed_index, embedder):
    settings = Settings(index_dir=seed_index, min_relevance=0.0)
    assistant = Assistant(embedder=embedder, generator=ConfidentGenerator(-1.0), settings=settings)
    assistant.gate = AnswerGate(model=one_feature_model("mean_logprob", 4.0), embed=embedder.embed)
    answer = assistant.ask("How many hostages did state media say were freed?")
    assert not answer.abstained and "650" in answer.text
    assert not any(c.startswith("withheld") for c in answer.changes)


def test_features_of_a_real_check_result():
    grounded = ground("650 hostages have been freed [1].", [HIT], question="How many hostages were freed?")
    assert not grounded.abstained
    values = gate_features("How many hostages were freed?", grounded, [HIT],
                           "650 hostages have been freed [1].")
    assert values["kept_share"] == 1.0 and values["draft_hedges"] == 0.0
    assert values["dense_cited"] == pytest.approx(0.62)


def test_passage_sentences_are_embedded_only_when_question_similarity_is_wanted():
    seen: list[int] = []

    def embed(texts):
        seen.append(len(texts))
        return np.eye(len(texts), 4)

    args = ("How many hostages were freed?", checked(), [HIT], "650 hostages were freed [1].")
    every = gate_features(*args, embed=embed)
    fewer = gate_features(*args, embed=embed, wanted=("answer_similarity", "logprob"))
    assert seen[0] > 2 and seen[1] == 2
    assert "question_similarity" in every and "question_similarity" not in fewer
    assert fewer["answer_similarity"] == every["answer_similarity"]
