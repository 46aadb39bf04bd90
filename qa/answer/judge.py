"""The support judge behind one interface: `Judge.verdict(claim, passages) -> Verdict`.

Two implementations:
- `RuleJudge`: the deterministic lexical rules of `qa.answer.support` (numbers bound to what they
  count, names, event words, polarity, coverage), as a yes/no.
- `LearnedJudge`: what the rules accept, and beyond that the same signals and a few more, as
  numbers (`features`), combined by a logistic regression fitted on dev data only
  (`scripts/fit_judge.py`) and shipped as a small versioned file (`qa/answer/data/judge_model.json`).
  Its score is the fitted probability that the sentence is a right, supported answer; a claim
  the rules reject is supported when that score >= the file's threshold (paraphrase).

Both apply the same hard rules first, which no fitted weight can outvote: a number that no
passage states (and the question did not give) is unsupported, and so is a name that neither
a passage nor the question holds, a figure given for another event ("650 killed" where the
passages say 650 freed), or a figure credited to a source ("the union said 12") when the
passage sentences that state it name another; a passage sentence that
addresses the assistant (`qa.answer.injection`) is never evidence; a claim or passage in a script
the English lexicon cannot read is not judged (`Verdict.judgeable` is False). Neither judge
calls the answering model; the learned one may use the embedder for one similarity.
"""

from __future__ import annotations

import json
import math
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer.injection import is_instruction
from qa.answer.intent import COUNT, NUMBER, TIME, YES_NO, Intent, parse_intent
from qa.answer.support import (
    _name_present,
    _polarity_matches,
    claim_of,
    evidence_of,
    gives_count_of,
    same_source,
    states_time,
    supporting_passages,
    supports,
    without_given,
)
from qa.ingest.chunk import sentence_spans
from qa.lexicon import SOURCE_WORDS, VAGUE_AMOUNTS
from qa.records import Hit
from qa.text import content_terms, numbers, stem, words

MODEL_FILE = Path(__file__).resolve().parent / "data" / "judge_model.json"
MODEL_FORMAT = 1
Embed = Callable[[Sequence[str]], np.ndarray]

FEATURES = (
    "rule_supported",      # the lexical rules accept one passage sentence
    "numbers_missing",     # claim numbers bound elsewhere or absent from the best sentence (0..2)
    "names_missing",       # share of the claim's names that the passage lacks
    "coverage_sentence",   # share of claim content in the best passage sentence
    "coverage_passage",    # share of claim content anywhere in the passage
    "answer_coverage",     # share of the claim's new content (not in the question) in the best sentence
    "answer_coverage_passage",  # the same anywhere in the passage
    "novel_terms",         # share of claim content words in neither passages nor question
    "question_terms",      # share of claim content words that the question holds
    "similarity",          # embedding cosine of the claim and the best passage sentence
    "question_similarity",  # embedding cosine of the question and the passage's closest sentence
    "event_mismatch",      # an event word (killed/freed/...) the best sentence lacks
    "polarity_mismatch",   # negated in one, not the other
    "source_mismatch",     # credits a source the passage does not name
    "answers_kind",        # holds an answer of the kind the question asks for
    "question_missing",    # share of the question's content words the passage lacks
    "question_names_missing",  # share of the question's names the passage lacks
    "length",              # characters / 100
)


@dataclass(frozen=True)
class Verdict:
    """A judgement of one claim: `supported`, a score in [0, 1], the passages (0-based) that
    together support it, why, other passages that each support it alone (`alternatives`), and
    whether the claim could be judged at all."""

    supported: bool
    score: float
    passages: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()
    alternatives: tuple[int, ...] = ()
    judgeable: bool = True
    features: dict[str, float] = field(default_factory=dict, compare=False)


def latin_share(text: str) -> float:
    """Share of the letters of `text` that are Latin (1.0 for text with no letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin / len(letters)


def readable(text: str) -> bool:
    """Whether the English lexicon can read `text`: mostly Latin letters."""
    return latin_share(text) >= 0.8


@lru_cache(maxsize=4096)
def evidence_sentences(text: str) -> tuple[str, ...]:
    """The passage's sentences that may count as evidence (instructions to the assistant removed)."""
    spans = sentence_spans(text) or [(0, len(text))]
    return tuple(s for s in (text[a:b].strip() for a, b in spans) if s and not is_instruction(s))


