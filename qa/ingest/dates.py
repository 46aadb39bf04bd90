"""Dates: parse published dates and `as_of`, read a dateline from article text, resolve relative time.

`parse_date` turns a record's or a flag's date into ISO `YYYY-MM-DD` (or raises
`InvalidDateError`); `date_from_text` reads a dated byline or dateline at the start
of an article ("Feb 7, 2021 ...", "Published: 2013-01-17"); `resolve_window`
turns "yesterday", "this week", "on Thursday", "last month" in a question into a
`DateWindow` counted from `as_of` (or today); `allows` is the store-level filter
"published <= as_of or undated". Nothing here retrieves or ranks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from qa.errors import InvalidDateError

__all__ = ["DateWindow", "allows", "as_of_date", "date_from_text", "describe", "parse_date",
           "resolve_window", "strip_relative"]

UNDATED = "undated"
_MONTHS = {name: n for n, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_RE = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ISO_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
_MDY_RE = re.compile(_MONTH_RE + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b", re.I)
_DMY_RE = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+(?P<year>\d{4})\b", re.I)
_ISO_IN_TEXT_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# A dateline or byline: the date opens the text, or follows "Published", "Updated", "Posted",
# a place name in capitals ("ALGIERS, Jan. 17, 2013 -") or a weekday.
_DATELINE_HEAD_RE = re.compile(
    r"^\s*(?:(?:published|updated|posted|dated|date)\s*(?:on)?\s*:?\s*"
    r"|[A-Z][A-Z .'-]{1,40},\s*|(?:" + "|".join(_WEEKDAYS) + r"),?\s+)?", re.I)
_DATELINE_CHARS = 120


def _build(year: int, month: int, day: int, what: str, value: str) -> str:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError as exc:
        raise InvalidDateError(f"{what} must be a real date: {value!r} does not exist ({exc})") from exc


def parse_date(value: str, what: str = "date") -> str:
    """An ISO date (`YYYY-MM-DD`) from 'YYYY-MM-DD', an ISO datetime, 'January 17, 2013' or
    '17 Jan 2013'; '' for ''. Raises InvalidDateError naming `what` for anything else."""
    text = value.strip()
    if not text:
        return ""
    iso = _ISO_RE.match(text)
    if iso:
        return _build(int(iso[1]), int(iso[2]), int(iso[3]), what, value)
    for pattern in (_MDY_RE, _DMY_RE):
        found = pattern.fullmatch(text.rstrip("."))
        if found:
            return _build(int(found["year"]), _MONTHS[found["month"].lower()], int(found["day"]), what, value)
    raise InvalidDateError(f"{what} must be YYYY-MM-DD: {value!r} is not a date")


def as_of_date(value: str | dt.date | None, what: str = "as_of") -> str:
    """`as_of` as an ISO date ('' when None or empty); raises InvalidDateError naming `what`."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    if not isinstance(value, str):
        raise InvalidDateError(f"{what} must be a date string YYYY-MM-DD, not {type(value).__name__}")
    return parse_date(value, what)


def date_from_text(text: str) -> str:
    """The date of a dated byline or dateline at the very start of an article, else ''.

    Only the opening characters are read, and only a date that opens the text or follows
    'Published:', a capitalised place name or a weekday counts: a date mentioned in the
    story ("captured on January 16") is no dateline. Impossible dates are ignored.
    """
    for line in text.lstrip().split("\n", 2)[:2]:
        head = line[:_DATELINE_CHARS]
        lead = _DATELINE_HEAD_RE.match(head)
        rest = head[lead.end():] if lead else head
        for pattern in (_MDY_RE, _DMY_RE):
            found = pattern.match(rest)
            if found:
                try:
                    return dt.date(int(found["year"]), _MONTHS[found["month"].lower()],
                                   int(found["day"])).isoformat()
                except ValueError:
                    return ""
        iso = _ISO_IN_TEXT_RE.match(rest)
        if iso:
            try:
                return dt.date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
            except ValueError:
                return ""
    return ""


def allows(published: str, as_of: str) -> bool:
    """The store-level filter: 'published <= as_of or undated' (everything when as_of is '')."""
    return not as_of or not published or published[:10] <= as_of


