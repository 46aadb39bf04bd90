"""Syndicated copies: articles that are near-duplicates of each other (a wire story and its rewrites).

Each article's text becomes a MinHash (datasketch) over word 3-shingles; an LSH index
proposes candidate pairs and pairs whose estimated Jaccard similarity reaches
`COPY_JACCARD` are joined into groups (union-find). `groups_of(store)` caches the
grouping per loaded index. Retrieval uses it to show one article per group and list
the other copies. It does not decide which copy is the original and reads no dates.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping

from qa.records import Article

# Fitted on the dated dev set (benchmarks/fit_dated.py): its syndicated copies and rewrites scored
# 0.70-0.82, distinct reports of one event at most 0.10; 0.4 is the middle of that gap.
COPY_JACCARD = 0.4
NUM_PERM = 128
SHINGLE_WORDS = 3
_WORD_RE = re.compile(r"[a-z0-9]+")

__all__ = ["COPY_JACCARD", "copy_groups", "groups_of", "shingles", "similarity"]


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    """Lower-cased word `size`-grams of a text (the whole text when shorter)."""
    tokens = _WORD_RE.findall(text.lower())
    if len(tokens) <= size:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i:i + size]).encode() for i in range(len(tokens) - size + 1)}


def _minhashes(texts: Mapping[str, str]):
    from datasketch import MinHash

    keys = list(texts)
    hashes = MinHash.bulk([sorted(shingles(texts[k])) for k in keys], num_perm=NUM_PERM, seed=1)
    return dict(zip(keys, hashes, strict=True))


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' shingles (MinHash)."""
    hashes = _minhashes({"a": a, "b": b})
    return float(hashes["a"].jaccard(hashes["b"]))


def copy_groups(articles: Iterable[Article], threshold: float = COPY_JACCARD) -> dict[str, str]:
    """doc_id -> group id (the smallest doc_id of its group) for articles that have copies."""
    from datasketch import MinHashLSH

    texts = {a.doc_id: a.text for a in articles}
    if len(texts) < 2:
        return {}
    hashes = _minhashes(texts)
    lsh = MinHashLSH(threshold=max(0.05, threshold * 0.8), num_perm=NUM_PERM)
    parent = {d: d for d in texts}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for doc_id, mh in hashes.items():
        for other in lsh.query(mh):
            if mh.jaccard(hashes[other]) >= threshold:
                a, b = root(doc_id), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        lsh.insert(doc_id, mh)
    groups = {d: root(d) for d in texts}
    sizes: dict[str, int] = {}
    for g in groups.values():
        sizes[g] = sizes.get(g, 0) + 1
    return {d: g for d, g in groups.items() if sizes[g] > 1}


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def groups_of(store: object) -> dict[str, str]:
    """`copy_groups` of a loaded index's articles, computed once per index state."""
    articles: dict[str, Article] = store.articles  # type: ignore[attr-defined]
    key = hash(tuple((d, a.content_hash) for d, a in articles.items()))
    cached = _cache.get(store)
    if cached is None or cached[0] != key:
        cached = (key, copy_groups(articles.values()))
        _cache[store] = cached
    return cached[1]
