"""Answer matching and summary statistics: normalisation, exact match, token F1, bootstrap intervals.

Matching is SQuAD-style (lower case, punctuation and articles dropped) with
numbers unified ("six hundred and fifty" and "650" both become `650`). Because
the assistant answers in sentences, "exact match" here means an alias occurs
as a whole-word span of the normalised answer ("60" does not match "650").
Token F1 is SQuAD's, taken as the best over aliases. This module knows nothing
about the assistant; it scores strings and arrays of numbers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.text import NUMBER_WORDS, numbers

ARTICLES = frozenset({"a", "an", "the"})
_MARKER_RE = re.compile(r"\s*[\[【]\s*\d+(?:\s*[,;–-]\s*\d+)*\s*[\]】]")
_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+", re.UNICODE)


def normalize_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without punctuation, articles or `[n]` markers; numbers as digits.

    "U.S." -> `us`; "al-Qaeda" -> `al qaeda`; "Norway's" -> `norway`; "1,000" and
    "one thousand" -> `1000`; "3.5" stays `3.5`.
    """
    text = _MARKER_RE.sub(" ", text).lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)          # 1,000 -> 1000
    text = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text)    # u.s. -> us.
    text = re.sub(r"'s\b", "", text)                          # possessive
    text = text.replace("'", "")
    tokens = [t for t in _TOKEN_RE.findall(text) if t not in ARTICLES]
    return _unify_numbers(tokens)


def _unify_numbers(tokens: list[str]) -> list[str]:
    """Runs of number words ("five hundred and seventy three") become one digit token."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] not in NUMBER_WORDS:
            out.append(tokens[i])
            i += 1
            continue
        j = i
        while j < len(tokens) and (tokens[j] in NUMBER_WORDS or (
                tokens[j] == "and" and j + 1 < len(tokens) and tokens[j + 1] in NUMBER_WORDS)):
            j += 1
        values = numbers(" ".join(tokens[i:j]))
        out.append(_digits(max(values)) if values else " ".join(tokens[i:j]))
        i = j
    return out


def _digits(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def normalize(text: str) -> str:
    """The normalised text as one string (tokens joined by single spaces)."""
    return " ".join(normalize_tokens(text))


def contains_span(answer: Sequence[str], alias: Sequence[str]) -> bool:
    """Whether the token list `alias` occurs contiguously in `answer` (whole words only)."""
    n = len(alias)
    if n == 0:
        return False
    return any(list(answer[i:i + n]) == list(alias) for i in range(len(answer) - n + 1))


def alias_match(answer: str, aliases: Sequence[str]) -> bool:
    """Whether any alias appears as a whole-word span of the normalised answer."""
    tokens = normalize_tokens(answer)
    return any(contains_span(tokens, normalize_tokens(a)) for a in aliases)


def exact_match(answer: str, answers: Sequence[str], all_of: Sequence[Sequence[str]] = ()) -> bool:
    """Span exact match: every `all_of` group matches when given, else any alias of `answers`."""
    if all_of:
        return all(alias_match(answer, group) for group in all_of)
    return alias_match(answer, answers)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between two texts after normalisation (both empty counts as 1.0)."""
    pred, ref = normalize_tokens(prediction), normalize_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_f1(answer: str, aliases: Sequence[str]) -> float:
    """The best token F1 of the answer against any alias (0.0 when there is none)."""
    return max((token_f1(answer, a) for a in aliases), default=0.0)


def numeric_match(answer: str, aliases: Sequence[str]) -> bool | None:
    """Whether the answer states a number that some alias states; None when no alias has one."""
    gold = set().union(*(numbers(a) for a in aliases)) if aliases else set()
    if not gold:
        return None
    return bool(gold & numbers(_MARKER_RE.sub(" ", answer)))


# ---- summary statistics with bootstrap intervals ---------------------------------------------

@dataclass
class Metric:
    """A point estimate with its bootstrap 95% interval over `n` items.

    `unit` is "%" for shares (stored as 0..1) and "s" for seconds; `higher_is_better`
    tells `qa eval --compare` which way is an improvement. `value` is NaN when n == 0.
    """

    name: str
    value: float
    low: float
    high: float
    n: int
    unit: str = "%"
    higher_is_better: bool = True

    def show(self) -> str:
        """'81.5% [72.3, 89.2] n=65' or '3.21s [2.9, 3.6] n=40'."""
        if self.n == 0 or math.isnan(self.value):
            return f"n/a (n={self.n})"
        if self.unit == "%":
            return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}] n={self.n}"
        return f"{self.value:.2f}{self.unit} [{self.low:.2f}, {self.high:.2f}] n={self.n}"


def bootstrap_ratio(numerators: Sequence[float], denominators: Sequence[float] | None = None,
                    resamples: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> tuple[float, float, float]:
    """sum(num)/sum(den) over items, with a percentile bootstrap interval (items resampled).

    With `denominators` None this is the mean. Resamples whose denominator sums to
    zero are dropped. Deterministic for a given seed. Returns (value, low, high),
    NaNs when there are no items or the denominator is zero.
    """
    num = np.asarray(numerators, dtype=float)
    den = np.ones_like(num) if denominators is None else np.asarray(denominators, dtype=float)
    if num.size == 0 or den.sum() == 0:
        return math.nan, math.nan, math.nan
    value = float(num.sum() / den.sum())
    rng = np.random.default_rng(seed)
    index = rng.integers(0, num.size, size=(resamples, num.size))
    den_s = den[index].sum(axis=1)
    keep = den_s > 0
    stats = num[index].sum(axis=1)[keep] / den_s[keep]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return value, float(low), float(high)


def bootstrap_quantile(values: Sequence[float], q: float, resamples: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float, float]:
    """The q-quantile (0.5 = median) of values with a percentile bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.quantile(data[rng.integers(0, data.size, size=(resamples, data.size))], q, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(np.quantile(data, q)), float(low), float(high)


def share(name: str, flags: Sequence[bool | float], seed: int = 0) -> Metric:
    """The share of true flags (or mean of 0..1 scores), with its interval."""
    value, low, high = bootstrap_ratio([float(f) for f in flags], seed=seed)
    return Metric(name, value, low, high, len(flags))


def ratio(name: str, numerators: Sequence[bool | float], denominators: Sequence[bool | float],
          seed: int = 0, higher_is_better: bool = True) -> Metric:
    """sum(num)/sum(den) with its interval; n counts the items with a non-zero denominator."""
    value, low, high = bootstrap_ratio([float(x) for x in numerators], [float(x) for x in denominators],
                                       seed=seed)
    return Metric(name, value, low, high, sum(1 for d in denominators if d), "%", higher_is_better)


def quantile(name: str, values: Sequence[float], q: float, seed: int = 0) -> Metric:
    """A latency quantile in seconds (lower is better)."""
    value, low, high = bootstrap_quantile(values, q, seed=seed)
    return Metric(name, value, low, high, len(values), "s", higher_is_better=False)
