"""BM25 over passages (bm25s sparse matrices), with the shared stemmed tokeniser of `qa.text`.

Built in memory from passage texts; it does not persist itself or know FAISS.
"""

from __future__ import annotations

import numpy as np

from qa.text import content_terms


class BM25Index:
    """BM25 scores of passages for a query; ids are the caller's (chunk ids)."""

    def __init__(self, ids: list[int], texts: list[str]) -> None:
        import bm25s

        self.ids = np.asarray(ids, dtype=np.int64)
        self.vocab: dict[str, int] = {}
        corpus = [[self.vocab.setdefault(t, len(self.vocab)) for t in content_terms(text)]
                  for text in texts]
        self._retriever = bm25s.BM25()
        self._retriever.index(bm25s.tokenization.Tokenized(ids=corpus, vocab=self.vocab),
                              show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score; empty when no query term is known."""
        terms = [self.vocab[t] for t in dict.fromkeys(content_terms(query)) if t in self.vocab]
        if not terms:
            return []
        scores = self._retriever.get_scores(terms)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]
