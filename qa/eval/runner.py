"""Ask every fact through an `Assistant` and score it; summarise the items into metrics.

For each fact: `Assistant.ask` (with `history` for follow-ups) gives the answer,
its citations and timings; `Assistant.retrieve(question, k=10)` gives the ranking
scored for retrieval. The draft is scored next to the final answer, which gives
`kept` and `caught` (what the citation check keeps and removes); citations are
scored against gold evidence (`qa.eval.evidence`). The matching and intervals are
defined in `qa.eval.metrics`, the judge-graded ALCE scores in `qa.eval.judge`.
This module does not index, print tables or write files (see `qa.eval.cli` and
`qa.eval.report`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.answer.cite import is_abstention
from qa.api import Assistant
from qa.errors import InvalidQuestionError
from qa.eval.evidence import EvidenceLocator, score_citations
from qa.eval.facts import Fact
from qa.eval.judge import JudgeCheck, citation_scores, cited_sentences
from qa.eval.metrics import (
    Metric,
    best_f1,
    exact_match,
    numeric_match,
    quantile,
    ratio,
    share,
)
from qa.records import Answer, Hit

RETRIEVE_K = 10

# verdicts
CORRECT, INCORRECT, REFUSED = "correct", "incorrect", "refused"      # answerable questions
ABSTAINED, ANSWERED = "abstained", "answered"                        # unanswerable questions
ERROR = "error"


@dataclass
class ItemResult:
    """One question: the answer, its citations, every verdict and score, retrieval ranks, timings.

    `passages` are the passages the model was given (numbered as in its draft);
    `retrieved` is the separate top-10 ranking used for the retrieval scores.

    Scores that do not apply are None (e.g. `exact_match` for unanswerable facts,
    citation scores for abstentions). Ranks are 1-based, None when not in the top 10.
    `draft_abstained` is true when the model's draft says only that the articles
    don't say (or there is no draft: the relevance gate abstained before the model).
    `gold_cited` / `draft_gold_cited` flag, per citation of the final answer / per
    `[n]` marker of the draft, whether the passage holds the fact's gold evidence
    (None when not scored: abstentions, unanswerable facts, facts without evidence).
    """

    id: str
    kind: str
    question: str
    answerable: bool
    answers: list[str] = field(default_factory=list)
    all_of: list[list[str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    history: list[list[str]] = field(default_factory=list)
    answer: str = ""
    draft: str = ""
    standalone_question: str = ""
    abstained: bool = False
    abstain_reason: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    correct: bool = False
    exact_match: bool | None = None
    draft_exact_match: bool | None = None
    f1: float | None = None
    numeric_match: bool | None = None
    draft_abstained: bool = False
    gold_cited: list[bool] | None = None
    draft_gold_cited: list[bool] | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    citation_sentences: list[dict[str, Any]] = field(default_factory=list)
    draft_citation_recall: float | None = None
    draft_citation_precision: float | None = None
    article_rank: int | None = None
    passage_rank: int | None = None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""
    as_of: str = ""
    accounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvalRun:
    """A whole run: what was run (`meta`), the metrics, correctness per kind, every item.

    `judge` is the support judge's check on its development cases, `judge_test` on
    its held-out test cases (reported, never tuned on).
    """

    meta: dict[str, Any]
    metrics: dict[str, Metric]
    by_kind: dict[str, Metric]
    items: list[ItemResult]
    judge: JudgeCheck | None = None
    judge_test: JudgeCheck | None = None


# ---- retrieval scoring --------------------------------------------------------------------------

def first_rank(flags: Sequence[bool]) -> int | None:
    """1-based position of the first true flag, or None."""
    return next((i + 1 for i, f in enumerate(flags) if f), None)


# ---- one item -----------------------------------------------------------------------------------

def draft_abstains(draft: str) -> bool:
    """Whether a draft is empty or all its sentences say the articles don't say."""
    sentences = [bare for bare, _ in cited_sentences(draft) if any(ch.isalnum() for ch in bare)]
    return all(is_abstention(bare) for bare in sentences)


