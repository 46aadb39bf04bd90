"""Turn a model's draft into a cited answer: parse `[n]` markers, check support, re-cite or drop.

Each sentence of the draft is checked against the passages by the support judge
(`qa.support`: numbers bound to what they count, names, event words, polarity and
most content words must be in one passage sentence). The model's own markers are only a hint:
a supported sentence is cited to the passages that support it, an unsupported
one is removed, and every change is recorded. No model is called here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.accounts import count_queries, reported_figures
from qa.chunk import sentence_spans
from qa.prompt import ABSTAIN_TEXT
from qa.records import Citation, Hit
from qa.sources import attribute, source_of
from qa.support import (
    asks_for_time,
    claim_of,
    count_focus,
    evidence_of,
    gives_count_of,
    states_time,
    supporting_passages,
    supports,
)
from qa.text import numbers, words

__all__ = ["MARKER_RE", "Grounded", "draft_sentences", "ground", "is_abstention", "parse_markers",
           "supporting_passages"]

_MAX_ADDED_PER_PART = 2
MARKER_RE = re.compile(r"\s*[\[【]\s*(\d+(?:\s*[,;–-]\s*\d+)*)\s*[\]】]")
_PASSAGE_PREAMBLE_RE = re.compile(
    r"^(?:according to|based on|as stated in|as per|in|from) (?:the )?"
    r"(?:(?:information|details?|text) (?:provided |given )?(?:in )?(?:the )?)?(?:provided |given )?"
    r"(?:passages?|texts?|context|articles?)(?: provided| given)?"
    r"(?:\s*\[?\d+\]?)?\s*,\s*", re.IGNORECASE)
# "(Title) answer ...": the model repeating a passage's heading before its sentence.
_LEADING_HEADING_RE = re.compile(r"^\([^()]{1,80}\)\s+(?=\S)")
_ABSTAIN_RE = re.compile(
    r"(?:articles?|passages?|texts?|sources?|context|information provided)\s+"
    r"(?:do|does|did)\s*(?:n['’]?t|not)\s+(?:say|mention|state|specify|provide|contain|include|give|"
    r"answer|report)"
    r"|\b(?:not|never)\s+(?:mentioned|stated|specified|provided|given|reported|available)\b"
    r"|\bno (?:information|mention|details?)\b|\bcannot (?:be )?(?:determined?|answer)"
    r"|\b(?:i|we) (?:do not|don['’]?t) know\b|\bunknown\b|\bnot enough information\b",
    re.IGNORECASE,
)


@dataclass
class Grounded:
    """The checked answer: final text with markers renumbered, its citations, what changed."""

    text: str
    citations: list[Citation]
    abstained: bool
    abstain_reason: str = ""
    changes: list[str] = field(default_factory=list)


def parse_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its `[n]` markers, and the marker numbers in order (1-based)."""
    found: list[int] = []
    for match in MARKER_RE.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[–-]\s*", part)
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
                lo, hi = int(bounds[0]), int(bounds[1])
                found.extend(range(lo, min(hi, lo + 10) + 1))
            elif part.isdigit():
                found.append(int(part))
    bare = MARKER_RE.sub("", sentence).strip()
    return re.sub(r"\s+([.,;:!?])", r"\1", bare), list(dict.fromkeys(found))


def is_abstention(text: str) -> bool:
    """Whether a sentence says the articles don't hold the answer."""
    return bool(_ABSTAIN_RE.search(text))


_TRAILING_MARKERS_RE = re.compile(r"([.!?])((?:\s*[\[【]\s*\d+(?:\s*[,;–-]\s*\d+)*\s*[\]】])+)")


def draft_sentences(draft: str) -> list[str]:
    """Sentences of a draft; markers written after a full stop are moved before it first."""
    text = _TRAILING_MARKERS_RE.sub(lambda m: f"{m.group(2)}{m.group(1)}", draft.strip())
    return [text[start:end] for start, end in sentence_spans(text)]


def ground(draft: str, hits: list[Hit], question: str = "") -> Grounded:
    """Check every sentence of `draft` against `hits` and build the cited answer.

    With the `question`, an answer to "how many X" must count X: a sentence whose
    numbers count something else is removed (it may be true, but it is no answer); an
    answer to "what date / which year ..." must state a time somewhere, or it abstains.
    A kept figure is attributed to the source its passage names ("According to
    state media, ..."), and figures for X that other named sources give in the
    passages are added, cited, so differing accounts are all shown.
    """
    sentences = draft_sentences(draft)
    changes: list[str] = []
    kept: list[tuple[str, list[int]]] = []
    reason = "the model found no answer in the passages"
    if sentences and not is_abstention(sentences[0]):
        kept = _supported(sentences, hits, frozenset(numbers(question)), changes)
        reason = "no sentence of the draft is supported by the passages"
        focus = count_focus(question)
        if focus and kept:
            counts = [gives_count_of(sentence, focus) for sentence, _ in kept]
            if not any(counts):
                reason = "no sentence gives the number asked for"
            answer_only: list[tuple[str, list[int]]] = []
            for (sentence, cited), counts_focus in zip(kept, counts, strict=True):
                if any(counts) and (counts_focus or not claim_of(sentence).numbers):
                    answer_only.append((sentence, cited))
                else:
                    changes.append(f"removed a sentence that counts something other than "
                                   f"{' '.join(sorted(focus))!r}: {sentence!r}")
            kept = answer_only
        if kept and asks_for_time(question) and not any(states_time(sentence) for sentence, _ in kept):
            changes.append("removed every sentence: none states the date or time asked for")
            reason = "no sentence gives the date or time asked for"
            kept = []
    sources: set[str] = set()
    kept = [(_with_source(sentence, cited, hits, changes, sources), cited) for sentence, cited in kept]
    kept += _other_reports(question, kept, hits, changes, sources)
    if not kept:
        return Grounded(ABSTAIN_TEXT, [], True, reason, changes)
    return _assemble(kept, hits, changes)


