"""External benchmarks turned into facts and articles: SQuAD 2.0 (dev JSON) and RGB (en_fact JSONL).

Each loader samples questions reproducibly (`limit`, `seed`) and returns the
articles to index for them, so the same suite (`qa.eval.runner`) runs on them.
SQuAD: every paragraph is an article (`squad-<title>-<nnn>`, title = the
Wikipedia title), and all paragraphs of the sampled questions' titles are
indexed, so neighbouring paragraphs act as distractors; a question's evidence is
the sentence holding its first gold answer; unanswerable questions stay
unanswerable. RGB: each sampled question's positive and negative snippets become
articles (`rgb-<id>-pos<i>`, `rgb-<id>-neg<i>`); positives holding the answer are
the evidence. The data files are read in place, never copied.
With `split` ("dev" or "test", `qa.eval.splits`) the question pool is first
cut to that split (SQuAD by Wikipedia title, RGB by question id), then sampled,
so a sample and its indexed articles never cross the split.
Neither loader indexes or asks anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.eval.facts import UNANSWERABLE, Fact, FactsFormatError, sample
from qa.eval.metrics import alias_match
from qa.eval.splits import assign, check_split
from qa.ingest.chunk import sentence_spans
from qa.ingest.read import article_from_record, content_hash
from qa.records import Article

DATASETS = ("seed", "squad", "rgb")


@dataclass
class Dataset:
    """Facts to ask and the articles that must be indexed first (none for the seed facts)."""

    name: str
    facts: list[Fact]
    articles: list[Article] = field(default_factory=list)
    source: str = ""
    split: str = "all"


def guess_kind(question: str) -> str:
    """A coarse question type for per-kind breakdowns of external data: number, date, name, other."""
    q = question.lower().strip()
    if re.match(r"(how (many|much|long|far|old|large|big|high)|what (percentage|percent|number|amount))\b",
                q):
        return "number"
    if re.match(r"(when|what (year|date|month|day|century|decade)|in what year|which year)\b", q):
        return "date"
    if re.match(r"(who|whom|whose)\b", q):
        return "name"
    return "other"


def _article(doc_id: str, text: str, title: str = "") -> Article:
    article = article_from_record({"id": doc_id, "text": text, "title": title}, doc_id)
    article.content_hash = content_hash(article)
    return article


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QAError(f"cannot read {what} file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise FactsFormatError(f"{path}: not valid JSON ({exc.msg})") from exc


def _sentence_at(text: str, offset: int) -> str:
    for start, end in sentence_spans(text):
        if start <= offset < end:
            return text[start:end]
    return ""


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_")[:80] or "untitled"


def _title(article: dict) -> str:
    return str(article.get("title", "")).replace("_", " ")


def squad_titles(path: str | Path) -> list[str]:
    """The Wikipedia titles of a SQuAD JSON file, in file order (as `load_squad` names them)."""
    path = Path(path)
    data = _read_json(path, "SQuAD")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FactsFormatError(f"{path}: not SQuAD JSON (expected an object with a 'data' list)")
    return list(dict.fromkeys(_title(a) for a in data["data"]))


def load_squad(path: str | Path, limit: int | None = 100, seed: int = 0,
               split: str | None = None) -> Dataset:
    """Sample `limit` questions of a SQuAD (1.1 or 2.0) JSON file; index their titles' paragraphs.

    With `split`, only questions of that split's titles are sampled (`qa.eval.splits`).
    """
    split = check_split(split)
    path = Path(path)
    data = _read_json(path, "SQuAD")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FactsFormatError(f"{path}: not SQuAD JSON (expected an object with a 'data' list)")
    questions: list[tuple[str, str, dict]] = []       # (title, doc_id, qa record)
    paragraphs: dict[str, list[tuple[str, str]]] = {}  # title -> [(doc_id, context)]
    for article in data["data"]:
        title = _title(article)
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context", "")
            if not context.strip():
                continue
            doc_id = f"squad-{_slug(title)}-{p:03d}"
            paragraphs.setdefault(title, []).append((doc_id, context))
            questions.extend((title, doc_id, qa) for qa in paragraph.get("qas", []))
    if not questions:
        raise FactsFormatError(f"{path}: no questions")
    if split is not None:
        side = assign(_title(a) for a in data["data"])
        questions = [q for q in questions if side[q[0]] == split]
        if not questions:
            raise FactsFormatError(f"{path}: no questions in the {split} split")
    chosen = sample(questions, limit, seed)
    contexts = {doc_id: text for plist in paragraphs.values() for doc_id, text in plist}
    facts = []
    for title, doc_id, qa in chosen:
        question = str(qa.get("question", "")).strip()
        golds = [a["text"] for a in qa.get("answers", []) if str(a.get("text", "")).strip()]
        impossible = bool(qa.get("is_impossible")) or not golds
        if impossible:
            facts.append(Fact(id=str(qa.get("id")), question=question, kind=UNANSWERABLE,
                              note=f"SQuAD unanswerable; title {title}"))
            continue
        first = qa["answers"][0]
        evidence = _sentence_at(contexts[doc_id], int(first.get("answer_start", -1))) \
            or first["text"]
        facts.append(Fact(id=str(qa.get("id")), question=question, kind=guess_kind(question),
                          answers=list(dict.fromkeys(golds)), doc_ids=[doc_id], evidence=[evidence],
                          note=f"SQuAD title {title}"))
    titles = dict.fromkeys(title for title, _, _ in chosen)
    articles = [_article(doc_id, text, title) for title in titles for doc_id, text in paragraphs[title]]
    return Dataset("squad", facts, articles, str(path), split or "all")


def _rgb_answers(answer: object) -> tuple[list[str], list[list[str]]]:
    """RGB `answer`: a string, a list of aliases, or a list of alias groups that must all match."""
    if isinstance(answer, str):
        return [answer], []
    if isinstance(answer, list) and answer and all(isinstance(a, list) for a in answer):
        groups = [[str(x) for x in group if str(x).strip()] for group in answer]
        groups = [g for g in groups if g]
        if len(groups) == 1:
            return groups[0], []
        return [g[0] for g in groups], groups
    if isinstance(answer, list):
        return [str(a) for a in answer if str(a).strip()], []
    return [str(answer)], []


def _rgb_id(row: dict, number: int) -> str:
    """A row's question id; its 0-based position in the file when it has none."""
    return str(row.get("id", number))


