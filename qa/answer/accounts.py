"""Reported figures: who says how many. Finds attributed counts in passages; lexical, deterministic.

News reports often give one count several times, each from its own source (state
media, a security source, a wire service), and the figures differ. For each
"how many X ..." part of a question this module finds the passage sentences that
state a figure for X, with the event the question asks about, and the source the
sentence attributes it to. `qa.answer.cite` uses it to attribute the answer's figures and
to add the figures other sources give. It does not judge which figure is right,
does not read sources that are not named in the same sentence, and calls no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer.sources import source_of
from qa.answer.support import counted_after, is_content, tokenize
from qa.ingest.chunk import sentence_spans
from qa.lexicon import AUXILIARIES, EVENT_GROUPS, IRREGULAR_PLURALS, STOPWORDS
from qa.records import Hit
from qa.text import stem, words

__all__ = ["CountQuery", "Figure", "count_queries", "reported_figures"]

_EVENT_OF = {s: group for group, stems in EVENT_GROUPS.items() for s in stems}
_HOW_MANY_PART_RE = re.compile(
    r"\bhow (?:many|much)\b(.*?)(?=,?\s*\b(?:and|or|but)\s+how (?:many|much)\b|[?]|$)",
    re.IGNORECASE | re.DOTALL)
_LEADING_AUXILIARY_RE = re.compile(r"^\s*(?:" + "|".join(sorted(AUXILIARIES)) + r")\b", re.I)
_VAGUE_AMOUNT_RE = re.compile(
    r"\b((?:an?\s+)?(?:unspecified|unknown|undisclosed|unconfirmed|uncertain)\s+number"
    r"|(?:several|many|a\s+few)\s+(?:dozen|hundred|thousand)s?"
    r"|(?:dozens|hundreds|thousands|scores))\s+(?:of\s+)?((?:[A-Za-z'’-]+\s+){0,4}[A-Za-z'’-]+)",
    re.IGNORECASE,
)
_WORDS_BEFORE, _WORDS_AFTER = 4, 11
_VAGUE_SCALE_WORDS = frozenset({"dozen", "dozens", "hundred", "hundreds", "thousand", "thousands"})


@dataclass(frozen=True)
class CountQuery:
    """One 'how many X ...' part of a question: the stems of X and the event groups it asks about."""

    focus: frozenset[str]
    events: frozenset[str]


@dataclass(frozen=True)
class Figure:
    """A count a passage sentence states for a query, as written, with the source it names."""

    passage: int  # 0-based index into the hits
    sentence: str
    amount: str  # as written: "Thirty", "about 60" is "60", "an unspecified number"
    value: float | None  # None for vague amounts ("many dozens")
    source: str

    @property
    def key(self) -> str:
        """What two figures must share to be the same figure."""
        return f"{self.value:g}" if self.value is not None else self.amount.lower()


def count_queries(question: str) -> list[CountQuery]:
    """The 'how many' parts of a question; a part like 'and how many were held' reuses the last X."""
    queries: list[CountQuery] = []
    for match in _HOW_MANY_PART_RE.finditer(question):
        part = match.group(1)
        focus = _counted_noun(part)
        if not focus and queries and _LEADING_AUXILIARY_RE.match(part):
            focus = queries[-1].focus
        if not focus:
            continue
        events = frozenset(_EVENT_OF[s] for s in (stem(w) for w in words(part))
                           if s in _EVENT_OF and s not in focus)
        queries.append(CountQuery(focus, events))
    return queries


def _counted_noun(part: str) -> frozenset[str]:
    """Stems of X in 'how many X ...': words up to the first plural noun, at most three."""
    focus: list[str] = []
    for word in words(part)[:4]:
        low = word.lower()
        if low in STOPWORDS or (stem(low) in _EVENT_OF and focus):
            break
        focus.append(stem(low))
        if low in IRREGULAR_PLURALS or (len(low) > 3 and low.endswith("s") and not low.endswith("ss")):
            break
    return frozenset(focus[:3])


def _matches(query: CountQuery, counted: set[str], sentence_stems: set[str],
             events: set[str] | frozenset[str]) -> bool:
    """The figure counts X, the sentence has all of X's words, and the events near the figure fit."""
    if not counted & query.focus or not query.focus <= sentence_stems | counted:
        return False
    return bool(events & query.events) if query.events else not events


def reported_figures(query: CountQuery, hits: list[Hit], require_source: bool = True,
                     any_events: bool = False) -> list[Figure]:
    """Attributed figures for `query` in the passages, in passage order; one per passage sentence and key.

    A figure counts X (one of X's words right after the number), every word of X is
    in the sentence, the sentence's events meet the query's (or both have none), and
    the sentence names its source. Unattributed figures are left out unless
    `require_source` is false (their `source` is then ''). `any_events` skips the event check
    (the caller weighs the words around each figure itself).
    """
    found: list[Figure] = []
    seen: set[tuple[int, str]] = set()
    for p, hit in enumerate(hits):
        for start, end in sentence_spans(hit.text) or [(0, len(hit.text))]:
            sentence = hit.text[start:end].strip()
            source = source_of(sentence)
            if not source and require_source:
                continue
            stems = {stem(w) for w in words(sentence)}
            for amount, value, counted, near in _figures_in(sentence):
                events = {_EVENT_OF[s] for s in near if s in _EVENT_OF and s not in query.focus}
                if not _matches(query, counted, stems, events) and not (
                        any_events and _matches(query, counted, stems, query.events)):
                    continue
                key = f"{value:g}" if value is not None else amount.lower()
                if (p, key) not in seen:
                    seen.add((p, key))
                    found.append(Figure(p, sentence, amount, value, source))
    return found


def _figures_in(sentence: str) -> list[tuple[str, float | None, set[str], list[str]]]:
    """(amount as written, value or None, stems of what it counts, stems of the words around it)
    for each count in a sentence. 'Around' is a few words before and up to ten after."""
    spans = [(m.start(), stem(m.group().lower())) for m in re.finditer(r"[\w'’-]+", sentence)]

    def near(offset: int) -> list[str]:
        i = next((n for n, (start, _) in enumerate(spans) if start >= offset), len(spans))
        return [w for _, w in spans[max(0, i - _WORDS_BEFORE) : i + _WORDS_AFTER]]

    out: list[tuple[str, float | None, set[str], list[str]]] = []
    vague_words: set[str] = set()
    for match in _VAGUE_AMOUNT_RE.finditer(sentence):
        counted = {stem(w.lower()) for w in words(match.group(2)) if is_content(w.lower())}
        out.append((match.group(1), None, counted, near(match.start())))
        vague_words.update(w.lower() for w in words(match.group(1)))
    tokens = tokenize(sentence)
    cursor = 0
    for i, (raw, low, value) in enumerate(tokens):
        found = sentence.find(raw.split(" ")[0], cursor)
        cursor = found + 1 if found >= 0 else cursor
        if value is None or (low in _VAGUE_SCALE_WORDS and low in vague_words):
            continue
        out.append((raw, value, set(counted_after(tokens, i)), near(max(found, 0))))
    return out
