"""Retrieval latency and recall at 10k / 100k / 1M passages: exact flat search against the index
`qa.store.vector_index` chooses by size, plus the full hybrid `retrieve()` path.

    .venv/bin/python benchmarks/bench_retrieval.py [--sizes 10000,100000,1000000] [--queries 200]

Passage vectors are synthetic 384-d unit vectors built to behave like real MiniLM embeddings:
topic centres, sub-topics around them (about 100 passages each), passages around those, every
level Gaussian noise with the eigenvalue spectrum of real MiniLM passage embeddings
(lambda_i ~ i^-0.45 exp(-i/125)) plus their shared mean direction; each query is a stored
passage plus noise. The noise levels were calibrated on 3,334 real SQuAD dev passages embedded
with MiniLM and 500 real SQuAD questions: at that size IVF recall@10 against nprobe
(1, 2, 4, 8 of 57 lists) is 0.59 / 0.76 / 0.88 / 0.95 on the synthetic vectors and
0.72 / 0.82 / 0.90 / 0.95 on the real ones, so the synthetic set is, if anything, a little
harder. Uniform random vectors (no neighbour structure, the worst case for any approximate
index) are a separate row (`--uniform-sizes`). Per size, for single queries (k=30, what
`retrieve` asks the dense side for): p50 / p95 latency, recall@10 against exact search,
build time (for IVF: training and adding) and the RSS the index added. `--hnsw-max` also runs
FAISS HNSW (M=32) up to that size, for comparison only.

The hybrid rows time `retrieve()` on a real `IndexStore` built through `upsert` (so the store
picks its index type itself): the question is embedded by the real MiniLM model
(`SentenceTransformerEmbedder`), the dense side searches synthetic vectors as above, BM25
searches synthetic passage texts (30-55 Zipf-sampled words of SQuAD dev paragraphs, or of the
seed articles when SQuAD is absent), the questions are the 65 seed-fact questions.

Writes benchmarks/results/retrieval.json and benchmarks/results/retrieval_latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SQUAD = ROOT.parent / "shared" / "eval-data" / "squad-dev-v2.0.json"
OUT = ROOT / "benchmarks" / "results"
DIM = 384
K_DENSE = 30  # what retrieve() asks the dense side for (its `candidates`)
# The synthetic vectors (see clustered_vectors): noise at each level, relative to the spread of
# the topic centres, and the spectrum and mean of real MiniLM embeddings.
TOPIC_NOISE, PASSAGE_NOISE, QUERY_NOISE = 1.0, 2.0, 1.2
SPECTRUM_POWER, SPECTRUM_CUTOFF, MEAN_NORM = 0.45, 125.0, 0.19


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _spectrum() -> np.ndarray:
    """Per-dimension scale with the eigenvalue decay of real MiniLM passage embeddings
    (lambda_i ~ i^-0.45 exp(-i/125), fitted to 3,334 SQuAD dev passages), total variance 1."""
    i = np.arange(1, DIM + 1, dtype=np.float64)
    variance = i ** -SPECTRUM_POWER * np.exp(-i / SPECTRUM_CUTOFF)
    return np.sqrt(variance / variance.sum()).astype(np.float32)


def _noise(rng: np.random.Generator, m: int) -> np.ndarray:
    return rng.standard_normal((m, DIM), dtype=np.float32) * _spectrum()


def clustered_vectors(n: int, seed: int) -> np.ndarray:
    """Topic -> sub-topic -> passage, each level its parent plus anisotropic Gaussian noise
    (the spectrum of real embeddings), plus the shared mean direction real embeddings have;
    normalised."""
    rng = np.random.default_rng(seed)
    subtopics = max(20, n // 100)  # about 100 passages each
    topics = max(5, subtopics // 20)
    mean = np.zeros(DIM, np.float32)
    mean[0] = MEAN_NORM
    topic_c = _noise(rng, topics)
    sub_c = topic_c[rng.integers(0, topics, subtopics)] + TOPIC_NOISE * _noise(rng, subtopics)
    out = np.empty((n, DIM), np.float32)
    step = 100_000
    for first in range(0, n, step):
        m = min(step, n - first)
        parents = sub_c[rng.integers(0, subtopics, m)]
        out[first:first + m] = _unit(mean + parents + PASSAGE_NOISE * _noise(rng, m))
    return out


def uniform_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for first in range(0, n, 100_000):
        m = min(100_000, n - first)
        out[first:first + m] = _unit(rng.standard_normal((m, DIM), dtype=np.float32))
    return out


def queries_near(vectors: np.ndarray, q: int, seed: int, uniform: bool) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    if uniform:
        return uniform_vectors(q, seed + 2)
    picks = vectors[rng.integers(0, len(vectors), q)]
    return _unit(picks + QUERY_NOISE * _noise(rng, q))


class Times(list):
    """Wall-clock ms per query, with the thread CPU ms of each alongside (`cpu`)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: list[float] = []