def answers_kind(sentence: str, intent: Intent) -> bool:
    """Whether a sentence holds an answer of the kind the question asks for: a number for "how
    many" (of what it counts) and "how much", a time for "when", and for every other kind some
    name, word or number the question does not already hold (words about the passages
    themselves, "mentioned in passage [1]", do not count; a choice "A or B?" may be answered in
    the question's words)."""
    claim = claim_of(sentence)
    lows = set(words(sentence))
    if intent.kind == COUNT:
        if lows & VAGUE_AMOUNTS and (not intent.counts or vague_count_of(sentence, intent.counts)):
            return True
        return bool(claim.numbers or lows & {"no", "none", "nobody"}) and (
            not intent.counts or gives_count_of(sentence, intent.counts))
    if intent.kind == NUMBER:
        return bool(claim.numbers or lows & VAGUE_AMOUNTS)
    if intent.kind == TIME:
        return states_time(sentence)
    if intent.kind == YES_NO or intent.choice:
        return True
    asked = {stem(w) for w in words(intent.asked)} | _SOURCE_STEMS
    return bool((claim.terms | claim.names) - asked) or bool(claim.numbers - numbers(intent.asked))


_SOURCE_STEMS = frozenset(stem(w) for w in SOURCE_WORDS)


def vague_count_of(sentence: str, focus: frozenset[str], window: int = 4) -> bool:
    """Whether a vague amount in the sentence ("dozens", "many") counts one of the `focus` stems:
    the thing counted is among the few words after it ("dozens of soldiers", "many foreign
    workers")."""
    tokens = words(sentence)
    for i, token in enumerate(tokens):
        if token in VAGUE_AMOUNTS and focus & {stem(w) for w in tokens[i + 1 : i + 1 + window]}:
            return True
    return False


def _terms(sentence: str) -> set[str]:
    return set(content_terms(sentence))


class Judge(ABC):
    """Decides whether passages support a claim sentence."""

    @abstractmethod
    def verdict(self, claim: str, passages: Sequence[str], question: str | Intent = "") -> Verdict:
        """The verdict on `claim` against `passages` (texts), for the question if given."""


def _hard_rules(claim: str, passages: Sequence[str], intent: Intent) -> Verdict | None:
    """A verdict no fitted weight may change, or None."""
    if not readable(claim) or not any(readable(p) for p in passages):
        return Verdict(False, 0.0, reasons=("the claim or passages are in a script the judge cannot read",),
                       judgeable=False)
    given = frozenset(numbers(intent.asked))
    wanted = without_given(claim_of(claim), given).numbers
    stated: set[float] = set()
    for passage in passages:
        for sentence in evidence_sentences(passage):
            stated |= evidence_of(sentence).numbers
    missing = wanted - stated
    if missing:
        shown = ", ".join(f"{v:g}" for v in sorted(missing))
        return Verdict(False, 0.0, reasons=(f"no passage states the number(s) {shown}",))
    asked_terms = {stem(w) for w in words(intent.asked)}
    passage_terms = frozenset(t for p in passages for s in evidence_sentences(p)
                              for t in evidence_of(s).terms)
    invented = sorted(n for n in claim_of(claim).names
                      if n not in asked_terms and not _name_present(n, passage_terms))
    if invented:
        return Verdict(False, 0.0, reasons=(f"no passage names {', '.join(invented)}",))
    stating = [evidence_of(s) for p in passages for s in evidence_sentences(p)]
    if wanted:  # the sentences that state the claim's numbers
        stating = [e for e in stating if wanted <= e.numbers]
        events = claim_of(claim).events
        if events and stating and not any(events <= e.events for e in stating):
            return Verdict(False, 0.0, reasons=("the passages give those numbers for another event",))
    credited = claim_of(claim).source
    if credited:
        named = [e.source for e in stating if e.source]
        if named and not any(same_source(credited, n) for n in named):
            return Verdict(False, 0.0, reasons=(f"credits {credited!r}, but the passages give it to "
                                                f"{named[0]!r}",))
    return None


