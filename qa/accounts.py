"""Reported figures: who says how many. Finds attributed counts in passages; lexical, deterministic.

News reports often give one count several times, each from its own source (state
media, a security source, a wire service), and the figures differ. For each
"how many X ..." part of a question this module finds the passage sentences that
state a figure for X, with the event the question asks about, and the source the
sentence attributes it to. `qa.cite` uses it to attribute the answer's figures and
to add the figures other sources give. It does not judge which figure is right,
does not read sources that are not named in the same sentence, and calls no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.chunk import sentence_spans
from qa.records import Hit
from qa.support import EVENT_GROUPS, counted_after, is_content, tokenize
from qa.text import NUMBER_WORDS, STOPWORDS, stem, words

__all__ = ["CountQuery", "Figure", "attribute", "count_queries", "mentions_source", "reported_figures",
           "same_source", "source_of"]

_EVENT_OF = {s: group for group, stems in EVENT_GROUPS.items() for s in stems}
_HOW_MANY_PART_RE = re.compile(
    r"\bhow (?:many|much)\b(.*?)(?=,?\s*\b(?:and|or|but)\s+how (?:many|much)\b|[?]|$)",
    re.IGNORECASE | re.DOTALL)
_LEADING_AUXILIARY_RE = re.compile(r"^\s*(?:were|was|are|is|have|has|had|did|do|does|will|would)\b", re.I)
# Reporting verbs, lower case only ("United States" is no verb); present forms that double as
# nouns ("reports", "claims") count only before "that".
_REPORT_VERB_RE = re.compile(
    r"\b(?:said|says|reported|claimed|confirmed|told|announced|stated|insisted|estimated|added"
    r"|(?:claims?|reports?|says?|states?|insists?|confirms?|estimates?|announces?)(?= that\b))\b")
_TOLD_NAME_RE = re.compile(r"told\s+((?:[A-Z][\w'’.-]*\s?){1,3})\b")
_ACCORDING_TO_RE = re.compile(r"\baccording to\s+([^,.;:()\[\]]+)", re.IGNORECASE)
# Words that end a source's noun phrase when reading back from its reporting verb.
_PHRASE_STOPS = frozenset(
    "that which who whom whose when where while as because but if since after before so then also "
    "is are was were be been being it he she they we i you this these those there what how why "
    "in on at for with by from to into".split()
)
_AUXILIARIES = frozenset("have has had has've would will could may might did do does".split())
_PRONOUNS = frozenset("it he she they we i you one someone".split())
_MAX_SOURCE_WORDS = 8
_GENERIC_SOURCE_WORDS = frozenset(stem(w) for w in
                                  "source sources official officials report reports media spokesman "
                                  "spokeswoman spokesperson agency news government".split())
_IRREGULAR_PLURALS = frozenset("people children men women police staff personnel crew".split())
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
        if low in _IRREGULAR_PLURALS or (len(low) > 3 and low.endswith("s") and not low.endswith("ss")):
            break
    return frozenset(focus[:3])


def source_of(sentence: str) -> str:
    """The source a sentence attributes itself to ('an Algerian security source'), or ''."""
    according = _ACCORDING_TO_RE.search(sentence)
    if according:
        found = _clean_source(according.group(1).split())
        if found:
            return found
    for verb in _REPORT_VERB_RE.finditer(sentence):
        found = _phrase_before(sentence[: verb.start()])
        if found:
            listener = _TOLD_NAME_RE.match(sentence, verb.start())
            return f"{found} who spoke to {listener.group(1)}" if listener else found
    return ""


def _phrase_before(text: str) -> str:
    """The noun phrase that ends `text` (the subject of a reporting verb), or ''."""
    tokens = re.findall(r"[\w'’.-]+|[,;:()\"“”]", text)
    while tokens and tokens[-1].lower() in _AUXILIARIES:
        tokens.pop()
    if tokens and tokens[-1].lower() == "who":  # "A spokesman, who confirmed ..."
        tokens.pop()
        if tokens and tokens[-1] == ",":
            tokens.pop()
    phrase: list[str] = []
    while tokens and len(phrase) < _MAX_SOURCE_WORDS:
        token = tokens[-1]
        if not re.match(r"[\w'’]", token) or token.lower() in _PHRASE_STOPS:
            break
        phrase.insert(0, tokens.pop())
    return _clean_source(phrase)


def _clean_source(phrase: list[str]) -> str:
    """A source phrase trimmed to at most eight words; '' when it names nobody (a pronoun, no noun)."""
    phrase = [w.strip(".") for w in phrase[:_MAX_SOURCE_WORDS] if w.strip(".")]
    while phrase and phrase[0].lower() in ("and", "or", "but", "on", "of"):
        phrase.pop(0)
    if not phrase or all(w.lower() in _PRONOUNS for w in phrase):
        return ""
    if not any(is_content(w.lower()) and w.lower() not in STOPWORDS for w in phrase):
        return ""
    return " ".join(phrase)


def mentions_source(sentence: str, source: str) -> bool:
    """Whether the sentence already names the source (all of its content words)."""
    wanted = {stem(w) for w in words(source) if is_content(w)}
    have = {stem(w) for w in words(sentence)}
    return bool(wanted) and wanted <= have


def same_source(a: str, b: str) -> bool:
    """Whether two source phrases can name the same source: they share a specific word (by stem
    or prefix: 'France'/'French'); generic words like 'source' or 'officials' do not count."""
    def specific(phrase: str) -> set[str]:
        return {stem(w.lower()) for w in words(phrase) if is_content(w.lower())} - _GENERIC_SOURCE_WORDS

    left, right = specific(a), specific(b)
    return any(x == y or (min(len(x), len(y)) >= 4 and (x[:4] == y[:4])) for x in left for y in right)


def attribute(sentence: str, source: str) -> str:
    """'According to SOURCE, sentence' unless the sentence already names a source ('X said ...')."""
    if not source or mentions_source(sentence, source) or _ACCORDING_TO_RE.search(sentence) \
            or _REPORT_VERB_RE.search(sentence):
        return sentence
    first = sentence.split(" ", 1)[0].lower()
    body = sentence[:1].lower() + sentence[1:] if first in STOPWORDS or first in NUMBER_WORDS else sentence
    lead = source[:1].lower() + source[1:] if source.split(" ", 1)[0].lower() in STOPWORDS else source
    return f"According to {lead}, {body}"


def _matches(query: CountQuery, counted: set[str], sentence_stems: set[str], events: set[str]) -> bool:
    """The figure counts X, the sentence has all of X's words, and the events near the figure fit."""
    if not counted & query.focus or not query.focus <= sentence_stems | counted:
        return False
    return bool(events & query.events) if query.events else not events


def reported_figures(query: CountQuery, hits: list[Hit]) -> list[Figure]:
    """Attributed figures for `query` in the passages, in passage order; one per passage sentence and key.

    A figure counts X (one of X's words right after the number), every word of X is
    in the sentence, the sentence's events meet the query's (or both have none), and
    the sentence names its source. Unattributed figures are left out.
    """
    found: list[Figure] = []
    seen: set[tuple[int, str]] = set()
    for p, hit in enumerate(hits):
        for start, end in sentence_spans(hit.text) or [(0, len(hit.text))]:
            sentence = hit.text[start:end].strip()
            source = source_of(sentence)
            if not source:
                continue
            stems = {stem(w) for w in words(sentence)}
            for amount, value, counted, near in _figures_in(sentence):
                events = {_EVENT_OF[s] for s in near if s in _EVENT_OF and s not in query.focus}
                if not _matches(query, counted, stems, events):
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
