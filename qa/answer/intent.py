"""The question, parsed once: what kind of answer it wants, what it counts, what time it names.

`parse_intent(question)` returns an `Intent` that every later check reads instead of
re-parsing the question with its own pattern: the citation check keeps only sentences
that hold an answer of the asked kind, "how many" answers must count what was asked,
yes/no questions get "Yes" or "No" with the cited reason. The question's own embedded
instructions are split off first (`qa.answer.injection.split_question`). Lexical and English
only; it does not resolve pronouns (`Assistant.standalone_question` does that) and calls no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.answer.accounts import CountQuery, count_queries
from qa.answer.injection import split_question
from qa.answer.support import asks_for_time

COUNT, NUMBER, TIME, PERSON, PLACE, LIST, YES_NO, OTHER = (
    "count", "number", "time", "person", "place", "list", "yes/no", "other")
KINDS = (COUNT, NUMBER, TIME, PERSON, PLACE, LIST, YES_NO, OTHER)

_YES_NO_RE = re.compile(
    r"^(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should)\b(?!.*\bor\b[^?]*\?\s*$)",
    re.IGNORECASE)
_NUMBER_RE = re.compile(
    r"\b(?:how (?:much|long|far|old|large|big|high|tall|deep|wide|fast|often)|what (?:percentage|percent|"
    r"proportion|share|number|amount|size|rate|price|cost|population)|at what (?:age|speed|rate|price))\b",
    re.IGNORECASE)
_COUNT_RE = re.compile(r"\bhow many\b", re.IGNORECASE)
# "..., A or B?": a choice between alternatives the question itself names.
_CHOICE_RE = re.compile(r"\bor\b[^?]*\?\s*$", re.IGNORECASE)
_WHEN_RE = re.compile(r"^(?:when|since when|until when|in what (?:year|month|decade|century))\b"
                      r"|\bwhen (?:did|was|were|is|does|do|will)\b", re.IGNORECASE)
_PERSON_RE = re.compile(r"^(?:who|whom|whose)\b|\b(?:which|what) (?:person|man|woman|people|company|"
                        r"companies|organi[sz]ations?|group|country|countries|firm|agency|minister|leader|"
                        r"president|official|team|party)\b|\bwho (?:is|was|were|did)\b", re.IGNORECASE)
_PLACE_RE = re.compile(r"^where\b|\bwhere (?:is|was|were|did|does|do)\b|\b(?:which|what) (?:city|town|"
                       r"place|region|state|province|site|location|venue|area|village|street)\b",
                       re.IGNORECASE)
_LIST_RE = re.compile(r"\b(?:which|what) (?:\w+ )?(?:two|three|four|five|six|several)\b|\bname (?:the|all|"
                      r"two|three|four)\b|\blist\b|\bwhat are the\b", re.IGNORECASE)
_TIME_NAMED_RE = re.compile(
    r"\b(?:yesterday|today|tonight|this (?:week|month|year|morning|weekend)|last (?:week|month|year|night|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|on (?:monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|latest|currently|now|so far|as of [^?,]+)\b", re.IGNORECASE)


# A second question joined to the first: "How many ..., and what ...?"
_MULTI_PART_RE = re.compile(
    r"(?:,|\band\b|\bor\b|;)\s*(?:and\s+)?(?:what|who|whom|where|when|which|how|why)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    """A parsed question. `kind` is one of `KINDS`; `counts` the stems of X in "how many X";
    `count_queries` every "how many" part; `time_phrase` a relative or absolute time it names
    ("this week", "yesterday"); `asked` the question without embedded instructions; `parts` how
    many questions it joins ("How many ..., and what ...?" is 2)."""

    question: str
    asked: str
    kind: str
    counts: frozenset[str] = frozenset()
    count_queries: tuple[CountQuery, ...] = field(default=())
    time_phrase: str = ""
    instructions: str = ""
    parts: int = 1
    choice: bool = False  # "A or B?": the answer may be words the question already holds

    @property
    def wants_number(self) -> bool:
        return self.kind in (COUNT, NUMBER)


def parse_intent(question: str) -> Intent:
    """The `Intent` of a question (first matching kind in the order count, number, a choice
    between named alternatives (other), time, yes/no, person, place, list, other)."""
    split = split_question(question.strip())
    asked = split.asked
    queries = tuple(count_queries(asked))
    choice = bool(_CHOICE_RE.search(asked))
    if _COUNT_RE.search(asked):
        kind = COUNT
    elif _NUMBER_RE.search(asked):
        kind = NUMBER
    elif choice:
        kind = OTHER
    elif asks_for_time(asked) or _WHEN_RE.search(asked):
        kind = TIME
    elif _YES_NO_RE.search(asked):
        kind = YES_NO
    elif _PERSON_RE.search(asked):
        kind = PERSON
    elif _PLACE_RE.search(asked):
        kind = PLACE
    elif _LIST_RE.search(asked):
        kind = LIST
    else:
        kind = OTHER
    time_match = _TIME_NAMED_RE.search(asked)
    counts = queries[0].focus if queries else frozenset()
    return Intent(question=question, asked=asked, kind=kind, counts=counts,
                  count_queries=queries, time_phrase=time_match.group(0) if time_match else "",
                  instructions=split.instructions,
                  parts=1 + len(_MULTI_PART_RE.findall(asked.split("?")[0])), choice=choice)
