"""Show why a passage supports an answer: split a checked answer into its sentences and
mark, in a passage, the words it shares with the sentences that cite it.

Output is HTML in which every character of article or model text is escaped; the
only tags are the `<mark>` elements added here. Nothing here retrieves, answers or
knows about a UI toolkit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from qa.ingest.chunk import sentence_spans
from qa.text import STOPWORDS, WORD_RE, content_terms, stem

# A checked answer (qa.answer.cite) is sentences joined by spaces, each ending "... [1][2]."
_CITED_SENTENCE_RE = re.compile(r"\S.*?(?:\s*\[\d+\])+[.!?](?=\s|$)", re.S)


def answer_sentences(text: str) -> list[str]:
    """The sentences of a checked answer, in order, so that `Citation.cited_by` indexes them."""
    text = text.strip()
    found = _CITED_SENTENCE_RE.findall(text)
    if found and re.sub(r"\s+", "", "".join(found)) == re.sub(r"\s+", "", text):
        return [s.strip() for s in found]
    return [text[s:e].strip() for s, e in sentence_spans(text)] if text else []


def shared_terms(sentences: Iterable[str]) -> set[str]:
    """The stemmed content words of some sentences, without their [n] markers."""
    terms: set[str] = set()
    for sentence in sentences:
        terms.update(content_terms(re.sub(r"\[\d+\]", " ", sentence)))
    return terms


def _term_of(word: str) -> str | None:
    lower = word.lower().replace("’", "'")
    if lower in STOPWORDS or (len(lower) < 2 and not lower.isdigit()):
        return None
    return stem(lower)


def highlight_html(passage: str, terms: set[str], tag: str = "mark") -> str:
    """The passage as escaped HTML with each word whose stem is in `terms` wrapped in <tag>."""
    out: list[str] = []
    last = 0
    for match in WORD_RE.finditer(passage):
        term = _term_of(match.group())
        if term is None or term not in terms:
            continue
        out.append(html.escape(passage[last:match.start()]))
        out.append(f"<{tag}>{html.escape(match.group())}</{tag}>")
        last = match.end()
    out.append(html.escape(passage[last:]))
    return "".join(out)


def supporting_span(passage: str, terms: set[str]) -> tuple[int, int]:
    """(start, end) of the passage sentence that shares most of `terms` ((0, 0) when none does)."""
    best, best_count = (0, 0), 0
    for start, end in sentence_spans(passage) or [(0, len(passage))]:
        count = len(terms & set(content_terms(passage[start:end])))
        if count > best_count:
            best, best_count = (start, end), count
    return best


def answer_highlight_html(passage: str, claims: Iterable[str], question: str = "") -> str:
    """The passage as escaped HTML with the answer span marked: within the passage sentence that
    best supports the claims, the words the claims state that the question does not (the
    answer); the claims' shared words when the answer adds none. Nothing outside that sentence."""
    claim_terms = shared_terms(claims)
    start, end = supporting_span(passage, claim_terms)
    if end <= start:
        return highlight_html(passage, set())
    answer_terms = claim_terms - shared_terms([question]) if question else claim_terms
    inside = set(content_terms(passage[start:end]))
    terms = (answer_terms & inside) or (claim_terms & inside)
    return (html.escape(passage[:start]) + highlight_html(passage[start:end], terms)
            + html.escape(passage[end:]))