def _cited_hits(answer: Answer) -> list[Hit]:
    return [Hit(doc_id=c.doc_id, chunk_id=-1, text=c.text, score=c.score, start=c.start, end=c.end)
            for c in answer.citations]


def _draft_cited_hits(answer: Answer) -> list[Hit]:
    numbers = [n for _, markers in cited_sentences(answer.draft) for n in markers]
    return [answer.passages[n - 1] if 1 <= n <= len(answer.passages)
            else Hit(doc_id="", chunk_id=-1, text="", score=0.0) for n in numbers]


def score_answer(fact: Fact, answer: Answer, locator: EvidenceLocator | None = None) -> ItemResult:
    """Verdict, correctness and citation scores of one answer (retrieval is scored separately).

    `locator` finds evidence spans in the indexed articles for the gold-evidence
    citation scores; without it a passage holds evidence when its text contains it.
    """
    item = ItemResult(id=fact.id, kind=fact.kind, question=fact.question, answerable=fact.answerable,
                      answers=list(fact.answers), all_of=[list(g) for g in fact.all_of],
                      doc_ids=list(fact.doc_ids), evidence=list(fact.evidence),
                      history=[[q, a] for q, a in fact.history], answer=answer.text, draft=answer.draft,
                      standalone_question=answer.standalone_question, abstained=answer.abstained,
                      abstain_reason=answer.abstain_reason, timings=dict(answer.timings),
                      as_of=fact.as_of, accounts=[dataclasses.asdict(a) for a in answer.accounts])
    item.draft_abstained = draft_abstains(answer.draft)
    item.citations = [{"n": c.n, "doc_id": c.doc_id, "start": c.start, "end": c.end, "text": c.text,
                       "cited_by": list(c.cited_by)} for c in answer.citations]
    if fact.answerable:
        text = "" if answer.abstained else answer.text
        item.exact_match = exact_match(text, fact.answers, fact.all_of)
        # a draft that abstains holds no answer, as a final answer that abstains holds none
        item.draft_exact_match = (not item.draft_abstained
                                  and exact_match(answer.draft, fact.answers, fact.all_of))
        item.f1 = best_f1(text, fact.answers or [a for g in fact.all_of for a in g])
        if fact.kind == "number":
            item.numeric_match = numeric_match(text, fact.answers)
        item.correct = bool(item.exact_match)
        item.verdict = REFUSED if answer.abstained else (CORRECT if item.correct else INCORRECT)
    else:
        item.correct = answer.abstained
        item.verdict = ABSTAINED if answer.abstained else ANSWERED
    if fact.answerable and fact.evidence:
        locator = locator or EvidenceLocator({})
        if not answer.abstained:
            item.gold_cited = score_citations(_cited_hits(answer), fact.evidence, locator).gold
        if not item.draft_abstained:
            item.draft_gold_cited = score_citations(_draft_cited_hits(answer), fact.evidence, locator).gold
    item.passages = [{"n": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id, "text": h.text,
                      "dense_score": round(h.dense_score, 4)} for n, h in enumerate(answer.passages, 1)]
    if not answer.abstained:
        final = citation_scores(answer.text, {c.n: c.text for c in answer.citations})
        item.citation_recall, item.citation_precision = final.recall, final.precision
        item.citation_sentences = [{"sentence": v.sentence, "cited": v.cited, "supported": v.supported,
                                    "needed": v.precise} for v in final.sentences]
    if answer.draft and answer.passages:
        draft = citation_scores(answer.draft, {i + 1: h.text for i, h in enumerate(answer.passages)})
        item.draft_citation_recall, item.draft_citation_precision = draft.recall, draft.precision
    return item