def features(claim: str, passage: str, intent: Intent, all_terms: set[str],
             similarity: float = 0.0, question_similarity: float = 0.0) -> dict[str, float]:
    """The judge's signals for `claim` against one passage (see `FEATURES`)."""
    given = frozenset(numbers(intent.asked))
    c = without_given(claim_of(claim), given)
    sentences = evidence_sentences(passage)
    evidence = [evidence_of(s) for s in sentences]
    total = len(c.numbers) + len(c.names) + len(c.terms)
    passage_terms = set().union(*(e.terms for e in evidence)) if evidence else set()
    passage_numbers = set().union(*(e.numbers for e in evidence)) if evidence else set()

    def coverage(terms: set[str] | frozenset[str], nums: set[float] | frozenset[float]) -> float:
        if total == 0:
            return 1.0
        covered = (len(c.numbers & nums) + sum(1 for n in c.names if _name_present(n, frozenset(terms)))
                   + len(c.terms & terms))
        return covered / total

    asked_stems = {stem(w) for w in words(intent.asked)}
    new_words = (c.terms | c.names) - asked_stems
    new_numbers = c.numbers - given

    def new_coverage(terms: set[str] | frozenset[str], nums: set[float] | frozenset[float]) -> float:
        """Share of what the claim adds to the question (its answer) that `terms`/`nums` hold."""
        wanted = len(new_words) + len(new_numbers)
        if wanted == 0:
            return 1.0
        found = len(new_numbers & nums) + sum(1 for w in new_words if _name_present(w, frozenset(terms)))
        return found / wanted

    best = max(range(len(evidence)), key=lambda i: coverage(evidence[i].terms, evidence[i].numbers),
               default=None)
    e = evidence[best] if best is not None else None
    claim_words = _terms(claim) - {f"{v:g}" for v in c.numbers}
    q = claim_of(intent.asked)
    question_words = _terms(intent.asked)
    novel = claim_words - all_terms - question_words
    unbound = 0
    if e is not None:
        unbound = len(c.numbers - e.numbers) + sum(
            1 for value, counted in c.bindings if value in e.numbers
            and not counted & e.bound.get(value, frozenset()))
    names_missing = (sum(1 for n in c.names if not _name_present(n, frozenset(passage_terms)))
                     / len(c.names)) if c.names else 0.0
    return {
        "rule_supported": float(any(supports(c, ev) for ev in evidence)),
        "numbers_missing": float(min(unbound, 2)) if e is not None else 2.0,
        "names_missing": names_missing,
        "coverage_sentence": coverage(e.terms, e.numbers) if e is not None else 0.0,
        "coverage_passage": coverage(passage_terms, passage_numbers),
        "answer_coverage": max((new_coverage(ev.terms, ev.numbers) for ev in evidence), default=0.0),
        "answer_coverage_passage": new_coverage(passage_terms, passage_numbers),
        "novel_terms": len(novel) / len(claim_words) if claim_words else 0.0,
        "question_terms": len(claim_words & question_words) / len(claim_words) if claim_words else 0.0,
        "similarity": similarity,
        "question_similarity": question_similarity,
        "event_mismatch": float(e is not None and not c.events <= e.events),
        "polarity_mismatch": float(e is not None and not _polarity_matches(c, e)),
        "source_mismatch": float(bool(c.source) and not any(
            ev.source and same_source(c.source, ev.source) for ev in evidence)
            and any(ev.source for ev in evidence)),
        "answers_kind": float(answers_kind(claim, intent)),
        "question_missing": (len(question_words - passage_terms - {f"{v:g}" for v in passage_numbers})
                             / len(question_words)) if question_words else 0.0,
        "question_names_missing": (sum(1 for n in q.names if not _name_present(n, frozenset(passage_terms)))
                                   / len(q.names)) if q.names else 0.0,
        "length": len(claim) / 100.0,
    }


class RuleJudge(Judge):
    """Today's lexical rules (`qa.answer.support.supports`) behind the `Judge` interface."""

    def verdict(self, claim: str, passages: Sequence[str], question: str | Intent = "") -> Verdict:
        intent = question if isinstance(question, Intent) else parse_intent(question)
        hard = _hard_rules(claim, passages, intent)
        return hard if hard is not None else self.rules_verdict(claim, passages, intent)

    @staticmethod
    def rules_verdict(claim: str, passages: Sequence[str], intent: Intent) -> Verdict:
        """The lexical rules alone, for a claim that has passed the hard rules."""
        hits = [Hit(doc_id="", chunk_id=p, text=" ".join(evidence_sentences(text)), score=0.0)
                for p, text in enumerate(passages)]
        found = tuple(supporting_passages(claim, hits, [], frozenset(numbers(intent.asked))))
        if found:
            alone = found if len(found) == 1 else ()
            return Verdict(True, 1.0, found, ("passage sentences state every number, name and event",),
                           alone)
        return Verdict(False, 0.0, reasons=("no passage sentence states the claim",))


