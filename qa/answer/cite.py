"""Turn a model's draft into a cited answer: parse `[n]` markers, judge support, keep what answers.

Each sentence of the draft goes to the support judge (`qa.answer.judge`); the model's own markers
are only a hint. A supported sentence is cited to the passages that support it, an
unsupported one is removed. Of the supported sentences, only those holding an answer of the
kind the question asks for (`qa.answer.intent`) are kept; a one-fact question keeps its best one, a
yes/no question is answered "Yes" or "No" with the cited reason. Figures that named sources
give for the count asked about become structured `accounts`. Every change is recorded. No
model is called here (the judge may use the embedder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.answer.accounts import Figure, reported_figures
from qa.answer.injection import strip_markers
from qa.answer.intent import COUNT, NUMBER, PERSON, PLACE, TIME, YES_NO, Intent, parse_intent
from qa.answer.judge import Judge, LearnedJudge, answers_kind
from qa.answer.prompt import ABSTAIN_TEXT
from qa.answer.sources import attribute, source_of
from qa.answer.support import claim_of, clauses, evidence_of, supporting_passages, supports
from qa.ingest.chunk import sentence_spans
from qa.records import Account, Citation, Hit
from qa.text import STOPWORDS, content_terms, numbers, words

__all__ = ["MARKER_RE", "Grounded", "clean_sentence", "default_judge", "draft_sentences", "ground",
           "is_abstention",
           "parse_markers", "supporting_passages"]

ONE_FACT_KINDS = frozenset({COUNT, NUMBER, TIME, PERSON, PLACE, YES_NO})
MAX_ONE_FACT_CHARS = 200
_MAX_ADDED_REPORTS = 1
MARKER_RE = re.compile(r"\s*[\[【]\s*(\d+(?:\s*[,;–-]\s*\d+)*)\s*[\]】]")
_PASSAGE_PREAMBLE_RE = re.compile(
    r"^(?:according to|based on|as stated in|as per|in|from) (?:the )?"
    r"(?:(?:information|details?|text) (?:provided |given )?(?:in )?(?:the )?)?(?:provided |given )?"
    r"(?:passages?|texts?|context|articles?)(?: provided| given)?"
    r"(?:\s*\[?\d+\]?)?\s*,\s*"
    r"|^(?:the |this )?(?:passages?|texts?|context|articles?)(?:\s*\[?\d+\]?)?\s+"
    r"(?:states?|says?|mentions?|indicates?|notes?|reports?|explains?)\s+(?:that\s+)?", re.IGNORECASE)
# "Yes," or "No," in front of an answer to a question that is not a yes/no question.
_STRAY_YES_NO_RE = re.compile(r"^(?:yes|no)\s*[,.!:;-]\s*(?=\S)", re.IGNORECASE)
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
_YES_NO_LEAD_RE = re.compile(r"^\s*(yes|no)\b[\s,.;:!-]*", re.IGNORECASE)
_TRAILING_MARKERS_RE = re.compile(r"([.!?])((?:\s*[\[【]\s*\d+(?:\s*[,;–-]\s*\d+)*\s*[\]】])+)")

_default_judge: Judge | None = None


def default_judge() -> Judge:
    """The shipped fitted judge (the lexical rules when no fitted model is shipped)."""
    global _default_judge
    if _default_judge is None:
        _default_judge = LearnedJudge()
    return _default_judge


@dataclass
class Grounded:
    """The checked answer: final text with markers renumbered, its citations, what changed, and
    the figures sources report for the count asked about."""

    text: str
    citations: list[Citation]
    abstained: bool
    abstain_reason: str = ""
    changes: list[str] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)


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


def clean_sentence(sentence: str, yes_no: bool = False) -> tuple[str, list[int]]:
    """A draft sentence without its markers, a "Based on the passages," or "The passage states
    that" preamble, an echoed "(Title)" heading, or (unless the question is yes/no) a stray
    leading "Yes,"; capitalised; and its marker numbers (1-based)."""
    bare, markers = parse_markers(sentence)
    if not yes_no:
        bare = _STRAY_YES_NO_RE.sub("", bare)
    bare = _LEADING_HEADING_RE.sub("", _PASSAGE_PREAMBLE_RE.sub("", bare))
    bare = _PASSAGE_PREAMBLE_RE.sub("", bare)
    return bare[:1].upper() + bare[1:], markers


def is_abstention(text: str) -> bool:
    """Whether a sentence says the articles don't hold the answer."""
    return bool(_ABSTAIN_RE.search(text))


def draft_sentences(draft: str) -> list[str]:
    """Sentences of a draft; markers written after a full stop are moved before it first."""
    text = _TRAILING_MARKERS_RE.sub(lambda m: f"{m.group(2)}{m.group(1)}", draft.strip())
    return [text[start:end] for start, end in sentence_spans(text)]