def load_rgb(path: str | Path, limit: int | None = 50, seed: int = 0,
             split: str | None = None) -> Dataset:
    """Sample `limit` RGB questions; index their positive and negative snippets as articles.

    With `split`, only that split's question ids are sampled (`qa.eval.splits`).
    """
    split = check_split(split)
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"cannot read RGB file {path}: {exc.strerror or exc}") from exc
    rows: list[tuple[str, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FactsFormatError(f"{path.name}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or "query" not in row or "answer" not in row:
            raise FactsFormatError(f"{path.name}:{number}: an RGB record needs 'query' and 'answer'")
        rows.append((_rgb_id(row, len(rows)), row))
    if not rows:
        raise FactsFormatError(f"{path}: no questions")
    if split is not None:
        side = assign(rid for rid, _ in rows)
        rows = [(rid, row) for rid, row in rows if side[rid] == split]
        if not rows:
            raise FactsFormatError(f"{path}: no questions in the {split} split")
    facts, articles = [], []
    for rid, row in sample(rows, limit, seed):
        answers, all_of = _rgb_answers(row["answer"])
        doc_ids, evidence = [], []
        for kind in ("positive", "negative"):
            for i, snippet in enumerate(row.get(kind) or []):
                if not isinstance(snippet, str) or not snippet.strip():
                    continue
                doc_id = f"rgb-{rid}-{kind[:3]}{i}"
                articles.append(_article(doc_id, snippet))
                holds = (all(alias_match(snippet, g) for g in all_of) if all_of
                         else alias_match(snippet, answers))
                if kind == "positive" and holds:
                    doc_ids.append(doc_id)
                    evidence.append(articles[-1].text)
        question = str(row["query"]).strip()
        facts.append(Fact(id=f"rgb-{rid}", question=question, kind=guess_kind(question),
                          answers=answers, all_of=all_of, doc_ids=doc_ids, evidence=evidence,
                          note="RGB en_fact"))
    return Dataset("rgb", facts, articles, str(path), split or "all")


def load_dataset(name: str, path: str | Path | None, limit: int | None, seed: int,
                 split: str | None = None) -> Dataset:
    """A SQuAD or RGB dataset by name (`seed` facts are loaded by `qa.eval.facts`)."""
    if name not in ("squad", "rgb"):
        raise QAError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if path is None:
        raise QAError(f"--dataset {name} needs the path of its data file")
    loader = load_squad if name == "squad" else load_rgb
    return loader(path, limit=limit, seed=seed, split=split)


def kinds_of(facts: Sequence[Fact]) -> list[str]:
    """The kinds present, in first-seen order."""
    return list(dict.fromkeys(f.kind for f in facts))
