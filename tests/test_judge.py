"""The support judge interface: hard rules, the lexical rules and the fitted decision."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer.intent import parse_intent
from qa.answer.judge import (
    FEATURES,
    FittedModel,
    LearnedJudge,
    RuleJudge,
    Verdict,
    features,
    load_model,
    readable,
)

PASSAGE = ("The state media have reported that 650 hostages have been freed, of which 573 are Algerians. "
           "Norway's Statoil jointly operated the gas plant with BP and Sonatrach.")


def _model(threshold: float = 0.5, **weights: float) -> FittedModel:
    coef = tuple(weights.get(name, 0.0) for name in FEATURES)
    return FittedModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), coef, 0.0, threshold)


@pytest.mark.parametrize("judge", [RuleJudge(), LearnedJudge(_model(rule_supported=5.0))])
def test_invented_numbers_never_pass(judge):
    verdict = judge.verdict("700 hostages were freed.", [PASSAGE], "How many hostages were freed?")
    assert isinstance(verdict, Verdict) and not verdict.supported
    assert "700" in verdict.reasons[0]


def test_numbers_the_question_gives_need_not_be_in_the_passage():
    verdict = RuleJudge().verdict("The three companies were Statoil, BP and Sonatrach.", [PASSAGE],
                                  "Which three companies operated the plant?")
    assert verdict.supported and verdict.passages == (0,)


@pytest.mark.parametrize("claim", ["650 заложников были освобождены.", "تم إطلاق سراح 650 رهينة",
                                   "650名人质获释。"])
def test_a_script_the_lexicon_cannot_read_is_not_judged(claim):
    assert not readable(claim)
    for judge in (RuleJudge(), LearnedJudge(_model(rule_supported=5.0))):
        verdict = judge.verdict(claim, [PASSAGE], "")
        assert not verdict.supported and not verdict.judgeable


def test_a_passage_in_another_script_is_not_judged():
    verdict = RuleJudge().verdict("650 hostages were freed.", ["Освобождены 650 заложников."], "")
    assert not verdict.judgeable


def test_features_separate_a_restatement_from_a_swap():
    intent = parse_intent("How many hostages were freed?")
    terms = set()
    good = features("650 hostages were freed.", PASSAGE, intent, terms)
    swapped = features("573 hostages were freed.", PASSAGE, intent, terms)
    assert set(good) == set(FEATURES)
    assert good["rule_supported"] == 1.0 and good["numbers_missing"] == 0.0
    assert good["answers_kind"] == 1.0
    assert swapped["rule_supported"] == 0.0 and swapped["numbers_missing"] == 1.0  # 573 counts Algerians


def test_words_only_the_question_holds_count_against_a_claim():
    intent = parse_intent("Did the army use helicopter gunships?")
    echo = features("The army used helicopter gunships.", PASSAGE, intent, set())
    assert echo["question_terms"] > 0.5 and echo["coverage_passage"] < 0.5


def test_the_fitted_decision_follows_its_weights_and_threshold():
    # a paraphrase the lexical rules reject, so the fitted score decides
    claim, question = "Some 650 people regained their liberty.", "How many hostages were freed?"
    assert not RuleJudge().verdict(claim, [PASSAGE], question).supported
    strict = LearnedJudge(_model(threshold=0.99, similarity=1.0))
    lenient = LearnedJudge(_model(threshold=0.5, length=3.0))
    assert not strict.verdict(claim, [PASSAGE], question).supported
    verdict = lenient.verdict(claim, [PASSAGE], question)
    assert verdict.supported and verdict.passages == (0,) and 0.5 < verdict.score <= 1.0
    assert verdict.features["rule_supported"] == 0.0 and verdict.features["length"] > 0.3


def test_what_the_rules_accept_the_learned_judge_accepts():
    judge = LearnedJudge(_model(threshold=0.99, similarity=-5.0))
    verdict = judge.verdict("650 hostages were freed.", [PASSAGE], "How many hostages were freed?")
    assert verdict.supported and verdict.score == 1.0


def test_an_invented_name_never_passes():
    judge = LearnedJudge(_model(threshold=0.01, coverage_sentence=5.0))
    verdict = judge.verdict("Statoil was run by Barack Obama.", [PASSAGE], "Who ran Statoil?")
    assert not verdict.supported and "barack" in verdict.reasons[0]


def test_similarity_comes_from_the_embedder():
    def embed(texts):
        rows = np.array([[1.0, 0.0] if "650" in t else [0.0, 1.0] for t in texts], dtype=np.float32)
        return rows

    judge = LearnedJudge(_model(similarity=4.0), embed=embed)
    claim_sims, question_sims = judge.similarities("650 freed", [PASSAGE, "Nothing here."], "Who?")
    assert claim_sims == [1.0, 0.0]
    assert question_sims == [1.0, 1.0]  # each passage has a sentence without "650", like the question


def test_a_model_file_round_trips(tmp_path):
    model = _model(threshold=0.4, coverage_sentence=2.0)
    path = tmp_path / "judge.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    loaded = load_model.__wrapped__(path)
    assert loaded == model
    assert load_model.__wrapped__(tmp_path / "missing.json") is None
    with pytest.raises(ValueError):
        FittedModel.from_json({**model.to_json(), "format": 99})


def test_without_a_model_the_learned_judge_is_the_rule_judge():
    judge = LearnedJudge(model=None)
    judge.model = None
    a = judge.verdict("650 hostages were freed.", [PASSAGE], "")
    b = RuleJudge().verdict("650 hostages were freed.", [PASSAGE], "")
    assert a.supported == b.supported and a.passages == b.passages
