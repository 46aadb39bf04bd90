"""Sources: who a sentence says is speaking ("..., an Algerian security source said"). Lexical.

`source_of` reads the source a sentence names through "according to X" or a reporting
verb ("X said", "X reported that", "X, who confirmed ..., said", "X told Reuters").
`same_source` says whether two such phrases can name the same source. Used by the
support judge (a figure credited to the wrong source is unsupported) and by
`qa.answer.accounts`. It does not resolve pronouns or sources named in another sentence.
"""

from __future__ import annotations

import re

from qa.lexicon import (
    AUXILIARIES,
    GENERIC_SOURCE_WORDS,
    NUMBER_WORDS,
    PHRASE_STOPS,
    PRONOUNS,
    STOPWORDS,
)
from qa.text import stem, words

__all__ = ["attribute", "mentions_source", "same_source", "source_of"]

# Reporting verbs, lower case only ("United States" is no verb); present forms that double as
# nouns ("reports", "claims") count only before "that".
_REPORT_VERB_RE = re.compile(
    r"\b(?:said|says|reported|claimed|confirmed|told|announced|stated|insisted|estimated|added"
    r"|(?:claims?|reports?|says?|states?|insists?|confirms?|estimates?|announces?)(?= that\b))\b")
_TOLD_NAME_RE = re.compile(r"told\s+((?:[A-Z][\w'’.-]*\s?){1,3})\b")
_INVERTED_RE = re.compile(r"(?:said|says|told)\s+((?:[\w'’.-]+\s?){1,6}?)(?=\s*(?:[,.;:]|$))")
_ACCORDING_TO_RE = re.compile(r"\baccording to\s+([^,.;:()\[\]]+)", re.IGNORECASE)
_MAX_SOURCE_WORDS = 8
_GENERIC_SOURCE_WORDS = frozenset(stem(w) for w in GENERIC_SOURCE_WORDS)


def _is_word(low: str) -> bool:
    return low not in STOPWORDS and len(low) > 1


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
        inverted = _INVERTED_RE.match(sentence, verb.start())  # "..., said Frances Haugen, ..."
        before = sentence[: verb.start()].rstrip().rstrip("\"”’'").rstrip()
        if inverted and before.endswith(",") and re.match(r"(?:[A-Z]|(?:a|an|the|one)\b)", inverted.group(1)):
            found = _clean_source(inverted.group(1).split())
            if found:
                return found
    return ""


def _phrase_before(text: str) -> str:
    """The noun phrase that ends `text` (the subject of a reporting verb), or ''."""
    tokens = re.findall(r"[\w'’.-]+|[,;:()\"“”]", text)
    while tokens and tokens[-1].lower() in AUXILIARIES:
        tokens.pop()
    if tokens and tokens[-1].lower() == "who":  # "A spokesman, who confirmed ..."
        tokens.pop()
        if tokens and tokens[-1] == ",":
            tokens.pop()
    phrase: list[str] = []
    while tokens and len(phrase) < _MAX_SOURCE_WORDS:
        token = tokens[-1]
        if not re.match(r"[\w'’]", token) or token.lower() in PHRASE_STOPS:
            break
        phrase.insert(0, tokens.pop())
    return _clean_source(phrase)


def _clean_source(phrase: list[str]) -> str:
    """A source phrase trimmed to at most eight words; '' when it names nobody (a pronoun, no noun)."""
    phrase = [w.strip(".") for w in phrase[:_MAX_SOURCE_WORDS] if w.strip(".")]
    while phrase and phrase[0].lower() in ("and", "or", "but", "on", "of"):
        phrase.pop(0)
    if not phrase or all(w.lower() in PRONOUNS for w in phrase):
        return ""
    if not any(_is_word(w.lower()) and w.lower() not in STOPWORDS for w in phrase):
        return ""
    return " ".join(phrase)


def mentions_source(sentence: str, source: str) -> bool:
    """Whether the sentence already names the source (all of its content words)."""
    wanted = {stem(w.lower()) for w in words(source) if _is_word(w.lower())}
    have = {stem(w) for w in words(sentence)}
    return bool(wanted) and wanted <= have


def same_source(a: str, b: str) -> bool:
    """Whether two source phrases can name the same source: they share a specific word (by stem
    or prefix: 'France'/'French'); generic words like 'source' or 'officials' do not count, and
    a phrase of generic words only ('officials') may be anyone."""
    def specific(phrase: str) -> set[str]:
        return {stem(w.lower()) for w in words(phrase) if _is_word(w.lower())} - _GENERIC_SOURCE_WORDS

    left, right = specific(a), specific(b)
    if not left or not right:
        return True
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
