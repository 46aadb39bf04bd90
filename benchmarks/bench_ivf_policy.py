"""How the IVF shape trades latency for recall: nlist (lists per sqrt(n)) against nprobe, at one size.

    .venv/bin/python benchmarks/bench_ivf_policy.py [--n 1000000] [--lists-per-sqrt 2,4,8]
        [--nprobe-fractions 0.02,0.04,0.06,0.08,0.12,0.17] [--queries 200]

The evidence for `qa.store.vector_index.Policy`: for each `lists_per_sqrt` it builds the float16 IVF
index `qa.store.vector_index.build_ivf` makes (same training rule), then times single queries (k=30)
through `qa.store.vector_index.search`, as `retrieve` asks, at each nprobe as a share of nlist, and
measures recall@10 against exact search. Vectors and queries are bench_retrieval's synthetic,
MiniLM-calibrated ones (same seeds). Wall and thread-CPU p50 / p95 are both reported. A query
scanning `Policy.parallel_scan_min` vectors or more is split over all threads by `search`; its
thread-CPU time then counts the calling thread only, so read the wall figures. (The stored
results/ivf_policy.json predates that split: every query there ran on one thread.) Writes
benchmarks/results/ivf_policy.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import (
    DIM,
    K_DENSE,
    OUT,
    clustered_vectors,
    log,
    queries_near,
    recall_at_10,
    summary,
    time_queries,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    floats = lambda s: [float(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--lists-per-sqrt", type=floats, default=[2.0, 4.0, 8.0])
    parser.add_argument("--nprobe-fractions", type=floats,
                        default=[0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 1 / 6])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from qa.store import vector_index

    n = args.n
    log(f"n={n:,}: generating vectors (bench_retrieval's clustered set, seed {n})")
    vectors = clustered_vectors(n, seed=n)
    ids = np.arange(n, dtype=np.int64)
    queries = queries_near(vectors, args.queries, seed=n, uniform=False)
    flat = vector_index.new_flat(DIM)
    vector_index.add(flat, vectors, ids)
    _, exact = flat.search(queries, 10)
    flat = None
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n": n,
              "command": "benchmarks/bench_ivf_policy.py " + " ".join(sys.argv[1:]),
              "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "shapes": []}
    for per_sqrt in args.lists_per_sqrt:
        policy = dataclasses.replace(vector_index.POLICY, lists_per_sqrt=per_sqrt)
        log(f"lists_per_sqrt={per_sqrt:g}: building (nlist={policy.nlist(n)})")
        started = time.perf_counter()
        ivf = vector_index.build_ivf(ids, vectors, policy)
        build_s = time.perf_counter() - started
        shape = {"lists_per_sqrt": per_sqrt, "nlist": ivf.nlist, "build_s": build_s, "by_nprobe": []}
        for fraction in args.nprobe_fractions:
            ivf.nprobe = max(1, min(ivf.nlist, round(ivf.nlist * fraction)))
            times, approx = time_queries(lambda q, ivf=ivf: vector_index.search(ivf, q, K_DENSE), queries)
            row = {"nprobe": ivf.nprobe, "fraction": fraction, **summary(times),
                   "recall_at_10": recall_at_10(approx, exact)}
            shape["by_nprobe"].append(row)
            log(f"  nlist={ivf.nlist} nprobe={ivf.nprobe}: cpu p50 {row['cpu_p50_ms']:.2f} "
                f"p95 {row['cpu_p95_ms']:.2f} ms, wall p95 {row['p95_ms']:.2f} ms, "
                f"recall@10 {row['recall_at_10']:.3f}")
        result["shapes"].append(shape)
        ivf = None
    result["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ivf_policy.json").write_text(json.dumps(result, indent=1))
    print(f"\nn={n:,}, {args.queries} single queries, k={K_DENSE}")
    print("| nlist | build s | nprobe | recall@10 | CPU p50 / p95 ms | wall p50 / p95 ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for shape in result["shapes"]:
        for row in shape["by_nprobe"]:
            print(f"| {shape['nlist']} | {shape['build_s']:.0f} | {row['nprobe']} | "
                  f"{row['recall_at_10']:.3f} | {row['cpu_p50_ms']:.2f} / {row['cpu_p95_ms']:.2f} | "
                  f"{row['p50_ms']:.2f} / {row['p95_ms']:.2f} |")


if __name__ == "__main__":
    main()
