"""ALCE citation recall/precision with qa.cite's judge, and the judge's check on labelled cases."""

from __future__ import annotations

import pytest

from qa.eval.judge import JudgeCase, citation_scores, cited_sentences, judge_check, supported

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
    assert [c.predicted for c in cases] == [True, False, check.cases[2].predicted]
    assert check.true_positive == 1 and check.true_negative >= 1
