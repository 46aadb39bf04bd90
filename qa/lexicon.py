"""The English lexicon: every word list the lexical checks read, in one place.

Stop words, number words and ordinals, hedges, event groups, negations, calendar and time
words, auxiliary verbs, reporting words, and the one token pattern. `qa.text`,
`qa.answer.support`, `qa.answer.accounts`, `qa.answer.sources` and `qa.answer.intent` read these; nothing here
computes anything. Only English is covered: text in another script is not judged
(`qa.answer.judge.readable`).
"""

from __future__ import annotations

import re

# The one token pattern: words (Latin letters, with an inner apostrophe) and numbers ("1,000", "2.5").
WORD_PATTERN = r"[A-Za-z\u00C0-\u024F]+(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*"
WORD_RE = re.compile(WORD_PATTERN)
# The same, plus "n't" and the punctuation that separates clauses (the support judge's tokens).
TOKEN_RE = re.compile(WORD_PATTERN + r"|n['’]t|[,;:()]")

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

NUMBER_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
NUMBER_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
NUMBER_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "dozen": 12, "dozens": 12, "half": 0.5,
}
NUMBER_WORDS = frozenset(NUMBER_UNITS) | frozenset(NUMBER_TENS) | frozenset(NUMBER_SCALES)

# Words that hedge or quantify loosely: not evidence either way.
HEDGES = frozenset(
    "around approximately roughly nearly almost least seem seemed seems appear appeared appears "
    "reportedly apparently some about just still also even only".split()
)
# Event words whose group must match: "650 freed" never supports "650 killed".
EVENT_GROUPS = {
    "kill": {"kill", "dead", "die", "death", "slain", "murder", "execut", "fatal", "bodi"},
    "free": {"free", "freed", "releas", "rescu", "liber"},
    "capture": {"captur", "kidnap", "seiz", "abduct", "captiv", "held", "hold"},
    "escape": {"escap", "fled", "flee"},
    "wound": {"wound", "injur", "hurt"},
    "arrest": {"arrest", "detain"},
}
NEGATIONS = frozenset({"not", "no", "never", "none", "neither", "nor", "without", "n't", "cannot"})
NEGATION_STEMS = frozenset({"refus", "declin", "deni", "reject", "fail"})
# Words that end a clause for number binding and polarity.
CLAUSE_BOUNDARIES = frozenset({",", ";", ":", "(", ")", "and", "or", "but", "while"})
# Calendar words: "29 July" and "July 29, 2021" state the same date, so they never bind a number.
CALENDAR = frozenset(
    "january february march april may june july august september october november december jan feb mar "
    "apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday "
    "year years month months day days week weeks".split()
)
TIME_WORDS = frozenset(
    "today yesterday tomorrow tonight ago century centuries decade decades morning afternoon evening "
    "night dawn dusk midnight noon weekend spring summer autumn fall winter earlier later".split()
)
# Auxiliary verbs: they end a counted noun ("how many X were ...") and a source's phrase.
AUXILIARIES = frozenset(
    "were was did do does have has had are is will would could can may might has've".split())
# Plurals without an -s: "how many people" stops at "people".
IRREGULAR_PLURALS = frozenset("people children men women police staff personnel crew".split())
# Words that end a source's noun phrase when reading back from its reporting verb.
PHRASE_STOPS = frozenset(
    "that which who whom whose when where while as because but if since after before so then also "
    "is are was were be been being it he she they we i you this these those there what how why "
    "in on at for with by from to into".split()
)
PRONOUNS = frozenset("it he she they we i you one someone".split())
# Words that make a source generic ("officials", "state media"): two such sources may be one.
GENERIC_SOURCE_WORDS = frozenset(
    "source sources official officials report reports media spokesman spokeswoman spokesperson agency "
    "news government".split())
# Amounts without a figure that still answer "how many": "thousands of years", "dozens".
# Words about the sources rather than the news ("X is mentioned in passage [1]"): they are
# no part of an answer.
SOURCE_WORDS = frozenset("passage passages excerpt excerpts mention mentions mentioned".split())
VAGUE_AMOUNTS = frozenset(
    "dozens hundreds thousands millions billions scores several many few numerous countless".split())
