"""Ingestion throughput: qa's chunk + embed + index path against plain SentenceTransformer.encode.

    .venv/bin/python benchmarks/bench_ingest.py [--articles N] [--repeats R]

Articles are SQuAD 2.0 dev paragraphs (../shared/eval-data, read in place). The
floor is `SentenceTransformer.encode` on exactly the passages qa produced, in one
call; qa's figure is `index_paths` end to end (read, chunk, embed, write the index
into a new folder). The two are run alternately `--repeats` times and the medians
compared, since the machine is shared; which of the two goes first alternates, and the
median of the paired (same-repeat) ratios is reported beside the ratio of medians.
Chunking alone is timed too, to show where the difference goes. Writes
benchmarks/results/ingest.json; peak RSS included.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "eval-data" / "squad-dev-v2.0.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs = [p["context"] for article in data for p in article["paragraphs"]][: args.articles]
    work = Path(tempfile.mkdtemp(prefix="qa-bench-ingest-"))
    corpus = work / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"p{i}", "text": t}) for i, t in enumerate(paragraphs)))

    from qa.api import shared_embedder
    from qa.ingest.chunk import ChunkSettings, chunk_article
    from qa.models.embed import SentenceTransformerEmbedder
    from qa.store.index_store import IndexStore
    from qa.store.indexer import index_paths

    embedder = shared_embedder().load()  # what `qa index` uses (OpenVINO where it runs)
    embedder.embed(["warm up"])
    plain = SentenceTransformerEmbedder().model  # the floor: plain sentence-transformers
    plain.encode(["warm up"])
    qa_times, floor_times, chunk_times = [], [], []
    passages = 0
    texts: list[str] = []
    report = None

    def run_qa(repeat: int) -> None:
        nonlocal report, texts
        started = time.perf_counter()
        report = index_paths(work / f"index-{repeat}", [corpus], embedder)
        qa_times.append(time.perf_counter() - started)
        if not texts:
            texts = [c.text for c in IndexStore.load(work / f"index-{repeat}").chunks.values()]

    def run_floor(repeat: int) -> None:
        started = time.perf_counter()
        plain.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        floor_times.append(time.perf_counter() - started)

    for repeat in range(args.repeats):
        # alternate which goes first, so that a drift in machine speed favours neither
        for step in ((run_qa, run_floor) if repeat % 2 == 0 else (run_floor, run_qa)):
            step(repeat)
        passages = report.passages_total
        started = time.perf_counter()
        for i, text in enumerate(paragraphs):
            chunk_article(f"p{i}", text, 0, ChunkSettings())
        chunk_times.append(time.perf_counter() - started)
        print(f"run {repeat + 1}: qa {qa_times[-1]:.1f} s, encode {floor_times[-1]:.1f} s, "
              f"chunking {chunk_times[-1]:.1f} s", flush=True)
    paired = [q / f for q, f in zip(qa_times, floor_times, strict=True)]
    qa_s, floor_s, chunk_s = (statistics.median(t) for t in (qa_times, floor_times, chunk_times))
    result = {
        "embedder": f"{embedder.name} ({getattr(embedder, 'backend', 'sentence-transformers')})",
        "articles": len(paragraphs), "passages": passages, "repeats": args.repeats,
        "qa_passages_per_s": passages / qa_s,
        "encode_passages_per_s": len(texts) / floor_s,
        "qa_over_encode_time": qa_s / floor_s,
        "qa_over_encode_paired_median": statistics.median(paired),
        "qa_over_encode_paired": paired,
        "chunking_share_of_qa_time": chunk_s / qa_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "qa_seconds": qa_times, "encode_seconds": floor_times, "chunking_seconds": chunk_times,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=1))
    for key, value in result.items():
        if isinstance(value, list):
            continue
        print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
