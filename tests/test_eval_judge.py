"""ALCE citation recall/precision with qa.answer.cite's judge, and the judge's check on labelled cases."""

from __future__ import annotations

import json

import pytest

from qa.eval.judge import (
    JudgeCase,
    citation_scores,
    cited_sentences,
    judge_check,
    load_judge_cases,
    load_test_cases,
    supported,
)

FREED = "The state media have reported that 650 hostages have been freed, of which 573 are Algerians."
CAPTIVE = ("At the time of going to the press, both AP and Reuters sources claimed that about 60 "
           "hostages were still captive.")
MALI = "Last week, France rushed troops, helicopters, and jets to Mali."
PASSAGES = {1: FREED, 2: CAPTIVE, 3: MALI}


def test_supported_uses_the_lexical_numeric_judge():
    assert supported("State media said six hundred and fifty hostages were freed.", [FREED])
    assert not supported("State media said 60 hostages were freed.", [FREED])
    assert not supported("State media said 650 hostages were freed.", [])


def test_alce_one_irrelevant_citation():
    text = ("State media said 650 hostages were freed [1]. "
            "About 60 hostages were still captive, AP and Reuters sources said [2][3].")
    score = citation_scores(text, PASSAGES)
    assert score.recall == 1.0
    assert score.precision == pytest.approx(2 / 3)      # [3] neither supports alone nor is needed
    assert [v.precise for v in score.sentences] == [[1], [2]]


def test_alce_wrong_citation_and_missing_citation():
    assert citation_scores("State media said 650 hostages were freed [3].", PASSAGES).recall == 0.0
    score = citation_scores("State media said 650 hostages were freed. France rushed jets to Mali [3].",
                            PASSAGES)
    assert (score.recall, score.precision, score.citations) == (0.5, 1.0, 1)


def test_alce_two_passages_both_needed():
    text = ("State media said 650 hostages were freed, while AP and Reuters sources said about 60 "
            "hostages were still captive [1][2].")
    score = citation_scores(text, PASSAGES)
    assert (score.recall, score.precision) == (1.0, 1.0)


def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    assert cited_sentences("Freed were 650. [1] About 60 remain [2][3]. [4]") == [
        ("Freed were 650.", [1]), ("About 60 remain.", [2, 3, 4])]
    assert cited_sentences("[1] Freed were 650. [2] About 60 remain.") == [
        ("Freed were 650.", [1]), ("About 60 remain.", [2])]
    score = citation_scores("State media said 650 hostages were freed. [1]", PASSAGES)
    assert (score.recall, score.precision) == (1.0, 1.0)


def test_nothing_to_score():
    assert citation_scores("The articles don't say.", PASSAGES).recall is None
    assert citation_scores("", PASSAGES).precision is None


def test_judge_check_counts_are_consistent():
    check = judge_check()
    assert len(check.cases) == 36
    counts = (check.true_positive, check.false_positive, check.false_negative, check.true_negative)
    assert sum(counts) == 36
    assert check.accuracy.value == pytest.approx((check.true_positive + check.true_negative) / 36)
    assert check.recall.n == check.true_positive + check.false_negative
    assert check.precision.n == check.true_positive + check.false_positive


def test_judge_check_on_hand_cases():
    cases = [JudgeCase("a", "State media said 650 hostages were freed.", FREED, True),
             JudgeCase("b", "State media said 60 hostages were freed.", FREED, False),
             JudgeCase("c", "State media said 650 hostages were killed.", FREED, False)]
    check = judge_check(cases)
    # "killed" is another event than "freed": the same number does not carry over
    assert [c.predicted for c in cases] == [True, False, False]
    counts = (check.true_positive, check.false_positive, check.false_negative, check.true_negative)
    assert counts == (1, 0, 0, 2)
    assert check.accuracy.value == 1.0 and check.recall.n == 1 and check.precision.n == 1


# The pipeline's judge (the fitted judge with the MiniLM embedder) on its 100 test cases
# (support_judge_heldout.jsonl and support_judge_test.jsonl), measured 2026-12-01 with
# `qa eval --judge-check`: accuracy 59/100 = 0.590 [0.490, 0.690] (the 0.1.2 lexical judge: 56/100).
# The floor sits two cases under that. Raise it when the judge improves; never lower it to pass.
JUDGE_TEST_FLOOR = 0.57
JUDGE_TEST_MIN_CASES = 100


@pytest.mark.slow
def test_judge_on_its_test_cases_meets_the_floor():
    check = judge_check(load_test_cases())
    assert len(check.cases) >= JUDGE_TEST_MIN_CASES
    assert check.accuracy.value >= JUDGE_TEST_FLOOR, (
        f"support judge accuracy on its test cases {check.accuracy.show()} is under the floor "
        f"{JUDGE_TEST_FLOOR}")


def test_test_cases_are_read_from_every_present_file(tmp_path):
    rows = [{"id": f"t{i}", "sentence": "s", "passage": "p", "supported": i % 2 == 0} for i in range(3)]
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n", encoding="utf-8")
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps(rows[2]) + "\n", encoding="utf-8")
    cases = load_test_cases([first, tmp_path / "missing.jsonl", second])
    assert [c.id for c in cases] == ["t0", "t1", "t2"] and [c.supported for c in cases] == [True, False, True]
    test = {(c.sentence, c.passage) for c in load_test_cases()}
    assert test and not test & {(c.sentence, c.passage) for c in load_judge_cases()}  # no shared case