def _supported(sentences: list[str], hits: list[Hit], given: frozenset[float],
               changes: list[str]) -> list[tuple[str, list[int]]]:
    """The draft sentences some passage supports, each with the passages it cites (0-based).
    Numbers the question states (`given`) need not be in the passage."""
    kept: list[tuple[str, list[int]]] = []
    for sentence in sentences:
        bare, markers = parse_markers(sentence)
        valid = [m - 1 for m in markers if 1 <= m <= len(hits)]
        for m in markers:
            if not 1 <= m <= len(hits):
                changes.append(f"dropped marker [{m}]: no such passage")
        bare = _LEADING_HEADING_RE.sub("", _PASSAGE_PREAMBLE_RE.sub("", bare))
        bare = bare[:1].upper() + bare[1:]
        if not words(bare):
            continue
        if is_abstention(bare):
            changes.append(f"removed a 'not stated' aside: {bare!r}")
            continue
        if not claim_of(bare).has_content:
            continue
        cited = supporting_passages(bare, hits, valid, given)
        if not cited:
            changes.append(f"removed unsupported sentence: {bare!r}")
            continue
        if valid and set(cited) != set(valid):
            old = "".join(f"[{m + 1}]" for m in valid)
            new = "".join(f"[{m + 1}]" for m in cited)
            changes.append(f"re-cited {old} -> {new}: {bare!r}")
        elif not valid:
            changes.append(f"cited {''.join(f'[{m + 1}]' for m in cited)}: {bare!r}")
        kept.append((bare, cited))
    return kept


def _evidence_sentence(sentence: str, passage: Hit) -> str:
    """The sentence of the passage that supports `sentence`, or ''."""
    claim = claim_of(sentence)
    text = passage.text
    for start, end in sentence_spans(text) or [(0, len(text))]:
        if supports(claim, evidence_of(text[start:end])):
            return text[start:end]
    return ""


def _with_source(sentence: str, cited: list[int], hits: list[Hit], changes: list[str],
                 sources: set[str]) -> str:
    """A sentence stating a count, prefixed with the source its one supporting passage sentence
    names; that source is added to `sources`."""
    if not claim_of(sentence).bindings or len(cited) != 1:
        return sentence
    source = source_of(_evidence_sentence(sentence, hits[cited[0]]))
    sources.add(source.lower())
    attributed = attribute(sentence, source)
    if attributed != sentence:
        changes.append(f"attributed to its source: {attributed!r}")
    return attributed


def _other_reports(question: str, kept: list[tuple[str, list[int]]], hits: list[Hit],
                   changes: list[str], sources: set[str]) -> list[tuple[str, list[int]]]:
    """Passage sentences in which a source other than the answer's gives a figure for what the
    question counts that the answer does not state yet: at most two per 'how many' part, quoted
    and cited."""
    stated = {f"{v:g}" for sentence, _ in kept for v in numbers(sentence)}
    answer_text = " ".join(sentence for sentence, _ in kept).lower()
    quoted = {sentence for sentence, _ in kept}
    added: list[tuple[str, list[int]]] = []
    for query in count_queries(question):
        new = 0
        for figure in reported_figures(query, hits):
            if new == _MAX_ADDED_PER_PART:
                break
            if figure.key in stated or (figure.value is None and figure.amount.lower() in answer_text) \
                    or figure.source.lower() in sources:
                continue
            if figure.sentence in quoted:
                stated.add(figure.key)
                continue
            sentence = figure.sentence[:1].upper() + figure.sentence[1:]
            added.append((sentence, [figure.passage]))
            quoted.add(figure.sentence)
            stated.update({figure.key} | {f"{v:g}" for v in numbers(figure.sentence)})
            changes.append(f"added the figure {figure.amount!r} that {figure.source} gives: {sentence!r}")
            new += 1
    return added


def _assemble(kept: list[tuple[str, list[int]]], hits: list[Hit], changes: list[str]) -> Grounded:
    """Renumber cited passages by first use and write the markers before each full stop."""
    number_of: dict[int, int] = {}
    citations: list[Citation] = []
    parts = []
    for index, (sentence, cited) in enumerate(kept):
        labels = []
        for p in cited:
            if p not in number_of:
                number_of[p] = len(number_of) + 1
                hit = hits[p]
                citations.append(Citation(n=number_of[p], doc_id=hit.doc_id, title=hit.title,
                                          text=hit.text, start=hit.start, end=hit.end,
                                          score=hit.score, url=hit.url, published=hit.published))
            citations[number_of[p] - 1].cited_by.append(index)
            labels.append(f"[{number_of[p]}]")
        body, end = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
        parts.append(f"{body} {''.join(labels)}{end}")
    return Grounded(" ".join(parts), citations, False, "", changes)
