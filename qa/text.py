"""Word-level text helpers shared by BM25, the citation check and the eval scorer.

Tokenising, stemming (Snowball via PyStemmer), and reading numbers written in digits or
words ("thirty" -> 30, "1,000" -> 1000); the word lists are in `qa.lexicon`. Nothing here
knows about articles, indexes or models.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from qa.lexicon import (
    NUMBER_SCALES,
    NUMBER_TENS,
    NUMBER_UNITS,
    NUMBER_WORDS,
    ORDINALS,
    STOPWORDS,
    WORD_RE,
)

__all__ = ["NUMBER_WORDS", "ORDINALS", "STOPWORDS", "WORD_RE", "content_terms", "numbers", "stem", "words"]

_DIGITS_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_WORD_NUMBER_RE = re.compile(
    r"\b(?:(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")(?:[\s-]+(?:and[\s-]+)?)?)+",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Word and number tokens, lower-cased, curly apostrophes made straight."""
    return [w.lower().replace("’", "'") for w in WORD_RE.findall(text)]


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem of a lower-case word, with a possessive 's dropped."""
    if word.endswith("'s"):
        word = word[:-2]
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return _stemmer().stemWord(word)


def content_terms(text: str) -> list[str]:
    """Stemmed content words: stop words and single letters removed, numbers kept."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def _words_to_number(phrase: str) -> float | None:
    total, current = 0.0, 0.0
    seen = False
    for token in re.split(r"[\s-]+", phrase.lower()):
        if token in ("", "and"):
            continue
        if token in NUMBER_UNITS:
            current += NUMBER_UNITS[token]
        elif token in NUMBER_TENS:
            current += NUMBER_TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token in NUMBER_SCALES:
            total += max(current, 1) * NUMBER_SCALES[token]
            current = 0
        else:
            continue
        seen = True
    return total + current if seen else None


def numbers(text: str) -> set[float]:
    """Every number a text states, in digits or words ("650", "1,000", "thirty", "two-thirds")."""
    found: set[float] = set()
    for match in _DIGITS_RE.finditer(text):
        try:
            found.add(float(match.group().replace(",", "")))
        except ValueError:
            continue
    for match in _WORD_NUMBER_RE.finditer(text):
        value = _words_to_number(match.group())
        if value is not None:
            found.add(value)
    for word in words(text):
        if word in ORDINALS and word not in ("second", "half"):
            found.add(float(ORDINALS[word]))
    return found
