"""The support judge, ALCE citation recall/precision, and the judge's check on labelled cases.

The judge is the one `qa.ask` uses to ground answers (`qa.answer.judge.LearnedJudge` with the
default embedder: hard rules for numbers and unreadable scripts, then the fitted decision
over lexical and similarity signals; the lexical rules when no fitted model is shipped).
A sentence is supported when some passage supports it. It is not an NLI model, so
`judge_check` measures how well it agrees with hand labels.

Citation scores follow ALCE (Gao et al., 2023, "Enabling Large Language Models to
Generate Text with Citations"): recall is the share of an answer's sentences
supported by the union of the passages they cite; precision is the share of
citations that are needed. A citation is irrelevant when the sentence's citations
jointly support it, the citation alone does not, and the others still do without
it. When the citations jointly fail, none of them counts as precise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.answer.cite import MARKER_RE, is_abstention, parse_markers
from qa.answer.judge import Judge, LearnedJudge
from qa.eval.facts import JUDGE_CASES, JUDGE_TEST_FILES, FactsFormatError
from qa.eval.metrics import Metric, share
from qa.ingest.chunk import sentence_spans

_judge: Judge | None = None


def pipeline_judge() -> Judge:
    """The judge `qa.ask` uses: the shipped fitted judge with the default embedder (one per process)."""
    global _judge
    if _judge is None:
        from qa.api import shared_embedder

        _judge = LearnedJudge(embed=shared_embedder().embed)
    return _judge


def supported(sentence: str, passages: Sequence[str], judge: Judge | None = None) -> bool:
    """Whether some passage supports the sentence, by the pipeline's judge (or `judge`)."""
    if not passages:
        return False
    return (judge or pipeline_judge()).verdict(sentence, list(passages)).supported


@dataclass
class SentenceVerdict:
    """One answer sentence: its cited passage numbers, joint support, and needed citations."""

    sentence: str
    cited: list[int]
    supported: bool
    precise: list[int] = field(default_factory=list)


@dataclass
class CitationScore:
    """ALCE recall and precision of one answer (None when the answer has no sentence to score)."""

    recall: float | None
    precision: float | None
    sentences: list[SentenceVerdict] = field(default_factory=list)
    citations: int = 0


def score_sentence(sentence: str, cited: Sequence[int], passages: dict[int, str]) -> SentenceVerdict:
    """ALCE verdict for one sentence citing passage numbers `cited` (keys of `passages`)."""
    cited = [c for c in dict.fromkeys(cited) if c in passages]
    joint = supported(sentence, [passages[c] for c in cited])
    if not joint:
        return SentenceVerdict(sentence, list(cited), False, [])
    if len(cited) == 1:
        return SentenceVerdict(sentence, list(cited), True, list(cited))
    precise = []
    for c in cited:
        alone = supported(sentence, [passages[c]])
        rest = [passages[o] for o in cited if o != c]
        if alone or not supported(sentence, rest):
            precise.append(c)
    return SentenceVerdict(sentence, list(cited), True, precise)


_LEADING_MARKERS_RE = re.compile(r"^(?:" + MARKER_RE.pattern + r")+")


def cited_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Sentences without markers, each with the `[n]` numbers it carries.

    Markers written after the full stop ("... freed. [1] Next ...") belong to the
    sentence before them, unless the text itself starts with a marker ("[1] X.
    [2] Y."), in which case each sentence's leading markers are its own.
    Marker-only fragments are not sentences.
    """
    text = text.strip()
    leading_style = bool(_LEADING_MARKERS_RE.match(text))
    out: list[tuple[str, list[int]]] = []
    for start, end in sentence_spans(text):
        piece = text[start:end]
        lead = _LEADING_MARKERS_RE.match(piece)
        if lead and out and not leading_style:
            _, moved = parse_markers(lead.group())
            out[-1][1].extend(m for m in moved if m not in out[-1][1])
            piece = piece[lead.end():]
        bare, markers = parse_markers(piece)
        if bare:
            out.append((bare, markers))
    return out


def citation_scores(text: str, passages: dict[int, str]) -> CitationScore:
    """ALCE recall/precision of an answer whose sentences carry `[n]` markers into `passages`.

    Sentences that say the articles don't say something, and sentences without
    words, are not scored; markers naming no passage count as citations that
    support nothing.
    """
    verdicts: list[SentenceVerdict] = []
    total = 0
    for bare, markers in cited_sentences(text):
        if is_abstention(bare) or not any(ch.isalnum() for ch in bare):
            continue
        verdict = score_sentence(bare, markers, passages)
        verdict.cited = markers
        total += len(markers)
        verdicts.append(verdict)
    if not verdicts:
        return CitationScore(None, None, [], 0)
    recall = sum(v.supported for v in verdicts) / len(verdicts)
    precision = sum(len(v.precise) for v in verdicts) / total if total else 0.0
    return CitationScore(recall, precision, verdicts, total)


# ---- the judge's own check ---------------------------------------------------------------------

@dataclass
class JudgeCase:
    """A hand-labelled (sentence, passage, supported) case and the judge's verdict on it."""

    id: str
    sentence: str
    passage: str
    supported: bool
    why: str = ""
    predicted: bool | None = None


@dataclass
class JudgeCheck:
    """How well the judge agrees with the labels: confusion counts and the three scores."""

    cases: list[JudgeCase]
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    accuracy: Metric
    precision: Metric
    recall: Metric


def load_judge_cases(path: str | Path = JUDGE_CASES) -> list[JudgeCase]:
    """The labelled cases of a JSONL file (id, sentence, passage, supported, why)."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(JudgeCase(str(row["id"]), row["sentence"], row["passage"],
                                   bool(row["supported"]), row.get("why", "")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FactsFormatError(f"{Path(path).name}:{number}: bad judge case ({exc})") from exc
    return cases


def load_test_cases(paths: Sequence[str | Path] = JUDGE_TEST_FILES) -> list[JudgeCase]:
    """The judge's test cases: every file of `paths` that exists, in order.

    By default the held-out cases (RGB news, written blind to the judge) and, when
    present, the cases written blind from test-split text. They are for reporting:
    rules and thresholds are tuned on the development cases only.
    """
    return [case for path in paths if Path(path).exists() for case in load_judge_cases(path)]


def judge_check(cases: Sequence[JudgeCase] | None = None, seed: int = 0,
                judge: Judge | None = None) -> JudgeCheck:
    """Run the judge (default: the pipeline's) on every case; 'positive' means supported."""
    cases = list(load_judge_cases() if cases is None else cases)
    for case in cases:
        case.predicted = supported(case.sentence, [case.passage], judge)
    tp = sum(c.supported and bool(c.predicted) for c in cases)
    fp = sum((not c.supported) and bool(c.predicted) for c in cases)
    fn = sum(c.supported and not c.predicted for c in cases)
    tn = sum((not c.supported) and not c.predicted for c in cases)
    accuracy = share("judge accuracy", [c.supported == c.predicted for c in cases], seed=seed)
    precision = share("judge precision (supported)",
                      [c.supported for c in cases if c.predicted], seed=seed)
    recall = share("judge recall (supported)", [bool(c.predicted) for c in cases if c.supported],
                   seed=seed)
    return JudgeCheck(cases, tp, fp, fn, tn, accuracy, precision, recall)
