"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank, near-duplicates removed.

Returns `Hit`s best first. It decides nothing about abstaining; `dense_score`
on each hit lets the caller judge relevance. It does not call the language model.
"""

from __future__ import annotations

from qa.embed import Embedder
from qa.records import Hit
from qa.store import IndexStore
from qa.text import content_terms

RRF_K = 60
NEAR_DUPLICATE_JACCARD = 0.8


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


def retrieve(store: IndexStore, embedder: Embedder, question: str, k: int = 5,
             candidates: int = 30) -> list[Hit]:
    """The k best passages for a question from dense and lexical search, deduplicated."""
    if k <= 0 or not store.chunks:
        return []
    query_vector = embedder.embed([question])[0]
    dense = store.search_dense(query_vector, max(candidates, k))
    lexical = store.search_lexical(question, max(candidates, k))
    dense_scores = dict(dense)
    lexical_scores = dict(lexical)
    # one fetch for the lexical-only candidates' vectors (a round trip each with Milvus)
    vectors = store.vectors_of([c for c, _ in lexical if c not in dense_scores])
    hits: list[Hit] = []
    kept_terms: list[set[str]] = []
    for chunk_id, fused in fuse([[c for c, _ in dense], [c for c, _ in lexical]]):
        chunk = store.chunks[chunk_id]
        terms = set(content_terms(chunk.text))
        if any(is_near_duplicate(terms, other) for other in kept_terms):
            continue
        if chunk_id not in dense_scores:
            vector = vectors.get(chunk_id)
            dense_scores[chunk_id] = float((store.vector(chunk_id) if vector is None else vector)
                                           @ query_vector)
        article = store.articles[chunk.doc_id]
        hits.append(Hit(doc_id=chunk.doc_id, chunk_id=chunk_id, text=chunk.text, score=fused,
                        title=article.title, start=chunk.start, end=chunk.end,
                        dense_score=dense_scores[chunk_id],
                        lexical_score=lexical_scores.get(chunk_id, 0.0),
                        url=article.url, published=article.published))
        kept_terms.append(terms)
        if len(hits) == k:
            break
    return hits
