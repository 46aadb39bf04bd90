"""The Milvus vector store beside FAISS in one run: dense latency, recall@10, write cost, bytes per
passage; and BM25 kept in qa (bm25s) against Milvus's own full-text search and its RRF ranker.

    .venv/bin/python benchmarks/bench_milvus.py [--sizes 100000] [--queries 200]
        [--lite-indexes FLAT,HNSW] [--paragraphs 2000] [--questions 300]

Dense: the synthetic 384-d vectors of bench_retrieval.py (calibrated on MiniLM), queries near
stored passages, single queries of k=30 as `retrieve` asks. FAISS is the index
`qa.store.vector_index` picks for the size; Milvus is a Milvus Lite file written and searched through
`qa.store.milvus.MilvusVectors` (the code `IndexStore` runs: rows with passage text and
metadata, upserts of 2,000 rows, the `id < next_chunk_id` filter and the live-id check on every
search). recall@10 is against exact search. Bytes per passage: the FAISS file, or the Milvus
Lite folder (vectors, text and metadata), divided by n.

Lexical: SQuAD 2.0 dev paragraphs as passages and their answerable questions; hit@5 is the
question's own paragraph among the first 5. bm25s is `qa.store.bm25.BM25Index` (qa's stemmed
tokeniser); Milvus is a BM25 function over a VARCHAR field (Milvus Lite's standard analyzer
with qa's stop words; Lite has no stemmer). Hybrid: MiniLM vectors of the same paragraphs,
qa's fusion (exact dense top 30 + bm25s top 30, RRF k=60) against Milvus `hybrid_search` with
`RRFRanker(60)` over the same two routes.

Writes benchmarks/results/milvus.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_retrieval import (  # noqa: E402
    DIM,
    K_DENSE,
    SQUAD,
    clustered_vectors,
    log,
    peak_rss_mb,
    queries_near,
    recall_at_10,
    rss_mb,
    summary,
    synthetic_texts,
    vocabulary,
)

OUT = ROOT / "benchmarks" / "results"
# SQuAD beside the checkout (shared/eval-data), or one level further up for a worktree
SQUAD_FILE = next((p for p in (SQUAD, ROOT.parent.parent / "shared" / "eval-data" / SQUAD.name)
                   if p.exists()), SQUAD)


class Times(list):
    """Wall-clock ms per query, with the process CPU ms of each alongside (`cpu`)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: list[float] = []


