"""Citations scored against the datasets' gold evidence, not against the support judge.

A fact's `evidence` is the text that answers it: SQuAD's sentence holding the
first gold answer, RGB's positive snippets that hold the answer, the seed facts'
hand-copied spans. A passage *holds the gold evidence* when it contains an
evidence span or covers at least half of one (`EvidenceLocator.holds`). That
gives two scores independent of `qa.answer.cite`'s judge, which chose the citations:

- precision: the share of an answer's citations whose passage holds gold evidence;
- recall: whether the answer cites at least one passage holding gold evidence.

Only answered, answerable facts that have evidence are scored (an answer to an
unanswerable question is scored by the refusal metrics instead). This module
locates spans and scores citation lists; it asks and summarises nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.eval.metrics import normalize
from qa.records import Hit


class EvidenceLocator:
    """Finds evidence spans in the indexed article texts to tell whether a passage holds one."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self._spans: dict[tuple[str, str], tuple[int, int] | None] = {}

    def span(self, doc_id: str, evidence: str) -> tuple[int, int] | None:
        """(start, end) of the evidence in the article's cleaned text, or None."""
        key = (doc_id, evidence)
        if key not in self._spans:
            at = self.texts.get(doc_id, "").find(evidence)
            self._spans[key] = (at, at + len(evidence)) if at >= 0 else None
        return self._spans[key]

    def holds(self, hit: Hit, evidence: Sequence[str]) -> bool:
        """The passage contains an evidence span or covers at least half of one."""
        for span_text in evidence:
            span = self.span(hit.doc_id, span_text)
            if span is not None:
                overlap = min(hit.end, span[1]) - max(hit.start, span[0])
                if overlap >= max(1, (span[1] - span[0]) // 2):
                    return True
            else:
                ev, passage = normalize(span_text), normalize(hit.text)
                if ev and (ev in passage or (len(passage) > 40 and passage in ev)):
                    return True
        return False


@dataclass
class GoldCitationScore:
    """One answer's citations against gold evidence: a flag per citation, precision and recall.

    `precision` is None when the answer cites nothing; `recall` is True when some
    citation holds gold evidence.
    """

    gold: list[bool] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return sum(self.gold) / len(self.gold) if self.gold else None

    @property
    def recall(self) -> bool:
        return any(self.gold)


def score_citations(passages: Sequence[Hit], evidence: Sequence[str],
                    locator: EvidenceLocator) -> GoldCitationScore:
    """Whether each cited passage (in citation order) holds one of the evidence spans."""
    return GoldCitationScore([locator.holds(hit, evidence) for hit in passages])
