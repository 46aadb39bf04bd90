"""The answer gate: one fitted decision on the whole checked answer, "is it likely right?".

The citation check (`qa.answer.cite.ground`) judges each draft sentence against the passages,
so a sentence copied from a passage always passes it, also when that sentence does not answer
the question (the commonest wrong answer on SQuAD 2.0's unanswerable questions). The gate looks
at the answer as a whole instead: the answering model's own confidence in its draft (the mean
token log-probability, where the backend reports it), how close the answer is to the question,
how much of the draft the check had to remove, and the kind of question.
`GATE_FEATURES` also holds features of how the question matches the passages (question coverage,
question similarity, retrieval scores); the shipped fit leaves them out, and the file lists
the features it uses.
A logistic regression over the file's features, fitted on dev data only (`scripts/fit_gate.py`)
and shipped as `qa/answer/data/answer_gate.json`, turns them into the probability that the
answer holds a right answer; below the file's threshold the assistant abstains instead. A
feature it cannot compute (no log-probability from a served model, no embedder) counts as its
dev mean. The gate never edits an answer's text or citations.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.answer.cite import MARKER_RE, Grounded, draft_sentences, is_abstention
from qa.answer.intent import COUNT, NUMBER, TIME, YES_NO, parse_intent
from qa.answer.judge import Embed, FittedModel, answers_kind, evidence_sentences, load_model
from qa.records import Hit
from qa.text import content_terms

GATE_FILE = Path(__file__).resolve().parent / "data" / "answer_gate.json"

GATE_FEATURES = (
    "mean_logprob",            # the draft's log-probability per token (the model's confidence)
    "logprob",                 # the draft's summed log-probability, clipped to [-40, 0]
    "kept_share",              # share of the draft's sentences that reach the answer
    "draft_hedges",            # the draft also says the articles don't say
    "question_missing",        # share of the question's content words no cited passage holds
    "question_similarity",     # cosine of the question and the cited passages' closest sentence
    "answer_similarity",       # cosine of the question and the answer text
    "dense_top",               # dense score of the first retrieved passage
    "dense_cited",             # best dense score among the cited passages
    "answers_kind",            # the answer holds an answer of the asked kind
    "kind_checked",            # the question asks for a count, number or time
    "kind_yes_no",             # the question is a yes/no question
    "answer_length",           # characters of the answer / 100
)


@dataclass(frozen=True)
class GateVerdict:
    """Whether to keep a checked answer, the fitted probability that it is right, and its signals."""

    keep: bool
    score: float
    features: dict[str, float] = field(default_factory=dict, compare=False)


def _bare(text: str) -> str:
    """The answer text without its [n] markers."""
    return MARKER_RE.sub("", text).strip()


def gate_features(question: str, grounded: Grounded, hits: Sequence[Hit], draft: str,
                  logprob: float | None = None, new_tokens: int | None = None,
                  embed: Embed | None = None,
                  wanted: Collection[str] = GATE_FEATURES) -> dict[str, float]:
    """The gate's signals for one checked, not abstaining answer (see `GATE_FEATURES`);
    the log-probability and similarity features are left out when unknown. The cited passages'
    sentences are embedded only when `wanted` holds question_similarity."""
    intent = parse_intent(question)
    answer = _bare(grounded.text)
    cited = [c.text for c in grounded.citations]
    cited_set = set(cited)
    sentences = draft_sentences(draft)
    abstaining = [s for s in sentences if is_abstention(_bare(s))]
    answer_sentences = max(1, len(draft_sentences(answer)))
    question_words = set(content_terms(intent.asked))
    cited_words = set().union(*(content_terms(t) for t in cited)) if cited else set()
    dense = [h.dense_score for h in hits]
    values: dict[str, float] = {
        "kept_share": min(1.0, answer_sentences / max(1, len(sentences) - len(abstaining))),
        "draft_hedges": float(bool(abstaining)),
        "question_missing": (len(question_words - cited_words) / len(question_words)
                             if question_words else 0.0),
        "dense_top": dense[0] if dense else 0.0,
        "dense_cited": max((h.dense_score for h in hits if h.text in cited_set), default=0.0),
        "answers_kind": float(answers_kind(answer, intent)),
        "kind_checked": float(intent.kind in (COUNT, NUMBER, TIME)),
        "kind_yes_no": float(intent.kind == YES_NO),
        "answer_length": len(answer) / 100.0,
    }
    if logprob is not None:
        values["logprob"] = max(-40.0, min(0.0, float(logprob)))
        values["mean_logprob"] = float(logprob) / max(1, new_tokens or 1)
    if embed is not None and cited:
        passage_sentences = ([s for t in cited for s in (evidence_sentences(t) or (t,))]
                             if "question_similarity" in wanted else [])
        vectors = embed([intent.asked or question, answer, *passage_sentences])
        values["answer_similarity"] = float(vectors[1] @ vectors[0])
        if passage_sentences:
            values["question_similarity"] = float(np.max(vectors[2:] @ vectors[0]))
    return values


class AnswerGate:
    """The fitted keep-or-abstain decision over `gate_features`; with no shipped file it keeps
    every answer."""

    def __init__(self, model: FittedModel | None = None, embed: Embed | None = None,
                 path: Path | None = None) -> None:
        self.model = model if model is not None else load_model(path or GATE_FILE)
        self.embed = embed

    def verdict(self, question: str, grounded: Grounded, hits: Sequence[Hit], draft: str,
                logprob: float | None = None, new_tokens: int | None = None) -> GateVerdict:
        """Keep or withhold `grounded` (an abstention is always kept: there is nothing to withhold)."""
        if self.model is None or grounded.abstained:
            return GateVerdict(True, 1.0)
        values = gate_features(question, grounded, hits, draft, logprob, new_tokens, self.embed,
                               wanted=self.model.features)
        score = self.model.probability(values)
        return GateVerdict(score >= self.model.threshold, score, values)