@dataclass(frozen=True)
class DateWindow:
    """The days a question's relative time names, inclusive, as ISO dates; `phrase` as written."""

    start: str
    end: str
    phrase: str

    def distance(self, published: str) -> int:
        """Days from `published` to the window (0 inside it); 0 for undated."""
        if not published:
            return 0
        day = dt.date.fromisoformat(published[:10])
        lo, hi = dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)
        return (lo - day).days if day < lo else (day - hi).days if day > hi else 0


_RELATIVE_RE = re.compile(
    r"\b(?P<phrase>today|tonight|yesterday|the day before yesterday"
    r"|(?:this|last|past) (?:week|month|year|weekend)|(?:so far )?this (?:morning|evening)"
    r"|(?P<n>\d+|two|three|four|five|six|seven|ten) (?P<unit>days?|weeks?) ago"
    r"|(?:on |last |this )?(?P<weekday>" + "|".join(_WEEKDAYS) + r"))\b", re.I)
_SMALL = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10}


def resolve_window(question: str, as_of: str = "", today: dt.date | None = None) -> DateWindow | None:
    """The dates the question's relative time refers to, counted back from `as_of` (else today).

    'today' is as_of; 'yesterday' the day before; 'this week' Monday..as_of; 'last week' the
    Monday..Sunday before; 'past week' the seven days up to as_of; 'this/last month' and
    'this year' likewise; 'on Thursday' the latest Thursday on or before as_of;
    'three days ago' that day. None when the question names no relative time.
    """
    found = _RELATIVE_RE.search(question)
    if not found:
        return None
    ref = dt.date.fromisoformat(as_of) if as_of else (today or dt.date.today())
    phrase = found["phrase"].lower()

    def window(lo: dt.date, hi: dt.date) -> DateWindow:
        return DateWindow(lo.isoformat(), min(hi, ref).isoformat(), found["phrase"])

    if found["weekday"]:
        back = (ref.weekday() - _WEEKDAYS.index(found["weekday"].lower())) % 7
        if phrase.startswith("last ") and back == 0:
            back = 7
        day = ref - dt.timedelta(days=back)
        return window(day, day)
    if found["unit"]:
        n = int(found["n"]) if found["n"].isdigit() else _SMALL[found["n"].lower()]
        day = ref - dt.timedelta(days=n * (7 if found["unit"].lower().startswith("week") else 1))
        return window(day, day)
    if phrase in ("today", "tonight") or phrase.endswith(("morning", "evening")):
        return window(ref, ref)
    if phrase == "yesterday":
        return window(ref - dt.timedelta(days=1), ref - dt.timedelta(days=1))
    if phrase == "the day before yesterday":
        return window(ref - dt.timedelta(days=2), ref - dt.timedelta(days=2))
    monday = ref - dt.timedelta(days=ref.weekday())
    if phrase in ("this week", "this weekend"):
        return window(monday, ref)
    if phrase == "last week":
        return window(monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    if phrase == "last weekend":
        return window(monday - dt.timedelta(days=2), monday - dt.timedelta(days=1))
    if phrase == "past week":
        return window(ref - dt.timedelta(days=6), ref)
    first = ref.replace(day=1)
    if phrase == "this month":
        return window(first, ref)
    if phrase in ("last month", "past month"):
        prev_last = first - dt.timedelta(days=1)
        return window(prev_last.replace(day=1), prev_last) if phrase == "last month" else \
            window(ref - dt.timedelta(days=29), ref)
    if phrase == "this year":
        return window(ref.replace(month=1, day=1), ref)
    if phrase == "last year":
        return window(dt.date(ref.year - 1, 1, 1), dt.date(ref.year - 1, 12, 31))
    return window(ref - dt.timedelta(days=364), ref)  # "past year"


def strip_relative(question: str) -> str:
    """The question without its relative-time phrase (it names no article's words)."""
    stripped = _RELATIVE_RE.sub(" ", question, count=1)
    return re.sub(r"\s+([?.!,])", r"\1", re.sub(r"\s{2,}", " ", stripped)).strip() or question


def describe(published: str, ref: str = "") -> str:
    """'Saturday 19 January 2013' for a date ('undated' for ''); the year is left out when it is
    `ref`'s year."""
    if not published:
        return UNDATED
    day = dt.date.fromisoformat(published[:10])
    text = f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"
    return text if ref and ref[:4] == published[:4] else f"{text} {day.year}"
