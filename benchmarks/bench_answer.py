"""Answer latency with the real models: cold start, and per-answer retrieve / first token / total.

    .venv/bin/python benchmarks/bench_answer.py [--questions N] [--llm-model NAME]

Cold start is measured in a fresh process (`python -m qa.cli ask ...`: imports, model
loads from the cache, index load, one answer). Per-answer figures are medians over
the seed-facts questions, asked in one warm process. Prints a Markdown table and
writes benchmarks/results/answer.json. Machine noise is real: quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "qa" / "eval" / "data" / "seed_facts.jsonl"


def cold_start(env: dict[str, str]) -> float:
    """Seconds from process start to a printed answer."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa.cli", "ask", "Who masterminded the raid?"], env=env,
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--llm-model", default=None)
    args = parser.parse_args()
    env = {**os.environ, "QA_INDEX_DIR": tempfile.mkdtemp(prefix="qa-bench-")}
    if args.llm_model:
        env["QA_LLM_MODEL"] = args.llm_model
    os.environ.update(env)
    cold_start(env)  # builds the seed index and the model cache; not counted
    colds = [cold_start(env) for _ in range(3)]

    from qa.api import Assistant

    assistant = Assistant()
    _ = assistant.store  # load the index before timing answers
    assistant.generator.load()
    questions = [json.loads(line)["question"] for line in FACTS.read_text().splitlines() if line.strip()]
    rows = []
    for question in questions[: args.questions]:
        answer = assistant.ask(question)
        rows.append({"question": question, "abstained": answer.abstained, **answer.timings})
    answered = [r for r in rows if "generate" in r]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "llm": assistant.generator.name,
        "cold_start_s_median": statistics.median(colds),
        "questions": len(rows),
        "model_called": len(answered),
        "retrieve_s_median": statistics.median(r["retrieve"] for r in rows),
        "first_token_s_median": statistics.median(r["first_token"] for r in answered),
        "total_s_median": statistics.median(r["total"] for r in rows),
        "total_s_p95": pct([r["total"] for r in rows], 0.95),
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "answer.json").write_text(json.dumps(result, indent=1))
    print(f"| machine | {result['machine']} |\n|---|---|")
    for key in ("llm", "cold_start_s_median", "questions", "model_called", "retrieve_s_median",
                "first_token_s_median", "total_s_median", "total_s_p95"):
        value = result[key]
        print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