def ground(draft: str, hits: list[Hit], question: str = "", judge: Judge | None = None) -> Grounded:
    """Check every sentence of `draft` against `hits` and build the cited answer.

    The question is parsed once (`qa.answer.intent`). A supported sentence is an answer only if it
    holds an answer of the asked kind (a count of what "how many X" counts, a time for
    "when", a name for "who" ...). A one-fact question keeps its best answering sentence,
    cut to the clause that holds the answer when it runs past `MAX_ONE_FACT_CHARS`. A yes/no
    question keeps the draft's "Yes"/"No" in front of the cited reason. A kept figure is
    attributed to the source its passage names; the figures other named sources give for
    the same count go to `accounts`, and into the text only when they differ from the
    answer's figure and the question names no source of its own.
    """
    intent = parse_intent(question)
    judge = judge or default_judge()
    sentences = draft_sentences(draft)
    changes: list[str] = []
    kept: list[tuple[str, list[int], float]] = []
    reason = "the model found no answer in the passages"
    yes_no = ""
    if sentences and not is_abstention(sentences[0]):
        if intent.kind == YES_NO:
            yes_no, sentences = _split_yes_no(sentences)
        kept = _supported(sentences, hits, intent, judge, changes)
        reason = "no sentence of the draft is supported by the passages"
        if kept:
            kept, why = _answers(kept, intent, changes)
            reason = why or reason
    sources: set[str] = set()
    final = [(_with_source(sentence, cited, hits, changes, sources), cited) for sentence, cited, _ in kept]
    figures = _figures(intent, hits)
    if not final and figures:
        final = _reported_answer(intent, figures, changes, sources)
    if final and not _names_source(intent.asked):
        final += _conflicting_reports(final, figures, changes, sources)
    if not final:
        return Grounded(ABSTAIN_TEXT, [], True, reason, changes, _accounts(figures, hits, {}, ""))
    if yes_no:
        first, cited = final[0]
        lead = first if _starts_with_name(first) else first[:1].lower() + first[1:]
        final[0] = (f"{yes_no}, {lead}", cited)
    grounded = _assemble(final, hits, changes)
    number_of = {c.doc_id + f":{c.start}": c.n for c in grounded.citations}
    grounded.accounts = _accounts(figures, hits, number_of, grounded.text)
    return grounded


def _split_yes_no(sentences: list[str]) -> tuple[str, list[str]]:
    """The draft's leading "Yes"/"No" (or ""), and the sentences with it removed."""
    match = _YES_NO_LEAD_RE.match(sentences[0])
    if not match:
        return "", sentences
    rest = sentences[0][match.end():].strip()
    tail = ([rest[:1].upper() + rest[1:]] if rest and words(parse_markers(rest)[0]) else []) + sentences[1:]
    return match.group(1).capitalize(), tail


def _starts_with_name(sentence: str) -> bool:
    first = sentence.split(" ", 1)[0]
    return first[:1].isupper() and first.lower() not in STOPWORDS


def _supported(sentences: list[str], hits: list[Hit], intent: Intent, judge: Judge,
               changes: list[str]) -> list[tuple[str, list[int], float]]:
    """The draft sentences the judge finds supported, each with the passages it cites (0-based)
    and the judge's score."""
    kept: list[tuple[str, list[int], float]] = []
    texts = [hit.text for hit in hits]
    for sentence in sentences:
        bare, markers = clean_sentence(sentence, yes_no=intent.kind == YES_NO)
        valid = [m - 1 for m in markers if 1 <= m <= len(hits)]
        for m in markers:
            if not 1 <= m <= len(hits):
                changes.append(f"dropped marker [{m}]: no such passage")
        if not words(bare):
            continue
        if is_abstention(bare):
            changes.append(f"removed a 'not stated' aside: {bare!r}")
            continue
        if not claim_of(bare).has_content:
            continue
        verdict = judge.verdict(bare, texts, intent)
        if not verdict.judgeable:
            changes.append(f"removed a sentence the check cannot read: {bare!r}")
            continue
        if not verdict.supported:
            changes.append(f"removed unsupported sentence ({'; '.join(verdict.reasons)}): {bare!r}")
            continue
        cited = [p for p in valid if p in verdict.alternatives][:1] or list(verdict.passages)
        if valid and set(cited) != set(valid):
            old = "".join(f"[{m + 1}]" for m in valid)
            new = "".join(f"[{m + 1}]" for m in cited)
            changes.append(f"re-cited {old} -> {new}: {bare!r}")
        elif not valid:
            changes.append(f"cited {''.join(f'[{m + 1}]' for m in cited)}: {bare!r}")
        kept.append((bare, cited, verdict.score))
    return kept