def evaluate_fact(assistant: Assistant, fact: Fact, locator: EvidenceLocator,
                  use_as_of: bool = True) -> ItemResult:
    """Ask one fact (as of its `as_of` date unless `use_as_of` is false), score the answer and
    the top-10 retrieval. The article rank counts distinct articles (a second passage of one
    article does not push the next article down).

    A question the assistant rejects (InvalidQuestionError) becomes verdict `error`;
    other errors (model or index trouble) propagate, since they would fail every item.
    """
    try:
        as_of = fact.as_of if use_as_of else None
        answer = assistant.ask(fact.question, history=fact.history or None, as_of=as_of)
        item = score_answer(fact, answer, locator)
        hits = assistant.retrieve(answer.standalone_question or fact.question, k=RETRIEVE_K, as_of=as_of)
    except InvalidQuestionError as exc:
        return ItemResult(id=fact.id, kind=fact.kind, question=fact.question,
                          answerable=fact.answerable, answers=list(fact.answers),
                          all_of=[list(g) for g in fact.all_of], doc_ids=list(fact.doc_ids),
                          evidence=list(fact.evidence), verdict=ERROR, error=f"{type(exc).__name__}: {exc}")
    item.retrieved = [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "start": h.start, "end": h.end,
                       "score": round(h.score, 5), "dense_score": round(h.dense_score, 4)}
                      for h in hits]
    if fact.answerable and fact.doc_ids:
        item.article_rank = first_rank([d in fact.doc_ids for d in dict.fromkeys(h.doc_id for h in hits)])
    if fact.answerable and fact.evidence:
        item.passage_rank = first_rank([h.doc_id in fact.doc_ids and locator.holds(h, fact.evidence)
                                        for h in hits])
    return item


# ---- the whole run ------------------------------------------------------------------------------

def summarize(items: Sequence[ItemResult], seed: int = 0) -> tuple[dict[str, Metric], dict[str, Metric]]:
    """Every metric with its bootstrap interval, and correctness per kind."""
    answerable = [i for i in items if i.answerable]
    unanswerable = [i for i in items if not i.answerable]
    ok = [i for i in items if i.verdict != ERROR]
    m: dict[str, Metric] = {}

    def put(key: str, metric: Metric) -> None:
        m[key] = metric

    put("accuracy", share("accuracy (all questions)", [i.correct for i in items], seed))
    put("exact_match", share("exact match (alias span)", [bool(i.exact_match) for i in answerable], seed))
    put("draft_exact_match", share("exact match of the raw draft (before the citation check)",
                                   [bool(i.draft_exact_match) for i in answerable], seed))
    put("f1", share("token F1 (best alias)", [i.f1 or 0.0 for i in answerable], seed))
    put("numeric_match", share("numeric match (number questions)",
                               [bool(i.numeric_match) for i in answerable if i.numeric_match is not None],
                               seed))
    # the citation check: the model's draft against the final answer
    put("draft_accuracy", share("accuracy of the raw draft",
                                [bool(i.draft_exact_match) if i.answerable else i.draft_abstained
                                 for i in ok], seed))
    put("kept", share("kept (right drafts still right)",
                      [bool(i.exact_match) for i in answerable if i.verdict != ERROR and i.draft_exact_match],
                      seed))
    put("caught", share("caught (wrong drafts turned into abstentions)",
                        [i.abstained for i in ok
                         if not i.draft_abstained and not (i.answerable and i.draft_exact_match)], seed))
    put("draft_abstain_recall", share("abstention recall of the raw draft",
                                      [i.draft_abstained for i in unanswerable if i.verdict != ERROR], seed))
    refusals = share("false-refusal rate of the raw draft",
                     [i.draft_abstained for i in answerable if i.verdict != ERROR], seed)
    refusals.higher_is_better = False
    put("draft_false_refusal_rate", refusals)
    # citations against the datasets' gold evidence (not the support judge)
    for prefix, label, flags_of in (("", "", lambda i: i.gold_cited),
                                    ("draft_", " (draft's own markers)", lambda i: i.draft_gold_cited)):
        pool = [flags_of(i) for i in items if flags_of(i) is not None]
        put(f"{prefix}gold_citation_precision",
            ratio(f"citation precision{label}, gold evidence", [sum(f) for f in pool],
                  [len(f) for f in pool], seed))
        put(f"{prefix}gold_citation_recall",
            share(f"citation recall{label}, gold evidence", [any(f) for f in pool], seed))
    put("citation_recall", share("citation recall (ALCE, graded by the support judge itself)",
                                 [i.citation_recall for i in items if i.citation_recall is not None], seed))
    put("citation_precision", share("citation precision (ALCE, graded by the support judge itself)",
                                    [i.citation_precision for i in items
                                     if i.citation_precision is not None], seed))
    put("draft_citation_recall", share("draft citation recall (model's own markers, judge-graded)",
                                       [i.draft_citation_recall for i in items
                                        if i.draft_citation_recall is not None], seed))
    put("draft_citation_precision", share("draft citation precision (model's own markers, judge-graded)",
                                          [i.draft_citation_precision for i in items
                                           if i.draft_citation_precision is not None], seed))
    with_docs = [i for i in answerable if i.doc_ids and i.verdict != ERROR]
    with_evidence = [i for i in with_docs if i.evidence]
    for level, pool, rank in (("article", with_docs, lambda i: i.article_rank),
                              ("passage", with_evidence, lambda i: i.passage_rank)):
        ranks = [rank(i) for i in pool]
        put(f"{level}_hit@1", share(f"{level} hit@1", [r == 1 for r in ranks], seed))
        put(f"{level}_hit@5", share(f"{level} hit@5", [r is not None and r <= 5 for r in ranks], seed))
        put(f"{level}_mrr@10", share(f"{level} MRR@10", [1 / r if r else 0.0 for r in ranks], seed))
    # with no unanswerable question in the set, abstention precision says nothing: n/a
    pool = ok if unanswerable else []
    put("abstain_precision", ratio("abstention precision",
                                   [(not i.answerable) and i.abstained for i in pool],
                                   [i.abstained for i in pool], seed))
    put("abstain_recall", share("abstention recall (unanswerable)",
                                [i.abstained for i in unanswerable if i.verdict != ERROR], seed))
    refusals = share("false-refusal rate (answerable)",
                     [i.abstained for i in answerable if i.verdict != ERROR], seed)
    refusals.higher_is_better = False
    put("false_refusal_rate", refusals)
    for stage in ("retrieve", "first_token", "total"):
        values = [i.timings[stage] for i in ok if stage in i.timings]
        put(f"{stage}_median", quantile(f"{stage.replace('_', ' ')} median", values, 0.5, seed))
        put(f"{stage}_p95", quantile(f"{stage.replace('_', ' ')} p95", values, 0.95, seed))
    by_kind = {kind: share(kind, [i.correct for i in items if i.kind == kind], seed)
               for kind in dict.fromkeys(i.kind for i in items)}
    return m, by_kind


