"""The latest report: dated figures for a count, and how the figure changed from one report to the next.

For a "how many X" question, `build_timeline` reads every figure the passages give
for X (`qa.answer.accounts`, attributed or not) with its article's published date, and
keeps those inside the question's time (on or before `as_of`, within "this week"
when asked so). When reports on different dates give different figures, the
latest one is the answer and the change is stated with both citations:
"The number of people killed rose to 37 on Saturday 19 January [1], from 30 on
Thursday 17 January [2]." It does not decide between sources that differ on the
same day, reads no undated figure into the timeline, and calls no model.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from qa.answer.accounts import CountQuery, Figure, count_queries, reported_figures
from qa.answer.support import EVENT_GROUPS
from qa.ingest.dates import describe, resolve_window, strip_relative
from qa.records import Account, Answer, Citation, Hit
from qa.text import STOPWORDS, numbers, stem, words

__all__ = ["Timeline", "apply_timeline", "build_timeline", "cite_accounts", "counted_phrase"]

_EVENT_OF = {s: group for group, stems in EVENT_GROUPS.items() for s in stems}
_AUXILIARIES = frozenset("have has had been be being were was are is did do does now so far currently "
                         "total reported latest still".split())


@dataclass
class Timeline:
    """Figures for the count asked about with their dates, and, when it changed, the answer saying so.

    `accounts` are every figure read (citation 0: not yet cited); `text` and `citations`
    are the answer ("" and [] when no figure changed between dated reports); `latest`
    and `previous` the two accounts the text states.
    """

    accounts: list[Account] = field(default_factory=list)
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    latest: Account | None = None
    previous: Account | None = None


def counted_phrase(question: str) -> str:
    """What a 'how many' question counts, as a noun phrase: 'people killed', 'miners trapped'."""
    found = re.search(r"\bhow (?:many|much)\s+(.+?)(?:[?.!]|$)", strip_relative(question), re.I)
    if not found:
        return ""
    tokens = [w for w in words(found.group(1)) if w.lower() not in _AUXILIARIES]
    if not tokens:
        return ""
    noun = [tokens[0]]
    for word in tokens[1:3]:
        if word.lower() in STOPWORDS or word.lower().endswith("ed") or word.lower() in ("dead", "missing"):
            break
        noun.append(word)
    rest = tokens[len(noun):]
    verb = rest[0].lower() if rest and rest[0].lower() not in STOPWORDS else ""
    if verb in ("died", "die"):
        return f"{' '.join(noun)} who died"
    if verb.endswith("ed") or verb in ("dead", "missing", "injured", "hurt", "held"):
        return f"{' '.join(noun)} {verb}"
    return " ".join(noun)


def _names(question: str) -> set[str]:
    """Stems of the capitalised words of a question after its first word ('Kessling', 'Saint Orla')."""
    found = re.findall(r"(?<!^)(?<![.?!]\s)\b([A-Z][\w'’-]+)", question.strip())
    return {stem(w.lower()) for w in found if w.lower() not in STOPWORDS}


def _qualifier(question: str, focus: frozenset[str]) -> str:
    """The stem of the first word after X in 'how many X ...' that says which X ('evacuated', 'missing')."""
    found = re.search(r"\bhow (?:many|much)\s+(.+?)(?:[?.!]|$)", strip_relative(question), re.I)
    names = _names(question)
    for word in words(found.group(1)) if found else []:
        low = word.lower()
        if stem(low) in focus | names or low in STOPWORDS or low in _AUXILIARIES:
            continue
        return stem(low)
    return ""


def _near(sentence: str, amount: str, before: int = 4, after: int = 5) -> set[str]:
    """Stems of the words from `before` words ahead of the figure to `after` words behind it."""
    spans = [(m.start(), stem(m.group().lower())) for m in re.finditer(r"[\w'’-]+", sentence)]
    at = sentence.find(amount)
    i = next((n for n, (start, _) in enumerate(spans) if start >= at), len(spans)) if at >= 0 else 0
    return {w for _, w in spans[max(0, i - before): i + after + 1]}


def _figures(question: str, query: CountQuery, hits: list[Hit]) -> list[tuple[int, Figure, int]]:
    """(passage, figure, closeness) for the figures of X in passages about the question's names.

    Closeness counts the question's qualifier ('missing', or a word of its event group; when any
    figure has it, those without it are dropped; when it is an event word and no figure has it,
    none is kept) and its names among the words right around the
    figure; the timeline keeps, per day, the closest."""
    names = _names(question)
    qualifier = _qualifier(question, query.focus)
    group = _EVENT_OF.get(qualifier)
    out: list[tuple[int, Figure, int]] = []
    for figure in reported_figures(query, hits, require_source=False, any_events=True):
        hit = hits[figure.passage]
        about = {stem(w.lower()) for w in words(f"{hit.title} {hit.text}")}
        if names and not names & about:
            continue
        near = _near(figure.sentence, figure.amount)
        close = bool(qualifier) and (qualifier in near or (group is not None and any(
            _EVENT_OF.get(w) == group for w in near)))
        out.append((figure.passage, figure, 100 * int(close) + len(names & near)))
    if any(score >= 100 for _, _, score in out):  # some figure is plainly of the X asked about
        out = [row for row in out if row[2] >= 100]
    elif group is not None:
        return []  # the question names an event ('died') and no figure is of it
    return out


def _citation(n: int, hit: Hit, sentence: int) -> Citation:
    return Citation(n=n, doc_id=hit.doc_id, title=hit.title, text=hit.text, start=hit.start, end=hit.end,
                    score=hit.score, url=hit.url, published=hit.published, cited_by=[sentence],
                    copies=list(hit.copies))


def build_timeline(question: str, hits: list[Hit], as_of: str = "", today: dt.date | None = None) -> Timeline:
    """Dated figures for the question's count in `hits`, and the latest-figure answer when it changed."""
    queries = count_queries(strip_relative(question))
    if not queries or not hits:
        return Timeline()
    window = resolve_window(question, as_of, today)
    upper = window.end if window is not None else as_of
    lower = window.start if window is not None else ""
    phrase = counted_phrase(question)
    scores: dict[int, int] = {}
    accounts: list[Account] = []
    passage_of: dict[int, int] = {}
    for passage, figure, score in _figures(question, queries[0], hits):
        hit = hits[passage]
        accounts.append(Account(counts=phrase, figure=figure.amount, citation=0, source=figure.source,
                                date=hit.published[:10], value=figure.value, sentence=figure.sentence,
                                doc_id=hit.doc_id))
        passage_of[id(accounts[-1])] = passage
        scores[id(accounts[-1])] = score
    timeline = Timeline(accounts=accounts)
    dated = [a for a in accounts if a.date and a.value is not None and (not upper or a.date <= upper)
             and (not lower or a.date >= lower)]
    best_on: dict[str, int] = {}
    for a in dated:
        best_on[a.date] = max(best_on.get(a.date, 0), scores[id(a)])
    dated = [a for a in dated if scores[id(a)] == best_on[a.date]]  # per day, the figures closest to X
    if not dated:
        return timeline
    last_day = max(a.date for a in dated)
    on_last = [a for a in dated if a.date == last_day]
    if len({a.value for a in on_last}) > 1:
        return timeline  # sources differ on the latest day: the citation check shows who says what
    latest = on_last[0]
    earlier = [a for a in dated if a.date < last_day and a.value != latest.value]
    if not earlier:
        return timeline
    previous_day = max(a.date for a in earlier)
    previous = next(a for a in earlier if a.date == previous_day)
    assert latest.value is not None and previous.value is not None
    verb = "rose" if latest.value > previous.value else "fell"
    ref = upper or last_day
    subject = f"The number of {phrase}" if phrase else "The figure"
    timeline.text = (f"{subject} {verb} to {latest.figure} on {describe(latest.date, ref)} [1], "
                     f"from {previous.figure} on {describe(previous.date, ref)} [2].")
    latest.citation, previous.citation = 1, 2
    latest.in_text = previous.in_text = True
    timeline.citations = [_citation(1, hits[passage_of[id(latest)]], 0),
                          _citation(2, hits[passage_of[id(previous)]], 0)]
    timeline.latest, timeline.previous = latest, previous
    return timeline


