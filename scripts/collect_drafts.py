"""Collect the answering model's drafts on dev questions, for fitting the support decision.

For each dev question (SQuAD 2.0 dev titles, RGB dev ids, the seed facts) this asks the
assistant (`Assistant.ask`, the same path as `qa ask`) and keeps what the citation check is
given, so the drafts can be re-judged offline by `scripts/fit_judge.py` as often as needed.
Writes one JSON record a line: the fact (question, gold answers, evidence), the passages the
check sees, the draft ("" when the relevance gate abstained before the model), and the
draft's summed token log-probability where the backend reports it.

    python scripts/collect_drafts.py --out eval-results/dev-drafts.jsonl --squad 240 --rgb 50
Only dev data is read: the test split is never touched here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from qa.answer.injection import split_question
from qa.api import Assistant
from qa.eval.datasets import load_rgb, load_squad
from qa.eval.facts import SEED_FACTS, Fact, load_facts, sample
from qa.eval.splits import assign
from qa.settings import Settings
from qa.store.indexer import upsert_articles

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval-data"


def dev_squad(limit: int, seed: int) -> tuple[list[Fact], list]:
    data = load_squad(SHARED / "squad-dev-v2.0.json", limit=None)
    title_of = {a.doc_id: a.title for a in data.articles}
    split = assign(title_of.values())
    facts = [f for f in data.facts if split[f.note.split("title ", 1)[1]] == "dev"]
    facts = sample(facts, limit, seed)
    titles = {f.note.split("title ", 1)[1] for f in facts}
    return facts, [a for a in data.articles if a.title in titles]


def dev_rgb(limit: int, seed: int) -> tuple[list[Fact], list]:
    data = load_rgb(SHARED / "rgb-en_fact.jsonl", limit=None)
    split = assign(f.id.removeprefix("rgb-") for f in data.facts)
    facts = sample([f for f in data.facts if split[f.id.removeprefix("rgb-")] == "dev"], limit, seed)
    ids = {f.id.removeprefix("rgb-") for f in facts}
    return facts, [a for a in data.articles if a.doc_id.split("-")[1] in ids]


def done_ids(path: Path) -> set[str]:
    """"dataset:fact id" of the records already in the output file (a rerun resumes after them)."""
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as lines:
        return {f"{r['dataset']}:{r['fact']['id']}" for r in map(json.loads, lines) if r}


def drafts(assistant: Assistant, facts: list[Fact], dataset: str, out,
           skip: frozenset[str] | set[str] = frozenset()) -> None:
    """Ask each fact's question through the assistant's own pipeline and write its draft."""
    facts = [f for f in facts if f"{dataset}:{f.id}" not in skip]
    for fact in tqdm(facts, desc=f"drafts {dataset}"):
        started = time.perf_counter()
        assistant.generator.last_logprob = None
        answer = assistant.ask(fact.question, history=[(turn[0], turn[1]) for turn in fact.history] or None)
        usage = (assistant.generator.last_usage or {}) if answer.draft else {}
        record = {"dataset": dataset, "fact": dataclasses.asdict(fact),
                  "question": answer.standalone_question or split_question(fact.question).asked,
                  "passages": [dataclasses.asdict(h) for h in answer.passages], "draft": answer.draft,
                  "logprob": assistant.generator.last_logprob if answer.draft else None,
                  "new_tokens": usage.get("new_tokens"),
                  "seconds": round(time.perf_counter() - started, 2)}
        out.write(json.dumps(record) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="eval-results/dev-drafts.jsonl")
    parser.add_argument("--squad", type=int, default=240)
    parser.add_argument("--rgb", type=int, default=50)
    parser.add_argument("--seed-facts", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    skip = done_ids(Path(args.out))
    with open(args.out, "a", encoding="utf-8") as out:
        if args.seed_facts:
            assistant = Assistant(settings=settings)
            drafts(assistant, load_facts(SEED_FACTS), "seed", out, skip)
        for name, loader, limit in (("rgb", dev_rgb, args.rgb), ("squad", dev_squad, args.squad)):
            if not limit:
                continue
            facts, articles = loader(limit, args.seed)
            if all(f"{name}:{f.id}" in skip for f in facts):
                continue
            with tempfile.TemporaryDirectory(prefix=f"qa-drafts-{name}-") as temp:
                local = dataclasses.replace(settings, index_dir=Path(temp) / "index")
                assistant = Assistant(settings=local)
                upsert_articles(local.index_dir, articles, assistant.embedder, progress=True)
                drafts(assistant, facts, name, out, skip)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
