"""The eval suite on the dated dev set: index its articles into a temporary folder and ask its facts.

    PYTHONPATH=. .venv/bin/python benchmarks/eval_dated.py [--fake-generator] [--ignore-as-of]

Prints article hit@1/hit@5 (distinct articles), accuracy, and accuracy per kind ("latest" is the
share of latest-figure questions answered with the latest figure). `--fake-generator` answers with
`qa.testing.ExtractiveGenerator` (no language model); the embedder is always the real one. Writes
eval-results-dated[-fake][-no-as-of]/ (results.json, report.md) like `qa eval`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.api import Assistant  # noqa: E402
from qa.eval.facts import DATA_DIR, load_facts  # noqa: E402
from qa.eval.report import write_outputs  # noqa: E402
from qa.eval.runner import run_eval  # noqa: E402
from qa.store.indexer import index_paths  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake-generator", action="store_true")
    parser.add_argument("--ignore-as-of", action="store_true")
    args = parser.parse_args()
    generator = None
    if args.fake_generator:
        from qa.testing import ExtractiveGenerator

        generator = ExtractiveGenerator()
    facts = load_facts(DATA_DIR / "dated_facts.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(index_dir=Path(tmp) / "index", generator=generator)
        index_paths(assistant.index_dir, [DATA_DIR / "dated_articles.jsonl"], assistant.embedder)
        run = run_eval(assistant, facts, progress=False, use_as_of=not args.ignore_as_of,
                       meta={"dataset": "dated", "source": "qa/eval/data/dated_facts.jsonl"})
    m = run.metrics
    for key in ("article_hit@1", "article_hit@5", "accuracy"):
        print(f"{key}: {m[key].value:.3f}")
    for kind, metric in run.by_kind.items():
        print(f"  {kind}: {metric.value:.3f} (n={metric.n})")
    suffix = ("-fake" if args.fake_generator else "") + ("-no-as-of" if args.ignore_as_of else "")
    paths = write_outputs(run, ROOT / f"eval-results-dated{suffix}")
    print(f"wrote {paths['json']}")
    for item in run.items:
        if not item.correct:
            print(f"  wrong {item.id} ({item.kind}, rank {item.article_rank}): {item.answer[:150]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
