"""Ingestion throughput: qa's chunk + embed + index path against plain SentenceTransformer.encode.

    .venv/bin/python benchmarks/bench_ingest.py [--articles N]

Articles are SQuAD 2.0 dev paragraphs (../shared/eval-data, read in place). The
floor is `SentenceTransformer.encode` on exactly the passages qa produced, in one
call; qa's figure is `index_paths` end to end (read, chunk, embed, write the index).
Prints passages per second for both and their ratio; writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "eval-data" / "squad-dev-v2.0.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=600)
    args = parser.parse_args()
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs = [p["context"] for article in data for p in article["paragraphs"]][: args.articles]
    work = Path(tempfile.mkdtemp(prefix="qa-bench-ingest-"))
    corpus = work / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"p{i}", "text": t}) for i, t in enumerate(paragraphs)))

    from qa.api import shared_embedder
    from qa.indexer import index_paths
    from qa.store import IndexStore

    embedder = shared_embedder().load()
    embedder.embed(["warm up"])
    started = time.perf_counter()
    report = index_paths(work / "index", [corpus], embedder)
    qa_seconds = time.perf_counter() - started
    texts = [c.text for c in IndexStore.load(work / "index").chunks.values()]

    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    floor_seconds = time.perf_counter() - started
    result = {
        "articles": len(paragraphs), "passages": report.passages_total,
        "qa_passages_per_s": report.passages_total / qa_seconds,
        "encode_passages_per_s": len(texts) / floor_seconds,
        "qa_over_encode_time": qa_seconds / floor_seconds,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=1))
    for key, value in result.items():
        print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
