"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank, near-duplicates removed.

Dated retrieval: with `as_of`, articles published after it are filtered out (undated ones
are kept: the filter is "published <= as_of or undated", `qa.ingest.dates.allows`); relative time
in the question ("this week") is resolved into a window of days (`qa.ingest.dates`); a recency
prior lowers each passage's fused score by `recency_weight * log(1 + days)` from that
window, or from the newest candidate's date (an undated article gets the median of the dated
candidates' penalties); syndicated copies collapse to one article
whose hit lists the others (`qa.search.dedup`); and the passages are picked by a maximal-
marginal-relevance rule over articles (each further passage of an article already
picked counts `DIVERSITY_DECAY` times less), so the top passages come from several
articles unless one is plainly the only relevant one.

Returns `Hit`s best first. It decides nothing about abstaining; `dense_score`
on each hit lets the caller judge relevance. It does not call the language model.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

from qa.ingest.dates import DateWindow, allows, as_of_date, resolve_window, strip_relative
from qa.models.embed import Embedder
from qa.records import Hit
from qa.search.dedup import groups_of
from qa.store.index_store import IndexStore
from qa.text import content_terms

RRF_K = 60
NEAR_DUPLICATE_JACCARD = 0.8
# Fitted on the dated dev set by benchmarks/fit_dated.py (grid search, best mean of article
# hit@1 and hit@5 on the dev half; the grid and both halves are in benchmarks/results/fit_dated.json).
RECENCY_WEIGHT = 0.001
DIVERSITY_DECAY = 0.5