def cite_accounts(accounts: list[Account], citations: list[Citation], text: str) -> list[Account]:
    """The accounts whose passage the answer cites, numbered as cited; `in_text` when the text states it."""
    stated = {f"{v:g}" for v in numbers(text)}
    out = []
    for account in accounts:
        n = next((c.n for c in citations if c.doc_id == account.doc_id and account.sentence in c.text), 0)
        if not n:
            continue
        account.citation = n
        account.in_text = account.value is not None and f"{account.value:g}" in stated
        out.append(account)
    return out


def apply_timeline(answer: Answer, question: str, hits: list[Hit], as_of: str = "",
                   today: dt.date | None = None) -> Answer:
    """Fill `answer.accounts` from the cited passages; for a count whose dated reports changed,
    make the answer the latest figure and how it changed (recorded in `answer.changes`).

    Citations also get the syndicated copies of their passage's article."""
    copies = {(h.doc_id, h.start): h.copies for h in hits}
    for citation in answer.citations:
        citation.copies = list(copies.get((citation.doc_id, citation.start), citation.copies))
    timeline = build_timeline(question, hits, as_of, today)
    if timeline.text and timeline.latest is not None:
        if answer.abstained or timeline.text != answer.text:
            answer.changes.append(f"answered with the latest figure ({timeline.latest.figure}, "
                                  f"{timeline.latest.date}) and how it changed: {timeline.text!r}")
        answer.text, answer.citations = timeline.text, timeline.citations
        answer.abstained, answer.abstain_reason = False, ""
        answer.accounts = [a for a in timeline.accounts if a.citation]
        return answer
    # the citation check's accounts (named sources' figures) stay; else the dated figures found here
    answer.accounts = answer.accounts or cite_accounts(timeline.accounts, answer.citations, answer.text)
    return answer