def _answers(kept: list[tuple[str, list[int], float]], intent: Intent,
             changes: list[str]) -> tuple[list[tuple[str, list[int], float]], str]:
    """The supported sentences that answer the question (for a count, number or time question, those
    that state one; for any other, those that say something the question does not); a one-fact
    question keeps its best one."""
    if intent.parts > 1:
        return kept, ""  # a question of several parts: each part's answer is its own kind
    # every kind: a sentence that says nothing the question does not already say is no answer
    answering = [item for item in kept if answers_kind(item[0], intent)]
    for sentence, _, _ in kept:
        if all(sentence != a[0] for a in answering):
            changes.append(f"removed a supported sentence that does not answer the {intent.kind} "
                           f"question: {sentence!r}")
    if not answering:
        return [], f"no supported sentence gives the {intent.kind} asked for"
    if intent.kind not in ONE_FACT_KINDS or len(intent.count_queries) > 1:
        return answering, ""
    asked = set(content_terms(intent.asked))
    best = max(answering, key=lambda item: (item[2], answers_kind(item[0], intent),
                                            len(set(content_terms(item[0])) - asked)))
    if len(answering) > 1:
        changes.append(f"kept the best-supported of {len(answering)} answering sentences")
    sentence, cited, score = best
    if len(sentence) > MAX_ONE_FACT_CHARS:
        short = next((c.strip() for c in clauses(sentence) if answers_kind(c, intent)
                      and len(c) <= MAX_ONE_FACT_CHARS and len(words(c)) >= 3), "")
        if short:
            short = short[:1].upper() + short[1:]
            short = short if short[-1] in ".!?" else short + "."
            changes.append(f"cut a long one-fact answer to the clause that holds it: {short!r}")
            sentence = short
    return [(sentence, cited, score)], ""


def _names_source(question: str) -> bool:
    """Whether the question itself names whose account it wants ("according to state media")."""
    return bool(source_of(question)) or "according to" in question.lower()


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


def _figures(intent: Intent, hits: list[Hit]) -> list[tuple[str, Figure]]:
    """(what is counted, figure) for every figure a named source gives for a "how many" part."""
    out: list[tuple[str, Figure]] = []
    for query in intent.count_queries:
        counted = " ".join(sorted(query.focus | query.events))
        out.extend((counted, figure) for figure in reported_figures(query, hits))
    return out


def _conflicting_reports(kept: list[tuple[str, list[int]]], figures: list[tuple[str, Figure]],
                         changes: list[str], sources: set[str]) -> list[tuple[str, list[int]]]:
    """Passage sentences in which another named source gives a different figure for the count the
    answer states: at most `_MAX_ADDED_REPORTS`, quoted (markers stripped) and cited."""
    stated = {f"{v:g}" for sentence, _ in kept for v in numbers(sentence)}
    if not stated:
        return []
    answer_text = " ".join(sentence for sentence, _ in kept).lower()
    quoted = {sentence for sentence, _ in kept}
    added: list[tuple[str, list[int]]] = []
    for _counted, figure in figures:
        if len(added) == _MAX_ADDED_REPORTS:
            break
        if figure.key in stated or (figure.value is None and figure.amount.lower() in answer_text) \
                or figure.source.lower() in sources or figure.sentence in quoted:
            continue
        sentence = strip_markers(figure.sentence[:1].upper() + figure.sentence[1:])
        added.append((sentence, [figure.passage]))
        quoted.add(figure.sentence)
        stated.update({figure.key} | {f"{v:g}" for v in numbers(figure.sentence)})
        changes.append(f"added the differing figure {figure.amount!r} that {figure.source} gives: "
                       f"{sentence!r}")
    return added


def _reported_answer(intent: Intent, figures: list[tuple[str, Figure]], changes: list[str],
                     sources: set[str]) -> list[tuple[str, list[int]]]:
    """When no draft sentence survives, the first attributed figure for each "how many" part,
    quoted from its passage and cited: the answer is what the named sources report."""
    out: list[tuple[str, list[int]]] = []
    for counted in dict.fromkeys(c for c, _ in figures):
        figure = next(f for c, f in figures if c == counted)
        sentence = strip_markers(figure.sentence[:1].upper() + figure.sentence[1:])
        out.append((sentence, [figure.passage]))
        sources.add(figure.source.lower())
        changes.append(f"answered with the figure {figure.amount!r} that {figure.source} gives: {sentence!r}")
    return out[: max(1, len(intent.count_queries))]


def _accounts(figures: list[tuple[str, Figure]], hits: list[Hit], number_of: dict[str, int],
              text: str) -> list[Account]:
    """Every reported figure as an `Account`; `citation` is its passage's [n] in the answer, or
    the passage's 1-based rank among the retrieved passages when the answer does not cite it."""
    out: list[Account] = []
    said = {f"{v:g}" for v in numbers(text)}
    for counted, figure in figures:
        hit = hits[figure.passage]
        n = number_of.get(hit.doc_id + f":{hit.start}", 0)
        out.append(Account(counts=counted, figure=figure.amount, citation=n, source=figure.source,
                           date=hit.published, value=figure.value,
                           sentence=strip_markers(figure.sentence), doc_id=hit.doc_id,
                           in_text=figure.key in said or (figure.value is None and
                                                          figure.amount.lower() in text.lower())))
    return out


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
        sentence = strip_markers(sentence).strip()
        body, end = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
        parts.append(f"{body} {''.join(labels)}{end}")
    return Grounded(" ".join(parts), citations, False, "", changes)