def time_queries(search, queries: np.ndarray, warmup: int = 5) -> tuple[Times, np.ndarray]:
    """Per-query latency in ms (one query at a time, as retrieve() does) and the top-10 ids.

    Also records the CPU time of the calling thread: on this shared 2-core machine the
    wall clock includes waiting for a core, the CPU time is close to what an idle machine
    would show (single-threaded searches only)."""
    for q in queries[:warmup]:
        search(q)
    times, tops = Times(), []
    for q in queries:
        started, cpu = time.perf_counter(), time.thread_time()
        _, ids = search(q)
        times.append((time.perf_counter() - started) * 1000)
        times.cpu.append((time.thread_time() - cpu) * 1000)
        tops.append(ids[0][:10])
    return times, np.array(tops)


def summary(times: list[float]) -> dict:
    out = {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
           "mean_ms": float(np.mean(times)), "queries": len(times)}
    if getattr(times, "cpu", None):
        out["cpu_p50_ms"] = float(np.percentile(times.cpu, 50))
        out["cpu_p95_ms"] = float(np.percentile(times.cpu, 95))
    return out


def recall_at_10(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(e.tolist())) / 10
                          for a, e in zip(approx, exact, strict=True)]))


def bench_dense(n: int, args, uniform: bool = False) -> dict:
    import faiss

    from qa.store import vector_index

    label = "uniform" if uniform else "clustered"
    log(f"n={n:,} ({label}): generating vectors")
    vectors = (uniform_vectors if uniform else clustered_vectors)(n, seed=n)
    ids = np.arange(n, dtype=np.int64)
    queries = queries_near(vectors, args.queries, seed=n, uniform=uniform)
    row: dict = {"n": n, "vectors": label, "chosen": None}

    before = rss_mb()
    started = time.perf_counter()
    flat = vector_index.new_flat(DIM)
    vector_index.add(flat, vectors, ids)
    flat_build = time.perf_counter() - started
    flat_rss = rss_mb() - before
    _, exact = flat.search(queries, 10)  # ground truth, batched
    n_flat_q = args.queries if n < 500_000 else min(args.queries, args.flat_queries_1m)
    log(f"n={n:,}: flat, {n_flat_q} single queries")
    times, _ = time_queries(lambda q: vector_index.search(flat, q, K_DENSE), queries[:n_flat_q])
    row["flat"] = {**summary(times), "recall_at_10": 1.0, "build_s": flat_build, "index_rss_mb": flat_rss}
    log(f"n={n:,}: flat p50 {row['flat']['p50_ms']:.2f} ms, p95 {row['flat']['p95_ms']:.2f} ms")
    if n <= 100_000 and not uniform:  # what qa.store.vector_index.search avoids: FAISS's default threads
        times, _ = time_queries(lambda q: flat.search(q.reshape(1, -1), K_DENSE), queries[:n_flat_q])
        row["flat_all_omp_threads"] = {**summary(list(times)), "threads": faiss.omp_get_max_threads()}
        log(f"n={n:,}: flat with {faiss.omp_get_max_threads()} OpenMP threads: "
            f"p50 {times and np.percentile(times, 50):.2f} ms, p95 {np.percentile(times, 95):.2f} ms")

    log(f"n={n:,}: building IVF float16 (policy nlist={vector_index.POLICY.nlist(n)})")
    before = rss_mb()
    started = time.perf_counter()
    ivf = vector_index.build_ivf(ids, vectors, vector_index.POLICY)
    ivf_build = time.perf_counter() - started
    ivf_rss = rss_mb() - before
    times, approx = time_queries(lambda q: vector_index.search(ivf, q, K_DENSE), queries)
    row["ivf"] = {**summary(times), "recall_at_10": recall_at_10(approx, exact), "build_s": ivf_build,
                  "index_rss_mb": ivf_rss, "nlist": ivf.nlist, "nprobe": ivf.nprobe}
    sweep = {}
    for nprobe in args.nprobe_sweep:
        if nprobe > ivf.nlist:
            continue
        ivf.nprobe = nprobe
        t, a = time_queries(lambda q: vector_index.search(ivf, q, K_DENSE), queries[: min(100, len(queries))])
        sweep[nprobe] = {**summary(t), "recall_at_10": recall_at_10(a, exact[: len(a)])}
    ivf.nprobe = row["ivf"]["nprobe"]
    row["ivf"]["nprobe_sweep"] = sweep
    log(f"n={n:,}: IVF nlist={ivf.nlist} nprobe={ivf.nprobe}: p50 {row['ivf']['p50_ms']:.2f} ms, "
        f"p95 {row['ivf']['p95_ms']:.2f} ms, recall@10 {row['ivf']['recall_at_10']:.3f}, "
        f"build {ivf_build:.1f} s")
    row["chosen"] = vector_index.kind(vector_index.fit(flat)) if n <= vector_index.POLICY.flat_max \
        else vector_index.IVF  # (fit on the big flat index would rebuild the IVF we just timed)
    ivf = None  # free it before the next index

    if n <= args.hnsw_max and not uniform:
        log(f"n={n:,}: building HNSW M=32 efConstruction=40 (comparison only)")
        before = rss_mb()
        started = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.add(vectors)
        hnsw_build = time.perf_counter() - started
        hnsw_rss = rss_mb() - before
        row["hnsw"] = {"build_s": hnsw_build, "index_rss_mb": hnsw_rss, "by_ef_search": {}}
        for ef in (32, 64, 128):
            hnsw.hnsw.efSearch = max(ef, K_DENSE)
            t, a = time_queries(lambda q: hnsw.search(q.reshape(1, -1), K_DENSE), queries)
            row["hnsw"]["by_ef_search"][ef] = {**summary(t), "recall_at_10": recall_at_10(a, exact)}
            log(f"n={n:,}: HNSW efSearch={ef}: p95 {row['hnsw']['by_ef_search'][ef]['p95_ms']:.2f} ms, "
                f"recall@10 {row['hnsw']['by_ef_search'][ef]['recall_at_10']:.3f}")
        hnsw = None
    flat = vectors = None
    row["peak_rss_mb"] = peak_rss_mb()
    return row


