"""Word-level text helpers shared by BM25, the citation check and the eval scorer.

Tokenising, stop words, stemming (Snowball via PyStemmer), and reading numbers
written in digits or words ("thirty" -> 30, "1,000" -> 1000). Nothing here knows
about articles, indexes or models.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if
    in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
    once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
    should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up
    very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's with won't would wouldn't you you'd you'll you're you've
    your yours yourself yourselves many much according said says say told tell did does do whose
    will just may might per""".split()
)

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "dozen": 12, "dozens": 12, "half": 0.5,
}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)

WORD_RE = re.compile(r"[A-Za-z\u00C0-\u024F]+(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*")
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
        if token in _UNITS:
            current += _UNITS[token]
        elif token in _TENS:
            current += _TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token in _SCALES:
            total += max(current, 1) * _SCALES[token]
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
