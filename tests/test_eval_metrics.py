"""Exact values of the eval's answer matching and statistics on tiny hand-made cases."""

from __future__ import annotations

import math

import pytest

from qa.eval.metrics import (
    best_f1,
    bootstrap_quantile,
    bootstrap_ratio,
    exact_match,
    normalize,
    numeric_match,
    quantile,
    ratio,
    share,
    token_f1,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("The U.S. and al-Qaeda's 1,000 troops [1][2].", "us and al qaeda 1000 troops"),
    ("A hundred and thirty-two foreigners", "132 foreigners"),
    ("five hundred and seventy-three Algerians", "573 algerians"),
    ("Norway’s Statoil, Britain's BP!", "norway statoil britain bp"),
    ("It rose 3.5 percent", "it rose 3.5 percent"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_numbers_in_words_and_digits_match_both_ways():
    assert exact_match("Sources said about sixty hostages were still captive [2].", ["60"])
    assert exact_match("State media said 650 hostages were freed.", ["six hundred and fifty"])
    assert exact_match("More than one thousand troops.", ["1,000"])


def test_whole_word_matching():
    assert not exact_match("State media said 650 hostages were freed.", ["60"])
    assert not exact_match("Of them 573 were Algerians.", ["57"])
    assert not exact_match("The Algerians said so.", ["Algeria"])
    assert exact_match("It was Belmokhtar's group.", ["Belmokhtar"])


def test_all_of_groups_must_all_match():
    groups = [["U.K.", "Britain"], ["U.S.", "United States"], ["Japan"]]
    assert exact_match("Britain, the United States and Japan were not consulted.", [], groups)
    assert not exact_match("Britain and Japan were not consulted.", [], groups)
    # all_of replaces answers when given
    assert not exact_match("Britain", ["Britain"], groups)


def test_token_f1_exact_values():
    # pred tokens: cat sat on mat (4); gold: cat on mat (3); common 3 -> P 3/4, R 1
    assert token_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert token_f1("sixty hostages", "60") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("nothing shared", "650") == 0.0
    assert best_f1("Mokhtar Belmokhtar", ["Belmokhtar", "Mokhtar Belmokhtar"]) == 1.0
    assert best_f1("anything", []) == 0.0


def test_numeric_match():
    assert numeric_match("He sent more than 1,000 troops [1].", ["one thousand"]) is True
    assert numeric_match("He sent 100 troops.", ["1,000"]) is False
    assert numeric_match("Mokhtar Belmokhtar", ["Belmokhtar"]) is None
    # the marker [1] is not a number the answer states
    assert numeric_match("None were found [1].", ["1"]) is False


def test_bootstrap_contains_point_and_is_deterministic():
    flags = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    value, low, high = bootstrap_ratio(flags, seed=7)
    assert value == pytest.approx(0.7)
    assert low <= value <= high
    assert 0.0 <= low < high <= 1.0
    assert bootstrap_ratio(flags, seed=7) == (value, low, high)
    metric = share("x", [bool(f) for f in flags], seed=7)
    assert (metric.value, metric.low, metric.high, metric.n) == (value, low, high, 10)


def test_bootstrap_edge_cases():
    assert all(math.isnan(v) for v in bootstrap_ratio([]))
    assert bootstrap_ratio([1, 1, 1]) == (1.0, 1.0, 1.0)
    # a ratio whose denominator is zero in some resamples still has an interval
    m = ratio("precision", [1, 0, 0, 0], [1, 1, 0, 0])
    assert (m.value, m.n) == (0.5, 2)
    assert m.low <= 0.5 <= m.high
    assert "n/a" in share("empty", []).show()


def test_quantiles():
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert bootstrap_quantile(values, 0.5)[0] == 3.0
    m = quantile("total p95", values, 0.95)
    assert m.value == pytest.approx(80.8)
    assert m.low <= m.value <= m.high
    assert m.unit == "s" and not m.higher_is_better
