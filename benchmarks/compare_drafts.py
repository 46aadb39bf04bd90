"""Backends side by side on the same facts: accuracy, and how many drafts and answers are identical.

Reads the results.json files that `qa eval --out DIR` writes (one per backend) and compares
each with the first, question by question. It runs nothing itself:

    QA_LLM_BACKEND=llama.cpp qa eval --out /tmp/ev-llamacpp
    QA_LLM_BACKEND=openai QA_LLM_URL=http://127.0.0.1:8011/v1 qa eval --out /tmp/ev-served
    python benchmarks/compare_drafts.py /tmp/ev-llamacpp/results.json /tmp/ev-served/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _load(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.json files; the first is the reference")
    parser.add_argument("--show", type=int, default=5, help="print up to N differing drafts")
    args = parser.parse_args(argv)
    runs = [(path, _load(path)) for path in args.results]
    ref_path, ref = runs[0]
    ref_items = {item["id"]: item for item in ref["items"]}
    print("| run | model | accuracy | items | same draft as first | same answer as first |")
    print("|---|---|---|---|---|---|")
    differing: list[tuple[str, str, str, str]] = []
    for path, run in runs:
        items = {item["id"]: item for item in run["items"]}
        shared = sorted(set(items) & set(ref_items))
        same_draft = sum(items[i]["draft"] == ref_items[i]["draft"] for i in shared)
        same_answer = sum(items[i]["answer"] == ref_items[i]["answer"] for i in shared)
        accuracy = run["metrics"]["accuracy"]["value"]
        model = run["meta"].get("llm_model", "")
        print(f"| {path} | {model} | {accuracy:.1%} | {len(items)} | {same_draft}/{len(shared)} | "
              f"{same_answer}/{len(shared)} |")
        if path != ref_path:
            differing += [(path, i, ref_items[i]["draft"], items[i]["draft"]) for i in shared
                          if items[i]["draft"] != ref_items[i]["draft"]]
    for path, item_id, old, new in differing[: args.show]:
        print(f"\n{item_id} ({path}):\n  first: {old!r}\n  this:  {new!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
