"""Article hit@1/hit@5 (distinct articles, top 10) of `qa.search.retrieve` on SQuAD, RGB or the dated dev set.

Retrieval only, no language model: each dataset's articles are indexed with the real embedder in
a temporary folder and every answerable question is retrieved (with its `as_of` where it has one
and the code supports it). Run it against another checkout with PYTHONPATH to compare versions:

    PYTHONPATH=. .venv/bin/python benchmarks/retrieval_hits.py squad ../shared/eval-data/squad-dev-v2.0.json
    PYTHONPATH=. .venv/bin/python benchmarks/retrieval_hits.py rgb ../shared/eval-data/rgb-en_fact.jsonl
    PYTHONPATH=. .venv/bin/python benchmarks/retrieval_hits.py dated
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from pathlib import Path

import qa
from qa.eval.facts import fact_from_record
from qa.ingest.read import read_paths
from qa.models.embed import SentenceTransformerEmbedder
from qa.search.retrieve import retrieve
from qa.store.index_store import IndexStore
from qa.store.indexer import upsert_articles

DATA_DIR = Path(__file__).resolve().parent.parent / "qa" / "eval" / "data"


def main() -> int:
    name = sys.argv[1]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    if name == "dated":
        articles = read_paths([DATA_DIR / "dated_articles.jsonl"]).articles
        records = [json.loads(line) for line in (DATA_DIR / "dated_facts.jsonl").read_text().splitlines()]
        facts = [(fact_from_record(r, kinds=None), r.get("as_of", "")) for r in records]
    else:
        from qa.eval.datasets import load_dataset

        dataset = load_dataset(name, sys.argv[2], limit, 0)
        articles, facts = dataset.articles, [(f, "") for f in dataset.facts]
    dated = "as_of" in inspect.signature(retrieve).parameters
    embedder = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        upsert_articles(Path(tmp) / "index", articles, embedder)
        store = IndexStore.load(Path(tmp) / "index")
        ranks = []
        for fact, as_of in facts:
            if not fact.answerable or not fact.doc_ids:
                continue
            kwargs = {"as_of": as_of} if dated and as_of else {}
            hits = retrieve(store, embedder, fact.question, k=10, **kwargs)
            docs = list(dict.fromkeys(h.doc_id for h in hits))
            ranks.append(next((i + 1 for i, d in enumerate(docs) if d in fact.doc_ids), None))
    n = len(ranks)
    print(f"{name} ({qa.__file__}): n={n} article hit@1 {sum(r == 1 for r in ranks) / n:.3f} "
          f"hit@5 {sum(r is not None and r <= 5 for r in ranks) / n:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