def time_queries(search, queries: np.ndarray, warmup: int = 5) -> tuple[Times, np.ndarray]:
    """Per-query wall and CPU ms, and the top-10 ids. The CPU time is the whole process's:
    Milvus Lite answers in server threads of this process, so a thread clock would miss its
    work. On this shared machine the wall clock includes waiting for a core; CPU time is
    what a query costs."""
    for q in queries[:warmup]:
        search(q)
    times, tops = Times(), []
    for q in queries:
        started, cpu = time.perf_counter(), time.process_time()
        _, ids = search(q)
        times.append((time.perf_counter() - started) * 1000)
        times.cpu.append((time.process_time() - cpu) * 1000)
        tops.append(list(ids[0][:10]) + [-1] * (10 - len(ids[0][:10])))
    return times, np.array(tops)


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_dense(n: int, args, vocab: list[str]) -> dict:
    from qa.records import Article, Chunk
    from qa.store import milvus as milvus_store
    from qa.store import vector_index

    log(f"n={n:,}: vectors, texts")
    vectors = clustered_vectors(n, seed=n)
    ids = np.arange(n, dtype=np.int64)
    queries = queries_near(vectors, args.queries, seed=n, uniform=False)
    flat = vector_index.new_flat(DIM)
    vector_index.add(flat, vectors, ids)
    _, exact = flat.search(queries, 10)
    row: dict = {"n": n}

    # FAISS, the index qa picks for this size
    before, started = rss_mb(), time.perf_counter()
    index = vector_index.fit(flat) if n <= vector_index.POLICY.flat_max else \
        vector_index.build_ivf(ids, vectors)
    build = time.perf_counter() - started
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-milvus-"))
    vector_index.write(index, tmp / "vectors.faiss")
    times, tops = time_queries(lambda q: vector_index.search(index, q, K_DENSE), queries)
    row["faiss"] = {**summary(times), "recall_at_10": recall_at_10(tops, exact), "build_s": build,
                    "index": vector_index.describe(index), "bytes_per_passage": folder_bytes(
                        tmp / "vectors.faiss") / n, "index_rss_mb": rss_mb() - before}
    log(f"n={n:,}: FAISS {row['faiss']['index']}: p50 {row['faiss']['p50_ms']:.2f} ms, "
        f"p95 {row['faiss']['p95_ms']:.2f} ms, recall@10 {row['faiss']['recall_at_10']:.3f}")
    index = None

    texts = synthetic_texts(n, vocab, seed=n)
    articles = {f"s{i:07d}": Article(doc_id=f"s{i:07d}", text=t, title=f"Synthetic {i}",
                                     published="2013-01-17", content_hash=f"{i:064x}")
                for i, t in enumerate(texts)}
    chunks = [Chunk(i, f"s{i:07d}", 0, len(t), t) for i, t in enumerate(texts)]
    live = set(range(n))
    row["milvus"] = {}
    for index_type in args.lite_indexes:
        params = {"FLAT": {}, "HNSW": {"M": 16, "efConstruction": 200},
                  "IVF_FLAT": {"nlist": vector_index.POLICY.nlist(n)}}[index_type]
        uri = str(tmp / f"lite-{index_type}.db")
        before, started = rss_mb(), time.perf_counter()
        milvus = milvus_store.MilvusVectors.create(uri, DIM, index={"index_type": index_type,
                                                                    "params": params})
        for first in range(0, n, 20_000):
            milvus.add(chunks[first:first + 20_000], vectors[first:first + 20_000], articles)
            log(f"n={n:,}: Milvus Lite {index_type}: {min(n, first + 20_000):,} rows written")
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        milvus.make_durable()
        flush_s = time.perf_counter() - started
        search_params = {"metric_type": "IP"}
        if index_type == "HNSW":
            search_params["params"] = {"ef": args.hnsw_ef}
        elif index_type == "IVF_FLAT":
            search_params["params"] = {"nprobe": vector_index.POLICY.nprobe(params["nlist"])}

        def search(q, milvus=milvus, search_params=search_params):
            found = milvus.client.search(milvus.collection, data=[q.tolist()], filter=f"id < {n}",
                                         limit=K_DENSE, search_params=search_params)
            got = [int(h["id"]) for h in found[0] if int(h["id"]) in live]
            return None, np.array([got + [-1] * (10 - len(got))])

        started = time.perf_counter()
        search(queries[0])
        first_query_s = time.perf_counter() - started  # index build on first search, if lazy
        if index_type == "FLAT":  # the exact path qa runs (MilvusVectors.search)
            def qa_search(q, milvus=milvus):
                return None, np.array([[c for c, _ in milvus.search(q, K_DENSE, n, live)]])

            times, tops = time_queries(qa_search, queries)
        else:
            times, tops = time_queries(search, queries)
        milvus_store.release(uri)
        row["milvus"][index_type] = {
            **summary(times), "recall_at_10": recall_at_10(tops, exact), "write_s": write_s,
            "rows_per_s": n / write_s, "flush_s": flush_s, "first_query_s": first_query_s,
            "bytes_per_passage": folder_bytes(Path(uri)) / n, "rss_added_mb": rss_mb() - before,
            "params": params}
        m = row["milvus"][index_type]
        log(f"n={n:,}: Milvus Lite {index_type}: p50 {m['p50_ms']:.2f} ms, p95 {m['p95_ms']:.2f} ms, "
            f"recall@10 {m['recall_at_10']:.3f}, write {write_s:.0f} s ({m['rows_per_s']:.0f} rows/s), "
            f"{m['bytes_per_passage']:.0f} B/passage")
    shutil.rmtree(tmp, ignore_errors=True)
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def bench_lexical(args) -> dict:
    from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker

    from qa.api import shared_embedder
    from qa.search.retrieve import fuse
    from qa.store import milvus as milvus_store
    from qa.store.bm25 import BM25Index
    from qa.text import STOPWORDS

    data = json.loads(SQUAD_FILE.read_text(encoding="utf-8"))["data"]
    paragraphs, questions = [], []
    for article in data:
        for p in article["paragraphs"]:
            if len(paragraphs) >= args.paragraphs:
                break
            paragraphs.append(p["context"])
            questions += [(q["question"], len(paragraphs) - 1) for q in p["qas"]
                          if not q.get("is_impossible")]
    rng = np.random.default_rng(0)
    questions = [questions[i] for i in sorted(rng.choice(len(questions), min(args.questions, len(questions)),
                                                         replace=False))]
    log(f"lexical: {len(paragraphs)} SQuAD paragraphs, {len(questions)} questions")
    if args.no_hybrid:  # BM25 only: no embedding model (placeholder vectors for the schema)
        pvec = np.ones((len(paragraphs), 8), np.float32)
        qvec = np.ones((len(questions), 8), np.float32)
    else:
        embedder = shared_embedder().load()
        pvec = embedder.embed(paragraphs)
        qvec = embedder.embed([q for q, _ in questions])
    ids = list(range(len(paragraphs)))
    bm25 = BM25Index(ids, paragraphs)

    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-bm25-"))
    uri = str(tmp / "bm25.db")
    client = MilvusClient(uri)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=pvec.shape[1])
    schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard",
                                      "filter": [{"type": "stop", "stop_words": sorted(STOPWORDS)}]})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("bm25", schema=schema, index_params=index)
    started = time.perf_counter()
    client.insert("bm25", [{"id": i, "vector": pvec[i].tolist(), "text": t}
                           for i, t in enumerate(paragraphs)])
    client.flush("bm25")
    client.load_collection("bm25")
    milvus_write_s = time.perf_counter() - started
    flat = pvec / np.linalg.norm(pvec, axis=1, keepdims=True)

    def qa_dense(v):
        scores = flat @ v
        top = np.argsort(-scores)[:K_DENSE]
        return [int(i) for i in top]

    def milvus_hybrid(q, v):
        dense = AnnSearchRequest(data=[v.tolist()], anns_field="vector", param={"metric_type": "IP"},
                                 limit=K_DENSE)
        sparse = AnnSearchRequest(data=[q], anns_field="sparse", param={"metric_type": "BM25"},
                                  limit=K_DENSE)
        found = client.hybrid_search("bm25", reqs=[dense, sparse], ranker=RRFRanker(60), limit=5)
        return [int(h["id"]) for h in found[0]]

    routes = {
        "bm25s (qa)": lambda q, v: [c for c, _ in bm25.search(q, 5)],
        "Milvus BM25": lambda q, v: [int(h["id"]) for h in client.search(
            "bm25", data=[q], anns_field="sparse", limit=5, search_params={"metric_type": "BM25"})[0]],
        "qa hybrid (dense + bm25s, RRF)": lambda q, v: [c for c, _ in fuse(
            [qa_dense(v), [c for c, _ in bm25.search(q, K_DENSE)]])][:5],
        "Milvus hybrid_search (dense + BM25, RRFRanker)": milvus_hybrid,
    }
    if args.no_hybrid:
        routes = {k: v for k, v in routes.items() if "hybrid" not in k}
    out: dict = {"paragraphs": len(paragraphs), "questions": len(questions),
                 "milvus_write_s": milvus_write_s, "routes": {}}
    for name, route in routes.items():
        for (q, _), v in list(zip(questions, qvec, strict=True))[:3]:
            route(q, v)
        times, hits = Times(), 0
        for (q, gold), v in zip(questions, qvec, strict=True):
            started, cpu = time.perf_counter(), time.process_time()
            top = route(q, v)
            times.append((time.perf_counter() - started) * 1000)
            times.cpu.append((time.process_time() - cpu) * 1000)
            hits += gold in top[:5]
        out["routes"][name] = {**summary(times), "hit_at_5": hits / len(questions)}
        log(f"lexical: {name}: hit@5 {hits / len(questions):.3f}, p50 {np.percentile(times, 50):.2f} ms, "
            f"p95 {np.percentile(times, 95):.2f} ms")
    client.close()
    milvus_store.release(uri)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--sizes", type=ints, default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--lite-indexes", type=lambda s: s.split(","), default=["FLAT", "HNSW"])
    parser.add_argument("--hnsw-ef", type=int, default=64)
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--no-lexical", action="store_true")
    parser.add_argument("--no-hybrid", action="store_true", help="lexical routes only (no MiniLM)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import faiss
    import milvus_lite
    import pymilvus

    result = {"date": time.strftime("%Y-%m-%d"),
              "command": "benchmarks/bench_milvus.py " + " ".join(sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "faiss": faiss.__version__, "pymilvus": pymilvus.__version__,
                          "milvus_lite": getattr(milvus_lite, "__version__", "?")},
              "k_dense": K_DENSE, "load_average_at_start": os.getloadavg(), "dense": [], "lexical": None}
    started = time.perf_counter()
    vocab = vocabulary()
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        result["dense"].append(bench_dense(n, args, vocab))
        (args.out / "milvus.json").write_text(json.dumps(result, indent=1))  # partial results
    if not args.no_lexical and SQUAD_FILE.exists():
        result["lexical"] = bench_lexical(args)
    result["total_s"] = time.perf_counter() - started
    result["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "milvus.json").write_text(json.dumps(result, indent=1))

    print("\n| passages | store, index | p50 / p95 ms | CPU p50 / p95 ms | recall@10 | write s (rows/s) "
          "| bytes/passage |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in result["dense"]:
        f = r["faiss"]
        print(f"| {r['n']:,} | FAISS {f['index']} | {f['p50_ms']:.2f} / {f['p95_ms']:.2f} | "
              f"{f['cpu_p50_ms']:.2f} / {f['cpu_p95_ms']:.2f} | "
              f"{f['recall_at_10']:.3f} | {f['build_s']:.1f} (build) | {f['bytes_per_passage']:.0f} |")
        for name, m in r["milvus"].items():
            print(f"| {r['n']:,} | Milvus Lite {name} | {m['p50_ms']:.2f} / {m['p95_ms']:.2f} | "
                  f"{m['cpu_p50_ms']:.2f} / {m['cpu_p95_ms']:.2f} | "
                  f"{m['recall_at_10']:.3f} | {m['write_s']:.0f} ({m['rows_per_s']:.0f}) | "
                  f"{m['bytes_per_passage']:.0f} |")
    if result["lexical"]:
        lex = result["lexical"]
        print(f"\n{lex['paragraphs']} SQuAD paragraphs, {lex['questions']} questions\n")
        print("| route | hit@5 | p50 / p95 ms | CPU p50 / p95 ms |\n|---|---:|---:|---:|")
        for name, x in lex["routes"].items():
            print(f"| {name} | {x['hit_at_5']:.3f} | {x['p50_ms']:.2f} / {x['p95_ms']:.2f} | "
                  f"{x['cpu_p50_ms']:.2f} / {x['cpu_p95_ms']:.2f} |")
    print(f"\npeak RSS {peak_rss_mb():.0f} MB, total {result['total_s']:.0f} s; "
          f"wrote {args.out / 'milvus.json'}")


if __name__ == "__main__":
    main()
