"""OpenMP wait policy on a busy machine: query embedding and decoding, spinning vs sleeping threads.

    .venv/bin/python benchmarks/bench_threads.py [--busy 2] [--tokens 32] [--no-llm]

`qa` sets OMP_WAIT_POLICY=PASSIVE on import (idle OpenMP threads sleep). This script
measures why: each case runs in a fresh process (the policy is read when torch loads),
with the library default (variable empty) and with PASSIVE, first on the machine as it
is, then with `--busy` extra processes spinning on the CPU, as on a laptop doing other
work. Reports the median query-embedding time and decode speed of the default answering
model. Writes benchmarks/results/threads.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASE = r"""
import json, statistics, sys, time
sys.path.insert(0, {root!r})
import qa
from qa.models.embed import SentenceTransformerEmbedder
embedder = SentenceTransformerEmbedder().load()
embedder.embed(["warm up"])
times = []
for i in range(20):
    started = time.perf_counter()
    embedder.embed([f"How many hostages were freed on day {{i}}?"])
    times.append(time.perf_counter() - started)
result = {{"embed_query_ms": statistics.median(times) * 1000}}
if {llm}:
    from qa.models.generate import TransformersGenerator
    generator = TransformersGenerator().load()
    messages = [{{"role": "user", "content": "Write three sentences about the sea."}}]
    generator.generate(messages, 4)
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        pieces = list(generator.stream(messages, {tokens}))
        rates.append({tokens} / (time.perf_counter() - started))
    result["decode_tokens_per_s"] = statistics.median(rates)
print("RESULT " + json.dumps(result))
"""


def spin() -> None:
    while True:
        pass


def run_case(policy: str, tokens: int, llm: bool) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    code = CASE.format(root=str(ROOT), llm=llm, tokens=tokens)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="spinning processes for the busy case")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--no-llm", action="store_true", help="only the query embedding")
    args = parser.parse_args()
    rows = []
    for busy in (0, args.busy):
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
        for process in spinners:
            process.start()
        try:
            for policy in ("", "PASSIVE"):
                result = run_case(policy, args.tokens, not args.no_llm)
                row = {"busy_processes": busy, "policy": policy or "default", **result}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            for process in spinners:
                process.terminate()
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "threads.json").write_text(json.dumps(rows, indent=1))
    print("\n| busy processes | OMP_WAIT_POLICY | query embedding, median ms | decode tokens/s |")
    print("|---|---|---|---|")
    for row in rows:
        decode = row.get("decode_tokens_per_s")
        decode_text = f"{decode:.1f}" if decode else "–"
        print(f"| {row['busy_processes']} | {row['policy']} | {row['embed_query_ms']:.1f} | {decode_text} |")


if __name__ == "__main__":
    main()