def run_eval(assistant: Assistant, facts: Sequence[Fact], progress: bool = True, seed: int = 0,
             meta: dict[str, Any] | None = None, judge: JudgeCheck | None = None,
             judge_test: JudgeCheck | None = None,
             on_item: Callable[[ItemResult], None] | None = None, use_as_of: bool = True) -> EvalRun:
    """Ask every fact (with a tqdm bar on stderr when `progress`) and summarise the run."""
    from tqdm import tqdm

    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store = assistant.store
    locator = EvidenceLocator({doc_id: a.text for doc_id, a in store.articles.items()})
    items: list[ItemResult] = []
    bar = tqdm(facts, desc="qa eval", unit="q", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for fact in bar:
        item = evaluate_fact(assistant, fact, locator, use_as_of)
        items.append(item)
        if on_item is not None:
            on_item(item)
        bar.set_postfix(correct=f"{sum(i.correct for i in items)}/{len(items)}", refresh=False)
    bar.close()
    metrics, by_kind = summarize(items, seed)
    info = {
        "started": started_at,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "questions": len(items),
        "answerable": sum(i.answerable for i in items),
        "embed_model": getattr(assistant.embedder, "name", ""),
        "llm_model": getattr(assistant.generator, "name", ""),
        "index_dir": str(assistant.index_dir),
        "passages": assistant.settings.passages,
        "min_relevance": assistant.settings.min_relevance,
        "articles_indexed": len(store.articles),
        "passages_indexed": len(store.chunks),
        "seed": seed,
        "as_of_used": use_as_of,
    }
    return EvalRun(meta={**(meta or {}), **info}, metrics=metrics, by_kind=by_kind, items=items,
                   judge=judge, judge_test=judge_test)