# ---- the hybrid retrieve() path ---------------------------------------------------------------
def vocabulary() -> list[str]:
    if SQUAD.exists():
        data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
        text = " ".join(p["context"] for a in data for p in a["paragraphs"])
    else:
        from qa.settings import SEED_DIR

        text = " ".join(p.read_text(encoding="utf-8") for p in sorted(Path(SEED_DIR).glob("*.txt")))
    counts: dict[str, int] = {}
    for w in re.findall(r"[A-Za-z][A-Za-z'-]+|\d+", text):
        counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])


def synthetic_texts(n: int, vocab: list[str], seed: int) -> list[str]:
    """n passages of 30-55 words drawn Zipf-like from `vocab` (one passage each, under 480 characters)."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks
    p /= p.sum()
    lengths = rng.integers(30, 56, n)
    words = rng.choice(len(vocab), int(lengths.sum()), p=p)
    out, pos = [], 0
    for i, m in enumerate(lengths):
        text = " ".join(vocab[w] for w in words[pos:pos + m]).capitalize()
        out.append(text[:440].rsplit(" ", 1)[0] + f" (item {i}).")
        pos += m
    return out


class ReplayEmbedder:
    """Hands out precomputed vectors in order (the store's upsert path without a model)."""

    def __init__(self, vectors: np.ndarray, name: str) -> None:
        self.vectors, self.pos, self.name, self.dimension = vectors, 0, name, vectors.shape[1]

    def embed(self, texts, progress: bool = False) -> np.ndarray:
        out = self.vectors[self.pos:self.pos + len(texts)]
        self.pos += len(texts)
        return out


def bench_hybrid(n: int, args, embedder, vocab: list[str]) -> dict:
    from qa.ingest.read import content_hash
    from qa.records import Article
    from qa.search.retrieve import retrieve
    from qa.store import vector_index
    from qa.store.index_store import IndexStore
    from qa.store.indexer import upsert

    log(f"hybrid n={n:,}: making {n:,} synthetic passages")
    texts = synthetic_texts(n, vocab, seed=n)
    vectors = clustered_vectors(n, seed=n + 7)
    articles = []
    for i, text in enumerate(texts):
        article = Article(doc_id=f"s{i:07d}", text=text, title=f"Synthetic {i}")
        article.content_hash = content_hash(article)
        articles.append(article)
    log(f"hybrid n={n:,}: IndexStore.upsert (chunking, index-type policy)")
    started = time.perf_counter()
    store = IndexStore.create(Path(tempfile.mkdtemp(prefix="qa-bench-retr-")), embedder.name, DIM)
    upsert(store, articles, ReplayEmbedder(vectors, embedder.name))
    upsert_s = time.perf_counter() - started
    assert len(store.chunks) == n, (len(store.chunks), n)
    started = time.perf_counter()
    store.search_lexical("warm up", 1)  # builds BM25 (lazily, once per store)
    bm25_s = time.perf_counter() - started
    facts = (ROOT / "qa" / "eval" / "data" / "seed_facts.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in facts if line.strip()]
    questions = (questions * (1 + args.hybrid_queries // len(questions)))[: args.hybrid_queries]
    for q in questions[:3]:
        retrieve(store, embedder, q, k=5)
    parts: dict[str, list[float]] = {"embed": [], "dense": [], "lexical": [], "retrieve": []}
    log(f"hybrid n={n:,}: timing {len(questions)} questions ({vector_index.describe(store.vectors)})")
    for q in questions:
        t0 = time.perf_counter()
        vec = embedder.embed([q])[0]
        t1 = time.perf_counter()
        store.search_dense(vec, K_DENSE)
        t2 = time.perf_counter()
        store.search_lexical(q, K_DENSE)
        t3 = time.perf_counter()
        retrieve(store, embedder, q, k=5)
        t4 = time.perf_counter()
        for key, dt in (("embed", t1 - t0), ("dense", t2 - t1), ("lexical", t3 - t2), ("retrieve", t4 - t3)):
            parts[key].append(dt * 1000)
    row = {"n": n, "index": vector_index.describe(store.vectors), "upsert_s": upsert_s,
           "bm25_build_s": bm25_s, "embedder": embedder.name,
           **{key: summary(v) for key, v in parts.items()}, "peak_rss_mb": peak_rss_mb()}
    log(f"hybrid n={n:,}: retrieve p50 {row['retrieve']['p50_ms']:.1f} ms, "
        f"p95 {row['retrieve']['p95_ms']:.1f} ms "
        f"(embed p50 {row['embed']['p50_ms']:.1f}, dense {row['dense']['p50_ms']:.2f}, "
        f"BM25 {row['lexical']['p50_ms']:.1f})")
    return row


# ---- the plot ------------------------------------------------------------------------------------
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["dense"] if r["vectors"] == "clustered"]
    sizes = [r["n"] for r in rows]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    styles = {"flat": ("#c0392b", "exact flat (IndexFlatIP)"),
              "ivf": ("#2471a3", "IVF float16 (policy nlist, nprobe)")}
    for key, (color, label) in styles.items():
        ax.plot(sizes, [r[key]["p50_ms"] for r in rows], "o-", color=color, label=f"{label} p50")
        ax.plot(sizes, [r[key]["p95_ms"] for r in rows], "s--", color=color, label=f"{label} p95")
    chosen = [r["flat"]["p95_ms"] if r["chosen"] == "flat" else r["ivf"]["p95_ms"] for r in rows]
    ax.plot(sizes, chosen, "*", color="black", markersize=14, label="p95 of the index qa picks", zorder=5)
    if result.get("hybrid"):
        hy = result["hybrid"]
        ax.plot([h["n"] for h in hy], [h["retrieve"]["p95_ms"] for h in hy], "^:", color="#7d3c98",
                label="full retrieve() p95 (MiniLM query + dense + BM25)")
    ax.axhline(20, color="grey", lw=1, ls=":")
    ax.text(sizes[0], 15, "20 ms target (dense search, p95)", color="grey", fontsize=8, va="top")
    ax.axvline(result["policy"]["flat_max"], color="grey", lw=1, ls="-.")
    ax.text(result["policy"]["flat_max"] * 1.08, 100,
            f"flat → IVF\nabove {result['policy']['flat_max']:,}", color="grey", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("latency per query, ms (log)")
    ax.set_title("Dense search latency, one query at a time, k=30")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7.5, loc="lower right")
    ax2.plot(sizes, [r["ivf"]["recall_at_10"] for r in rows], "o-", color="#2471a3",
             label="IVF float16, clustered vectors")
    uni = [r for r in result["dense"] if r["vectors"] == "uniform"]
    if uni:
        ax2.plot([r["n"] for r in uni], [r["ivf"]["recall_at_10"] for r in uni], "x", color="#2471a3",
                 markersize=10, label="IVF float16, uniform random (worst case)")
    ax2.axhline(0.95, color="grey", lw=1, ls=":")
    ax2.text(sizes[0], 0.953, "0.95 target", color="grey", fontsize=8)
    ax2.set_xscale("log")
    ax2.set_ylim(min(0.8, min([r["ivf"]["recall_at_10"] for r in rows + uni]) - 0.05), 1.01)
    for r in rows + uni:
        ax2.annotate(f"nprobe {r['ivf']['nprobe']}/{r['ivf']['nlist']}", (r["n"], r["ivf"]["recall_at_10"]),
                     textcoords="offset points", xytext=(0, -13), ha="center", fontsize=7, color="#2471a3")
    ax2.set_xlabel("passages in the index")
    ax2.set_ylabel("recall@10 against exact search")
    ax2.set_title("Recall of the approximate index")
    ax2.grid(True, which="both", alpha=0.25)
    ax2.legend(fontsize=7.5, loc="center right")
    loads = [result.get(k, [float("nan")])[0] for k in ("load_average_at_start", "load_average_at_end")]
    fig.suptitle(f"qa retrieval, synthetic 384-d passages calibrated on MiniLM, {result['machine']['cpus']} "
                 f"CPU cores (load average {min(loads):.1f}-{max(loads):.1f}), "
                 f"{result['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--sizes", type=ints, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--flat-queries-1m", type=int, default=100,
                        help="single flat queries timed at 500k+ passages (each takes ~0.1 s)")
    parser.add_argument("--nprobe-sweep", type=ints, default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--uniform-sizes", type=ints, default=[100_000])
    parser.add_argument("--hnsw-max", type=int, default=100_000)
    parser.add_argument("--hybrid-sizes", type=ints, default=[10_000, 100_000])
    parser.add_argument("--hybrid-queries", type=int, default=100)
    parser.add_argument("--fake-embedder", action="store_true",
                        help="embed hybrid questions with the hashing fake instead of MiniLM")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from retrieval.json")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads((args.out / "retrieval.json").read_text()), args.out / "retrieval_latency.png")
        return

    import faiss

    from qa.store import vector_index

    policy = vector_index.POLICY
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "benchmarks/bench_retrieval.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "faiss": faiss.__version__, "omp_threads": faiss.omp_get_max_threads(),
                    "platform": platform.platform()},
        "vectors": "synthetic clustered 384-d unit vectors (topic > sub-topic > passage); queries "
                   "are passages plus noise; 'uniform' rows are uniform random unit vectors",
        "k_dense": K_DENSE,
        "load_average_at_start": os.getloadavg(),
        "policy": {"flat_max": policy.flat_max,
                   "nlist": f"min({policy.lists_per_sqrt:g}*sqrt(n), n/{policy.points_per_list})",
                   "nprobe": f"min(nlist, max({policy.nprobe_min}, nlist*{policy.nprobe_fraction:.4g}))",
                   "train_sample": f"{policy.points_per_list} per list",
                   "train_iterations": policy.train_iterations},
        "dense": [], "hybrid": [],
    }
    started = time.perf_counter()
    for n in args.sizes:
        result["dense"].append(bench_dense(n, args))
    for n in args.uniform_sizes:
        result["dense"].append(bench_dense(n, args, uniform=True))
    if args.hybrid_sizes:
        if args.fake_embedder:
            from qa.testing import HashingEmbedder

            embedder = HashingEmbedder(dimension=DIM)
        else:
            from qa.api import shared_embedder

            embedder = shared_embedder().load()
            embedder.embed(["warm up"])
        vocab = vocabulary()
        for n in args.hybrid_sizes:
            result["hybrid"].append(bench_hybrid(n, args, embedder, vocab))
    result["total_s"] = time.perf_counter() - started
    result["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps(result, indent=1))
    plot(result, args.out / "retrieval_latency.png")

    print("\n| passages | vectors | index | p50 ms | p95 ms | recall@10 | build s | index RSS MB |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in result["dense"]:
        for key in ("flat", "ivf"):
            x = r[key]
            name = "flat" if key == "flat" else f"IVF-fp16 nlist={x['nlist']} nprobe={x['nprobe']}"
            mark = " (chosen)" if (key == "flat") == (r["chosen"] == "flat") else ""
            print(f"| {r['n']:,} | {r['vectors']} | {name}{mark} | {x['p50_ms']:.2f} | {x['p95_ms']:.2f} | "
                  f"{x['recall_at_10']:.3f} | {x['build_s']:.1f} | {x['index_rss_mb']:.0f} |")
        if "hnsw" in r:
            for ef, x in r["hnsw"]["by_ef_search"].items():
                print(f"| {r['n']:,} | {r['vectors']} | HNSW M=32 efSearch={ef} (not used) | "
                      f"{x['p50_ms']:.2f} | {x['p95_ms']:.2f} | {x['recall_at_10']:.3f} | "
                      f"{r['hnsw']['build_s']:.1f} | "
                      f"{r['hnsw']['index_rss_mb']:.0f} |")
    if result["hybrid"]:
        print("\n| passages | index | retrieve() p50 / p95 ms | embed p50 | dense p50 | BM25 p50 / p95 |")
        print("|---:|---|---:|---:|---:|---:|")
        for h in result["hybrid"]:
            print(f"| {h['n']:,} | {h['index']} | "
                  f"{h['retrieve']['p50_ms']:.1f} / {h['retrieve']['p95_ms']:.1f} | "
                  f"{h['embed']['p50_ms']:.1f} | {h['dense']['p50_ms']:.2f} | "
                  f"{h['lexical']['p50_ms']:.1f} / {h['lexical']['p95_ms']:.1f} |")
    print(f"\npeak RSS {peak_rss_mb():.0f} MB, total {result['total_s']:.0f} s; "
          f"wrote {args.out / 'retrieval.json'} and {args.out / 'retrieval_latency.png'}")


if __name__ == "__main__":
    main()