@dataclass(frozen=True)
class FittedModel:
    """A logistic regression over `FEATURES`: weights on standardised features, and a threshold."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    meta: dict = field(default_factory=dict, compare=False)

    def probability(self, values: dict[str, float]) -> float:
        """The fitted probability; a feature missing from `values` counts as its dev mean (no vote)."""
        z = self.intercept + sum(w * (values.get(name, m) - m) / s for name, w, m, s in
                                 zip(self.features, self.coef, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        return {"format": MODEL_FORMAT, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept,
                "threshold": self.threshold, "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict) -> FittedModel:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"judge model format {data.get('format')!r}, expected {MODEL_FORMAT}")
        return cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]),
                   tuple(data["coef"]), float(data["intercept"]), float(data["threshold"]),
                   dict(data.get("meta", {})))


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> FittedModel | None:
    """The fitted model shipped with qa, or None when the file is absent."""
    try:
        return FittedModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


class LearnedJudge(Judge):
    """The fitted decision over `features`; falls back to `RuleJudge` when no model file is shipped.
    Without an embedder the two similarity features are left out (they then count as their dev
    mean); `qa.api.Assistant` always gives it the index's embedder."""

    def __init__(self, model: FittedModel | None = None, embed: Embed | None = None) -> None:
        self.model = model if model is not None else load_model()
        self.embed = embed

    def similarities(self, claim: str, passages: Sequence[str], question: str = ""
                     ) -> tuple[list[float], list[float]]:
        """For each passage, the cosine of the claim and of the question with the passage's closest
        sentence (all 0.0 without an embedder; the question's 0.0 without a question)."""
        if self.embed is None:
            return [0.0] * len(passages), [0.0] * len(passages)
        per = [evidence_sentences(p) or (p,) for p in passages]
        flat = [s for group in per for s in group]
        vectors = self.embed([claim, question or claim, *flat])
        claim_sims, question_sims = vectors[2:] @ vectors[0], vectors[2:] @ vectors[1]
        out_c, out_q, at = [], [], 0
        for group in per:
            out_c.append(float(claim_sims[at : at + len(group)].max()) if group else 0.0)
            out_q.append(float(question_sims[at : at + len(group)].max()) if group and question else 0.0)
            at += len(group)
        return out_c, out_q

    def scored_passages(self, claim: str, passages: Sequence[str], intent: Intent
                        ) -> list[tuple[float, int, dict[str, float]]]:
        """(score, passage index, features) for every passage; the score is the fitted probability
        (0.0 when no model is loaded)."""
        all_terms = set().union(*(_terms(p) for p in passages)) if passages else set()
        sims, question_sims = self.similarities(claim, passages, intent.asked)
        out = []
        for p, text in enumerate(passages):
            values = features(claim, text, intent, all_terms, sims[p], question_sims[p])
            if self.embed is None:  # no embedder: the similarities are unknown, not zero
                del values["similarity"], values["question_similarity"]
            out.append((self.model.probability(values) if self.model else 0.0, p, values))
        return out

    def verdict(self, claim: str, passages: Sequence[str], question: str | Intent = "") -> Verdict:
        intent = question if isinstance(question, Intent) else parse_intent(question)
        if self.model is None:
            return RuleJudge().verdict(claim, passages, intent)
        hard = _hard_rules(claim, passages, intent)
        if hard is not None:
            return hard
        ruled = RuleJudge.rules_verdict(claim, passages, intent)
        if ruled.supported:  # the strict lexical rules accept: no fitted score is needed
            return replace(ruled, score=1.0)
        scored = self.scored_passages(claim, passages, intent)
        if not scored:
            return Verdict(False, 0.0, reasons=("no passages",))
        best_score, best, best_values = max(scored, key=lambda t: (t[0], -t[1]))
        alone = tuple(p for score, p, _ in scored if score >= self.model.threshold)
        supported = best_score >= self.model.threshold
        reason = (f"fitted score {best_score:.2f} {'>=' if supported else '<'} threshold "
                  f"{self.model.threshold:.2f}")
        return Verdict(supported, best_score, (best,) if supported else (), (reason,), alone,
                       True, best_values)
