"""Fit the two dated-retrieval parameters on the dated dev set, and measure retrieval before/after.

1. Syndicated copies (`qa.search.dedup.COPY_JACCARD`): the MinHash Jaccard estimate of every pair of
   articles about one event, labelled copy (a record's `copy_of`) or not; the threshold is the
   midpoint of the gap between the highest non-copy pair and the lowest copy pair.
2. The recency prior (`qa.search.retrieve.RECENCY_WEIGHT`): article hit@1 and hit@5 (over distinct
   articles, top 10) of every fact of `qa/eval/data/dated_facts.jsonl` for a grid of weights;
   the weight with the best mean of hit@1 and hit@5 on the dev half of the facts (hash-ordered
   halves of the fact ids, `qa.eval.splits.assign`) is chosen; ties go to the smaller weight.
   The test half is reported beside it.
It also reports the ablations: no as_of, no copy collapsing, no diversity.

    PYTHONPATH=. .venv/bin/python benchmarks/fit_dated.py [--fake]

Writes benchmarks/results/fit_dated.json. `--fake` uses the hashing embedder (no model).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval.facts import DATA_DIR, load_facts  # noqa: E402
from qa.eval.splits import assign  # noqa: E402
from qa.ingest.read import read_paths  # noqa: E402
from qa.search.dedup import similarity  # noqa: E402
from qa.search.retrieve import retrieve  # noqa: E402
from qa.store.index_store import IndexStore  # noqa: E402
from qa.store.indexer import upsert_articles  # noqa: E402

ARTICLES = DATA_DIR / "dated_articles.jsonl"
FACTS = DATA_DIR / "dated_facts.jsonl"
GRID = [0.0, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.006, 0.008, 0.012, 0.02]


def fit_copies() -> dict:
    records = [json.loads(line) for line in ARTICLES.read_text().splitlines() if line.strip()]
    by_id = {r["id"]: r for r in records}
    pairs = []
    for a, b in itertools.combinations(records, 2):
        if a["id"].split("-")[0] != b["id"].split("-")[0]:
            continue  # only pairs about one event are hard cases
        copy = a.get("copy_of") == b["id"] or b.get("copy_of") == a["id"]
        pairs.append({"a": a["id"], "b": b["id"], "copy": copy,
                      "jaccard": round(similarity(by_id[a["id"]]["text"], by_id[b["id"]]["text"]), 3)})
    copies = [p["jaccard"] for p in pairs if p["copy"]]
    others = [p["jaccard"] for p in pairs if not p["copy"]]
    return {"pairs": pairs, "copy_min": min(copies), "copy_max": max(copies),
            "non_copy_max": max(others), "threshold": round((min(copies) + max(others)) / 2, 2)}


def scores(rank: dict[str, int | None], ids: set[str]) -> dict[str, float]:
    chosen = [rank[i] for i in rank if i in ids]
    n = max(len(chosen), 1)
    return {"n": len(chosen), "hit@1": round(sum(r == 1 for r in chosen) / n, 3),
            "hit@5": round(sum(r is not None and r <= 5 for r in chosen) / n, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="hashing embedder instead of MiniLM")
    args = parser.parse_args()
    if args.fake:
        from qa.testing import HashingEmbedder

        embedder = HashingEmbedder()
    else:
        from qa.models.embed import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    copies = fit_copies()
    facts = load_facts(FACTS)
    split = assign(f.id for f in facts)
    dev = {i for i, s in split.items() if s == "dev"}
    test = {i for i, s in split.items() if s == "test"}
    every = set(split)
    with tempfile.TemporaryDirectory() as tmp:
        upsert_articles(Path(tmp) / "index", read_paths([ARTICLES]).articles, embedder)
        store = IndexStore.load(Path(tmp) / "index")
        grid = []
        for weight in GRID:
            rank = {}
            for fact in facts:
                if not fact.doc_ids:
                    continue
                hits = retrieve(store, embedder, fact.question, k=10, as_of=fact.as_of, recency_weight=weight)
                articles = list(dict.fromkeys(h.doc_id for h in hits))
                rank[fact.id] = next((i + 1 for i, d in enumerate(articles) if d in fact.doc_ids), None)
            grid.append({"weight": weight, "dev": scores(rank, dev), "test": scores(rank, test),
                         "all": scores(rank, every)})
        best = max(grid, key=lambda g: (g["dev"]["hit@1"] + g["dev"]["hit@5"], -g["weight"]))
        ablations = {}
        for name, kwargs in (("no as_of", {"use_as_of": False}),
                             ("no copy collapsing", {"collapse_copies": False}),
                             ("no diversity", {"diversity": False}),
                             ("plain (no as_of, prior, collapsing, diversity)",
                              {"use_as_of": False, "collapse_copies": False, "diversity": False,
                               "recency_weight": 0.0})):
            use_as_of = kwargs.pop("use_as_of", True)
            kwargs.setdefault("recency_weight", best["weight"])
            rank = {}
            for fact in facts:
                if not fact.doc_ids:
                    continue
                hits = retrieve(store, embedder, fact.question, k=10,
                                as_of=fact.as_of if use_as_of else None, **kwargs)
                articles = list(dict.fromkeys(h.doc_id for h in hits))
                rank[fact.id] = next((i + 1 for i, d in enumerate(articles) if d in fact.doc_ids), None)
            ablations[name] = scores(rank, every)
    result = {"embedder": getattr(embedder, "name", type(embedder).__name__), "copies": copies,
              "recency_grid": grid, "recency_weight": best["weight"], "ablations": ablations}
    out = ROOT / "benchmarks" / "results" / "fit_dated.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"copies: copy pairs {copies['copy_min']}-{copies['copy_max']}, other same-event pairs "
          f"<= {copies['non_copy_max']}; threshold {copies['threshold']}")
    print("weight   dev@1  dev@5  test@1 test@5  all@1  all@5")
    for g in grid:
        print(f"{g['weight']:<8} {g['dev']['hit@1']:<6} {g['dev']['hit@5']:<6} {g['test']['hit@1']:<6} "
              f"{g['test']['hit@5']:<6} {g['all']['hit@1']:<6} {g['all']['hit@5']}")
    print(f"chosen recency weight: {best['weight']} (dev n={best['dev']['n']}, test n={best['test']['n']})")
    for name, s in ablations.items():
        print(f"{name}: hit@1 {s['hit@1']}, hit@5 {s['hit@5']} (n={s['n']})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
