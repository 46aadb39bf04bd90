"""Shorter prompts: each retrieved passage cut to the sentences around the one most like the question.

`focus_hits` embeds the question and every sentence of the passages (one batch, with the
embedding model already loaded for retrieval), keeps in each passage its best sentence and then
its neighbours, nearest first, while the kept text stays within `max_chars`. It returns copies of
the hits whose `text`, `start` and `end` are the kept window; the model reads those. Citations,
the support judge and the UI keep the whole passages. A passage already within `max_chars`, or one
of a single sentence, is kept whole. It does not drop passages or reorder them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from qa.ingest.chunk import sentence_spans
from qa.records import Hit

Embed = Callable[[list[str]], np.ndarray]


def _window(spans: list[tuple[int, int]], best: int, max_chars: int) -> tuple[int, int]:
    """Indexes [first, last] of the sentences kept around `best`: neighbours are added nearest
    first (the following one before the preceding one at the same distance) while they fit."""
    first = last = best
    for distance in range(1, len(spans)):
        grew = False
        for index in (best + distance, best - distance):
            if 0 <= index < len(spans) and (index == last + 1 or index == first - 1):
                candidate_first, candidate_last = min(first, index), max(last, index)
                size = spans[candidate_last][1] - spans[candidate_first][0]
                if size <= max_chars:
                    first, last, grew = candidate_first, candidate_last, True
        if not grew:
            break
    return first, last


def focus_hits(question: str, hits: Sequence[Hit], embed: Embed, max_chars: int) -> list[Hit]:
    """The hits with each text cut to the window of sentences most like `question` (see the
    module docstring); `max_chars` <= 0 returns them unchanged."""
    if max_chars <= 0 or not hits:
        return list(hits)
    spans_of = [sentence_spans(hit.text) if len(hit.text) > max_chars else [] for hit in hits]
    sentences = [hit.text[a:b] for hit, spans in zip(hits, spans_of, strict=True) for a, b in spans
                 if len(spans) > 1]
    if not sentences:
        return list(hits)
    vectors = embed([question, *sentences])
    similarity = vectors[1:] @ vectors[0]
    out, at = [], 0
    for hit, spans in zip(hits, spans_of, strict=True):
        if len(spans) <= 1:
            out.append(hit)
            continue
        scores = similarity[at : at + len(spans)]
        at += len(spans)
        first, last = _window(spans, int(np.argmax(scores)), max_chars)
        start, end = spans[first][0], spans[last][1]
        out.append(replace(hit, text=hit.text[start:end], start=hit.start + start, end=hit.start + end))
    return out