def fuse(rankings: list[list[int]], rrf_k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of id rankings; ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (rrf_k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def is_near_duplicate(a: set[str], b: set[str]) -> bool:
    """Two passages say the same thing: high term overlap (Jaccard) or one inside the other."""
    if not a or not b:
        return a == b
    shared = len(a & b)
    return shared / len(a | b) >= NEAR_DUPLICATE_JACCARD or shared / min(len(a), len(b)) >= 0.95


def _filtered(search: Callable[[int], list[tuple[int, float]]], wanted: int, total: int,
              keep: Callable[[int], bool]) -> list[tuple[int, float]]:
    """`wanted` results of `search(n)` that `keep` accepts, widening n until found or exhausted."""
    n = wanted
    while True:
        found = search(n)
        kept = [(c, s) for c, s in found if keep(c)]
        if len(kept) >= wanted or len(found) < n or n >= total:
            return kept[:wanted]
        n *= 4


_ASKS_LATEST_RE = re.compile(
    r"\b(?:latest|newest|most recent|current(?:ly)?|now|so far|to date|still|yet|as of|how many|how much|"
    r"toll|number of)\b", re.IGNORECASE)


def _days_between(published: str, ref: str) -> int:
    return abs((dt.date.fromisoformat(published[:10]) - dt.date.fromisoformat(ref)).days)


def recency_penalty(published: str, window: DateWindow | None, newest: str, weight: float) -> float:
    """`weight * log(1 + days)` from the question's window (or the newest candidate's date); 0 undated."""
    if not published or weight <= 0:
        return 0.0
    days = window.distance(published) if window is not None else \
        (_days_between(published, newest) if newest else 0)
    return weight * math.log1p(days)


def retrieve(store: IndexStore, embedder: Embedder, question: str, k: int = 5,
             candidates: int = 30, as_of: str | None = None, recency_weight: float = RECENCY_WEIGHT,
             diversity: bool = True, collapse_copies: bool = True, today: dt.date | None = None) -> list[Hit]:
    """The k best passages for a question from dense and lexical search, deduplicated.

    A hit's `score` is its fused score, discounted for articles already shown and less the
    recency prior: it never increases down the list.

    `as_of` ("YYYY-MM-DD") keeps only articles published on or before it, and undated ones
    ("published <= as_of or undated"); relative time in the question is resolved against it
    (else against `today`, default the system date). `recency_weight=0`, `diversity=False`
    and `collapse_copies=False` turn the prior, the article-level MMR and the copy
    collapsing off.
    """
    if k <= 0 or not store.chunks:
        return []
    as_of = as_of_date(as_of)
    window = resolve_window(question, as_of, today)
    query = strip_relative(question) if window is not None else question
    query_vector = embedder.embed([query])[0]
    total = len(store.chunks)

    def keep(chunk_id: int) -> bool:
        return allows(store.articles[store.chunks[chunk_id].doc_id].published, as_of)

    wanted = max(candidates, k)
    dense = _filtered(lambda n: store.search_dense(query_vector, n), wanted, total, keep)
    lexical = _filtered(lambda n: store.search_lexical(query, n), wanted, total, keep)
    dense_scores = dict(dense)
    lexical_scores = dict(lexical)
    # one fetch for the lexical-only candidates' vectors (a round trip each with Milvus)
    vectors = store.vectors_of([c for c, _ in lexical if c not in dense_scores])
    groups = groups_of(store) if collapse_copies else {}
    fused = fuse([[c for c, _ in dense], [c for c, _ in lexical]])
    dated = [store.articles[store.chunks[c].doc_id].published for c, _ in fused]
    newest = max((d for d in dated if d), default="")
    # the prior is for questions about time ("this week", "the latest toll") and for counts, which
    # change from report to report; any other question ranks by relevance alone (RRF scores differ
    # by ~1e-4 a rank, so a prior would reorder them by date)
    weight = recency_weight if window is not None or _ASKS_LATEST_RE.search(question) else 0.0
    penalties = [recency_penalty(p, window, newest, weight) for p in dated]
    known = sorted(x for x, p in zip(penalties, dated, strict=True) if p)
    undated = known[len(known) // 2] if known else 0.0  # an undated article is neither new nor old
    scored = [(c, s, x if p else undated) for (c, s), x, p in zip(fused, penalties, dated, strict=True)]
    scored.sort(key=lambda row: row[2] - row[1])
    return _pick(store, scored, k, query_vector, dense_scores, lexical_scores, groups, as_of,
                 vectors,
                 DIVERSITY_DECAY if diversity else 1.0)


def _pick(store: IndexStore, scored: list[tuple[int, float, float]], k: int, query_vector,
          dense_scores: dict[int, float], lexical_scores: dict[int, float], groups: dict[str, str],
          as_of: str, vectors: dict, decay: float) -> list[Hit]:
    """Greedy article-level MMR over (chunk, fused score, recency penalty) sorted by fused minus
    penalty: near-duplicate passages are skipped, one article per group of copies is shown, and
    a passage's fused score counts `decay` times less per passage already picked from its article."""
    hits: list[Hit] = []
    kept_terms: list[set[str]] = []
    members: dict[str, list[str]] = {}  # group of copies -> its doc ids, in order
    for doc_id, group_of_doc in sorted(groups.items()):
        members.setdefault(group_of_doc, []).append(doc_id)
    shown: dict[str, str] = {}  # group -> doc_id shown for it
    picked_per_group: dict[str, int] = {}
    remaining = list(scored)
    while remaining and len(hits) < k:
        best_i, best_value = 0, -math.inf
        for i, (chunk_id, fused, penalty) in enumerate(remaining):
            doc_id = store.chunks[chunk_id].doc_id
            already = picked_per_group.get(groups.get(doc_id, doc_id), 0)
            value = fused * decay ** already - penalty
            if value > best_value:
                best_i, best_value = i, value
            if already == 0:
                break  # sorted by fused - penalty: no later candidate can beat an undiscounted one
        chunk_id, fused, penalty = remaining.pop(best_i)
        score = best_value  # non-increasing: each pick is the best of values that only shrink
        chunk = store.chunks[chunk_id]
        group = groups.get(chunk.doc_id, chunk.doc_id)
        if group in shown and shown[group] != chunk.doc_id:
            continue  # a copy of an article already shown
        terms = set(content_terms(chunk.text))
        if any(is_near_duplicate(terms, other) for other in kept_terms):
            continue
        if chunk_id not in dense_scores:
            vector = vectors.get(chunk_id)
            dense_scores[chunk_id] = float((store.vector(chunk_id) if vector is None else vector)
                                           @ query_vector)
        article = store.articles[chunk.doc_id]
        copies = [{"doc_id": d, "title": a.title, "url": a.url, "published": a.published}
                  for d in members.get(group, ()) if d != chunk.doc_id
                  for a in (store.articles[d],) if allows(a.published, as_of)]
        hits.append(Hit(doc_id=chunk.doc_id, chunk_id=chunk_id, text=chunk.text, score=score,
                        title=article.title, start=chunk.start, end=chunk.end,
                        dense_score=dense_scores[chunk_id],
                        lexical_score=lexical_scores.get(chunk_id, 0.0),
                        url=article.url, published=article.published, copies=copies))
        kept_terms.append(terms)
        shown[group] = chunk.doc_id
        picked_per_group[group] = picked_per_group.get(group, 0) + 1
    return hits
