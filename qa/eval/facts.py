"""Known facts: the JSONL format of `qa/eval/data/seed_facts.jsonl`, loaded and validated.

A fact is a question with acceptable answers (or none, when it is unanswerable),
the articles and spans that hold the answer, and for follow-ups the earlier
turns. This module reads and checks the file; it does not ask or score anything.
The format is documented in `qa/eval/data/README.md`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InvalidDateError, QAError
from qa.ingest.dates import as_of_date

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED_FACTS = DATA_DIR / "seed_facts.jsonl"
JUDGE_CASES = DATA_DIR / "support_judge_cases.jsonl"
JUDGE_HELDOUT = DATA_DIR / "support_judge_heldout.jsonl"
JUDGE_TEST = DATA_DIR / "support_judge_test.jsonl"          # written blind from test-split text
JUDGE_TEST_FILES = (JUDGE_HELDOUT, JUDGE_TEST)              # the judge's test set (those present)

KINDS = ("number", "name", "date", "list", "cross-article", "conflicting", "follow-up", "unanswerable")
DATED_KINDS = ("as-of", "this-week", "latest")  # the dated dev set (dated_facts.jsonl)
ALL_KINDS = KINDS + DATED_KINDS
UNANSWERABLE = "unanswerable"


class FactsFormatError(QAError, ValueError):
    """A facts file is missing, not JSONL, or a record breaks the documented format."""


@dataclass
class Fact:
    """One question with its gold answers; `all_of` (when given) replaces `answers` for matching."""

    id: str
    question: str
    kind: str
    answers: list[str] = field(default_factory=list)
    all_of: list[list[str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    as_of: str = ""

    @property
    def answerable(self) -> bool:
        """False for `unanswerable` facts: the right reply is to abstain."""
        return self.kind != UNANSWERABLE


def _strings(value: object, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FactsFormatError(f"{where}: '{name}' must be a list of strings")
    return [v for v in value if v.strip()]


def fact_from_record(record: object, where: str = "record", kinds: Sequence[str] | None = ALL_KINDS) -> Fact:
    """Validate one record and build a Fact; raises FactsFormatError naming the problem.

    `kinds=None` accepts any kind (external datasets use their own).
    """
    if not isinstance(record, Mapping):
        raise FactsFormatError(f"{where}: a fact must be a JSON object")
    for key in ("id", "question", "kind"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise FactsFormatError(f"{where}: '{key}' must be a non-empty string")
    kind = record["kind"]
    where = f"{where} ({record['id']})"
    if kinds is not None and kind not in kinds:
        raise FactsFormatError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(kinds)}")
    answers = _strings(record.get("answers", []), where, "answers")
    groups_raw = record.get("all_of") or []
    if not isinstance(groups_raw, list):
        raise FactsFormatError(f"{where}: 'all_of' must be a list of lists of strings")
    all_of = [g for g in (_strings(g, where, "all_of") for g in groups_raw) if g]
    doc_ids = _strings(record.get("doc_ids", []), where, "doc_ids")
    evidence = _strings(record.get("evidence", []), where, "evidence")
    if kind == UNANSWERABLE:
        if answers or all_of:
            raise FactsFormatError(f"{where}: an unanswerable fact must have no answers")
    elif not answers and not all_of:
        raise FactsFormatError(f"{where}: 'answers' (or 'all_of') must hold at least one alias")
    history: list[tuple[str, str]] = []
    for turn in record.get("history") or []:
        if (not isinstance(turn, Mapping) or not isinstance(turn.get("question"), str)
                or not isinstance(turn.get("answer"), str)):
            raise FactsFormatError(f"{where}: each 'history' turn must be {{question, answer}} strings")
        history.append((turn["question"], turn["answer"]))
    if kind == "follow-up" and not history:
        raise FactsFormatError(f"{where}: a follow-up fact needs 'history'")
    note = record.get("note", "")
    as_of = record.get("as_of") or ""
    if not isinstance(as_of, str):
        raise FactsFormatError(f"{where}: 'as_of' must be a date string YYYY-MM-DD")
    try:
        as_of = as_of_date(as_of, f"{where}: 'as_of'")
    except InvalidDateError as exc:
        raise FactsFormatError(str(exc)) from exc
    return Fact(id=record["id"], question=record["question"].strip(), kind=kind, answers=answers,
                all_of=all_of, doc_ids=doc_ids, evidence=evidence, history=history,
                note=note if isinstance(note, str) else "", as_of=as_of)


def load_facts(path: str | Path = SEED_FACTS, kinds: Sequence[str] | None = ALL_KINDS) -> list[Fact]:
    """Every fact of a JSONL file, in file order; blank lines are skipped, ids must be unique."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FactsFormatError(f"cannot read facts file {path}: {exc.strerror or exc}") from exc
    facts: list[Fact] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FactsFormatError(f"{where}: not valid JSON ({exc.msg})") from exc
        fact = fact_from_record(record, where, kinds)
        if fact.id in seen:
            raise FactsFormatError(f"{where}: duplicate id {fact.id!r}")
        seen.add(fact.id)
        facts.append(fact)
    if not facts:
        raise FactsFormatError(f"{path}: no facts")
    return facts


def check_evidence(facts: Sequence[Fact], texts: Mapping[str, str]) -> list[str]:
    """Problems with facts against article texts (doc id -> text): unknown doc ids, spans not found.

    An evidence span must occur in the text of one of the fact's `doc_ids`.
    Returns one line per problem; an empty list means the facts fit the articles.
    """
    problems = []
    for fact in facts:
        for doc_id in fact.doc_ids:
            if doc_id not in texts:
                problems.append(f"{fact.id}: doc_id {doc_id!r} is not among the articles")
        for span in fact.evidence:
            if not any(span in texts.get(d, "") for d in fact.doc_ids):
                problems.append(f"{fact.id}: evidence not found in its doc_ids: {span[:60]!r}")
    return problems


def sample(items: Sequence, limit: int | None, seed: int) -> list:
    """A reproducible random subset of `limit` items in their original order (all when None)."""
    if limit is None or limit >= len(items):
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), max(limit, 0)))
    return [items[i] for i in chosen]
