"""The support judge: does a passage state what an answer sentence says? Lexical, deterministic.

A sentence is reduced to a `Claim`: the numbers it states (each bound to the word
it counts), its names, its event words (killed, freed, captured ...), whether it
is negated, the source it credits ("X said"), and its other content words. A
passage sentence supports the claim when it has every number bound to the same
word, every name, the same event groups, the same polarity, no other named source,
and at least `MIN_COVERAGE` of all the claim's content. It does not understand
paraphrase beyond stems and a few synonym groups, nor roles without numbers
("A masterminded B" vs "B masterminded A"): see docs/eval.md for its measured accuracy.
No model is called here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from qa.answer.sources import same_source, source_of
from qa.ingest.chunk import sentence_spans
from qa.lexicon import (
    CALENDAR,
    CLAUSE_BOUNDARIES,
    EVENT_GROUPS,
    HEDGES,
    NEGATION_STEMS,
    NEGATIONS,
    NUMBER_WORDS,
    ORDINALS,
    STOPWORDS,
    TIME_WORDS,
    TOKEN_RE,
)
from qa.records import Hit
from qa.text import numbers as parse_numbers
from qa.text import stem, words

MIN_COVERAGE = 0.6
_EVENT_OF = {s: group for group, stems in EVENT_GROUPS.items() for s in stems}
_BOUND_WORDS = 2


@dataclass(frozen=True)
class Claim:
    """What a sentence asserts, as the support judge sees it."""

    numbers: frozenset[float] = frozenset()
    bindings: frozenset[tuple[float, frozenset[str]]] = frozenset()
    names: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    negated: bool = False
    terms: frozenset[str] = frozenset()
    source: str = ""  # who the sentence says is speaking ("X said ..."), if anyone

    @property
    def has_content(self) -> bool:
        return bool(self.numbers or self.names or self.terms or self.events)


@dataclass(frozen=True)
class Evidence:
    """One passage sentence, prepared for matching."""

    numbers: frozenset[float]
    bound: dict[float, frozenset[str]] = field(hash=False)
    terms: frozenset[str]
    events: frozenset[str]
    negated: bool
    clause_polarity: tuple[tuple[frozenset[str], bool], ...] = field(default=(), hash=False)
    source: str = ""


def tokenize(text: str) -> list[tuple[str, str, float | None]]:
    """(raw token, lower-case stem, number value or None), number-word runs merged into one."""
    raw = TOKEN_RE.findall(text)
    out: list[tuple[str, str, float | None]] = []
    i = 0
    while i < len(raw):
        token = raw[i]
        low = token.lower().replace("’", "'")
        if low[0].isdigit():
            try:
                out.append((token, low, float(low.replace(",", ""))))
            except ValueError:
                out.append((token, low, None))
            i += 1
            continue
        if low in NUMBER_WORDS and low != "one":
            j = i
            while j + 1 < len(raw) and (raw[j + 1].lower() in NUMBER_WORDS or
                                        (raw[j + 1].lower() == "and" and j + 2 < len(raw)
                                         and raw[j + 2].lower() in NUMBER_WORDS)):
                j += 1
            values = parse_numbers(" ".join(raw[i : j + 1]))
            out.append((" ".join(raw[i : j + 1]), low, max(values) if values else None))
            i = j + 1
            continue
        if low in ORDINALS and low not in ("second", "half", "dozen", "dozens"):
            out.append((token, low, float(ORDINALS[low])))
            i += 1
            continue
        out.append((token, low, None))
        i += 1
    return out


def is_content(low: str) -> bool:
    return low not in STOPWORDS and low not in HEDGES and len(low) > 1


def _bindings(tokens: list[tuple[str, str, float | None]]) -> dict[float, set[str]]:
    """Each number -> the next few content stems after it (what it counts)."""
    bound: dict[float, set[str]] = {}
    for i, (_raw, _low, value) in enumerate(tokens):
        if value is None:
            continue
        bound.setdefault(value, set()).update(counted_after(tokens, i))
    return bound


def counted_after(tokens: list[tuple[str, str, float | None]], i: int) -> list[str]:
    """The content stems right after the number at `i`, up to two, stopping at 'and' or punctuation."""
    found: list[str] = []
    for _r, low, v in tokens[i + 1 : i + 6]:
        if low in CLAUSE_BOUNDARIES:
            break
        if low in CALENDAR:
            return []
        if v is None and is_content(low):
            found.append(stem(low))
            if len(found) == _BOUND_WORDS:
                break
    return found


def _negated(tokens: list[tuple[str, str, float | None]]) -> bool:
    return any(low in NEGATIONS or low.endswith("n't") or stem(low) in NEGATION_STEMS
               for _r, low, _v in tokens)


@lru_cache(maxsize=8192)
def claim_of(sentence: str) -> Claim:
    """The claim a sentence makes (numbers, bindings, names, events, polarity, terms)."""
    tokens = tokenize(sentence)
    numbers = frozenset(v for _r, _l, v in tokens if v is not None)
    bindings = {(value, frozenset(words_)) for value, words_ in _bindings(tokens).items() if words_}
    names, terms, events = set(), set(), set()
    for i, (raw, low, value) in enumerate(tokens):
        if value is not None or not is_content(low):
            continue
        stemmed = stem(low)
        if stemmed in _EVENT_OF:
            events.add(_EVENT_OF[stemmed])
        if i > 0 and raw[0].isupper():
            names.add(stemmed)
        else:
            terms.add(stemmed)
    return Claim(numbers=numbers, bindings=frozenset(bindings), names=frozenset(names),
                 events=frozenset(events), negated=_negated(tokens), terms=frozenset(terms - names),
                 source=source_of(sentence))


@lru_cache(maxsize=8192)
def evidence_of(sentence: str) -> Evidence:
    """A passage sentence prepared for matching against claims."""
    tokens = tokenize(sentence)
    terms = frozenset(stem(low) for _r, low, v in tokens if v is None and is_content(low))
    return Evidence(
        numbers=frozenset(v for _r, _l, v in tokens if v is not None),
        bound={k: frozenset(v) for k, v in _bindings(tokens).items()},
        terms=terms,
        events=frozenset(_EVENT_OF[t] for t in terms if t in _EVENT_OF),
        negated=_negated(tokens),
        clause_polarity=tuple(_clause_polarity(tokens)),
        source=source_of(sentence),
    )


def _clause_polarity(tokens: list[tuple[str, str, float | None]]) -> list[tuple[frozenset[str], bool]]:
    """(content stems, negated) of each comma- or conjunction-separated clause."""
    out: list[tuple[frozenset[str], bool]] = []
    current: list[tuple[str, str, float | None]] = []
    for token in [*tokens, (",", ",", None)]:
        if token[1] in CLAUSE_BOUNDARIES:
            if current:
                out.append((frozenset(stem(low) for _r, low, v in current if v is None and is_content(low)),
                            _negated(current)))
            current = []
        else:
            current.append(token)
    return out


def _polarity_matches(claim: Claim, evidence: Evidence) -> bool:
    """Same polarity as the sentence, or as the clause of it that carries most of the claim."""
    if claim.negated == evidence.negated:
        return True
    wanted = claim.terms | claim.names
    best = max(evidence.clause_polarity, key=lambda c: len(c[0] & wanted), default=None)
    return best is not None and best[1] == claim.negated and len(best[0] & wanted) >= len(wanted) / 2


@lru_cache(maxsize=4096)
def passage_evidence(text: str) -> tuple[Evidence, ...]:
    """Evidence for each sentence of a passage."""
    spans = sentence_spans(text) or [(0, len(text))]
    return tuple(evidence_of(text[s:e]) for s, e in spans)


def _name_present(name: str, terms: frozenset[str]) -> bool:
    if name in terms:
        return True
    return len(name) >= 4 and any(len(t) >= 4 and (t.startswith(name) or name.startswith(t))
                                  for t in terms)


def supports(claim: Claim, evidence: Evidence) -> bool:
    """Whether one passage sentence states the claim (see the module docstring for the rules)."""
    if not claim.numbers <= evidence.numbers:
        return False
    for value, counted in claim.bindings:
        if not counted & evidence.bound.get(value, frozenset()):
            return False
    if not all(_name_present(name, evidence.terms) for name in claim.names):
        return False
    if not claim.events <= evidence.events or not _polarity_matches(claim, evidence):
        return False
    if claim.source and evidence.source and not same_source(claim.source, evidence.source):
        return False  # "the board said X" is not supported by "Haugen said X"
    total = len(claim.numbers) + len(claim.names) + len(claim.terms)
    if total == 0:
        return bool(claim.events)
    covered = len(claim.numbers) + len(claim.names) + len(claim.terms & evidence.terms)
    return covered / total >= MIN_COVERAGE


_CLAUSE_BREAK = re.compile(r"\s*(?:;|,?\s+(?:while|whereas|although|but)\s+|,\s+and\s+)\s*", re.IGNORECASE)


def clauses(sentence: str) -> list[str]:
    """A sentence cut at ';', 'while', 'whereas', 'although', 'but' and ', and'."""
    return [c for c in _CLAUSE_BREAK.split(sentence) if c and words(c)]


def without_given(claim: Claim, given: frozenset[float]) -> Claim:
    """The claim without numbers the question itself stated ('which three companies ...')."""
    if not given:
        return claim
    return replace(claim, numbers=claim.numbers - given,
                   bindings=frozenset(b for b in claim.bindings if b[0] not in given))


def supporting_passages(sentence: str, hits: list[Hit], preferred: list[int],
                        given: frozenset[float] = frozenset()) -> list[int]:
    """0-based indexes of passages that support the sentence, preferring the model's own picks.

    Numbers in `given` (those the question states) are not required of the passages.
    The whole sentence supported by one passage sentence cites that passage; else
    each clause must be supported by some passage sentence, and the sentence cites
    one passage per clause. Returns [] when some clause with content is supported nowhere.
    """
    order = preferred + [p for p in range(len(hits)) if p not in preferred]
    evidence = {p: passage_evidence(hits[p].text) for p in order}

    def find(claim: Claim) -> int | None:
        return next((p for p in order if any(supports(claim, e) for e in evidence[p])), None)

    whole = without_given(claim_of(sentence), given)
    found = find(whole) if whole.has_content else None
    if found is not None:
        return [found]
    parts = [without_given(claim_of(c), given) for c in clauses(sentence)]
    if len(parts) <= 1:
        return []
    cited: list[int] = []
    for claim in parts:
        if not claim.has_content:
            continue
        p = find(claim)
        if p is None:
            return []
        if p not in cited:
            cited.append(p)
    return cited


def gives_count_of(sentence: str, focus: frozenset[str]) -> bool:
    """Whether the sentence states a number of the thing counted (or a bare number)."""
    bound = _bindings(tokenize(sentence))
    return any(not counted or any(_name_present(f, frozenset(counted)) for f in focus)
               for counted in bound.values())


_TIME_QUESTION_RE = re.compile(
    r"\b(?:what|which)\s+(?:exact\s+)?(?:date|day|year|month|time|century|decade|season)\b", re.IGNORECASE)
# A clock time, a year 1000-2099 or its decade, a day of the month, or a year BC/AD.
_TIME_NUMBER_RE = re.compile(
    r"\b\d{1,2}[:.]\d{2}\b|\b(?:1\d{3}|20\d{2})s?\b|\b\d{1,2}(?:st|nd|rd|th)\b|\b\d+ (?:BC|AD|BCE|CE)\b")


def asks_for_time(question: str) -> bool:
    """Whether the question asks for a date, day, year, month, time, century or decade."""
    return bool(_TIME_QUESTION_RE.search(question))


def states_time(sentence: str) -> bool:
    """Whether the sentence states a time: a month or weekday, a year or decade, a clock time,
    or a word like 'yesterday' or 'century'."""
    if _TIME_NUMBER_RE.search(sentence):
        return True
    lows = {w.lower() for w in words(sentence)}
    return bool(lows & (CALENDAR | TIME_WORDS)) or any(w in ORDINALS for w in lows if w.endswith("th"))
