"""The `qa eval` verb: flags, choosing facts and index, running, printing and saving the results.

`add_eval_parser` declares the flags on the main `qa` parser; `run_eval_command`
runs them. Metrics, reports and comparisons live in their own modules; this one
wires them together and prints. Errors are raised as `QAError`s for `qa.cli`.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import QAError
from qa.eval.facts import SEED_FACTS, check_evidence, load_facts, sample
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.eval.judge import JudgeCheck
    from qa.eval.runner import EvalRun

DEFAULT_OUT = "eval-results"
DEFAULT_LIMITS = {"seed": None, "squad": 100, "rgb": None}


def add_eval_parser(verbs, add_common: Callable[[argparse.ArgumentParser], None],
                    add_llm: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Add the `eval` verb and its flags to the `qa` sub-parsers."""
    p = verbs.add_parser(
        "eval", help="measure answers, citations, retrieval, refusals and latency on known facts",
        description="Ask questions with known answers and report how far to trust the assistant: "
                    "metrics with 95% bootstrap intervals, a JSON file of every answer, a Markdown "
                    "report and a PNG chart.")
    p.add_argument("data", nargs="?", help="data file for --dataset squad or rgb")
    p.add_argument("--data", dest="data_opt", metavar="PATH", help="same as the positional PATH")
    p.add_argument("--dataset", choices=("seed", "squad", "rgb"), default="seed",
                   help="seed: facts over an index (default); squad: SQuAD 2.0 JSON; rgb: RGB en_fact JSONL")
    p.add_argument("--facts", metavar="PATH", help="facts JSONL for --dataset seed "
                   "(default: the shipped seed facts; format in qa/eval/data/README.md)")
    p.add_argument("--split", choices=("dev", "test", "all"), default="all",
                   help="fixed half of squad (by Wikipedia title) or rgb (by question id): tune on dev, "
                        "report on test (default: all); the seed facts are dev")
    p.add_argument("--limit", type=int, help="ask a random sample of N questions "
                   "(default: all; 100 for squad)")
    p.add_argument("--seed", type=int, default=0, help="random seed for --limit and the bootstrap (0)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for results.json, report.md, metrics.png (default ./{DEFAULT_OUT})")
    p.add_argument("--compare", nargs="+", metavar="JSON",
                   help="OLD.json: run, then show what got better or worse; OLD.json NEW.json: only compare")
    p.add_argument("--judge-check", action="store_true",
                   help="only measure the citation-support judge on its labelled cases (no models)")
    p.add_argument("-k", "--passages", type=int, help="passages given to the model (default 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ignore-as-of", action="store_true",
                   help="ask every fact without its 'as_of' date (to measure what the date adds)")
    add_common(p)
    add_llm(p)
    return p


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `qa eval` as the flags say; returns the exit status."""
    from qa.eval.judge import judge_check, load_test_cases
    from qa.eval.report import judge_summary

    if args.compare and len(args.compare) > 2:
        raise QAError("--compare takes OLD.json, or OLD.json NEW.json")
    if args.compare and len(args.compare) == 2:
        return _compare_files(args.compare[0], args.compare[1])
    check = judge_check(seed=args.seed)
    test_cases = load_test_cases()
    test_check = judge_check(test_cases, seed=args.seed) if test_cases else None
    if args.judge_check:
        print(f"dev: development cases (seed articles; the judge is tuned on these):\n{judge_summary(check)}")
        for case in check.cases:
            if case.predicted != case.supported:
                label = "supported" if case.supported else "unsupported"
                print(f"  {case.id} labelled {label}, judged otherwise: {case.sentence}")
        if test_check is not None:
            wrong = sum(c.predicted != c.supported for c in test_check.cases)
            print(f"\ntest: held-out cases (written blind to the judge; report only):\n"
                  f"{judge_summary(test_check)}\n  {wrong} disagreements (not listed: tune on dev only)")
        return 0
    old = None
    if args.compare:
        from qa.eval.compare import load_run

        old = load_run(args.compare[0])
    run = _run(args, settings, check, test_check)
    from qa.eval.report import render_table, write_outputs

    print(render_table(run))
    out = Path(args.out)
    previous = out / "results.json"
    if args.compare and previous.exists() and previous.resolve() == Path(args.compare[0]).resolve():
        shutil.copyfile(previous, out / "results-previous.json")
    paths = write_outputs(run, out)
    print(f"\nwrote {paths['json']}, {paths['markdown']}, {paths['png']}")
    if old is not None:
        from qa.eval.compare import compare, render_comparison
        from qa.eval.report import run_to_dict

        comparison = compare(old, run_to_dict(run), args.compare[0], str(paths["json"]))
        print("\n" + render_comparison(comparison))
        (out / "compare.md").write_text(render_comparison(comparison, markdown=True), encoding="utf-8")
    return 0


def _compare_files(old_path: str, new_path: str) -> int:
    from qa.eval.compare import compare, load_run, render_comparison

    comparison = compare(load_run(old_path), load_run(new_path), old_path, new_path)
    print(render_comparison(comparison))
    return 0


def _run(args: argparse.Namespace, settings: Settings, check: JudgeCheck,
         test_check: JudgeCheck | None = None) -> EvalRun:
    from qa.api import Assistant
    from qa.eval.runner import run_eval
    from qa.eval.splits import SPLIT_SALT, check_split

    data = args.data_opt or args.data
    limit = args.limit if args.limit is not None else DEFAULT_LIMITS[args.dataset]
    split = check_split(args.split)
    meta = {"dataset": args.dataset, "split": split or "all", "limit": limit,
            "argv": " ".join(sys.argv[1:])}
    progress = not args.no_progress
    if args.dataset == "seed":
        if data:
            raise QAError("a data PATH is for --dataset squad or rgb; use --facts for a facts file")
        if split == "test":
            raise QAError("the seed facts are development data and have no test split: use --split dev, "
                          "or --dataset squad|rgb PATH --split test")
        if split == "dev" and args.facts:
            raise QAError("--split is for the shipped seed facts, squad and rgb; a --facts file has no split")
        if not args.facts:
            meta["split"] = "dev"
        facts_path = Path(args.facts) if args.facts else SEED_FACTS
        facts = sample(load_facts(facts_path), limit, args.seed)
        meta["source"] = str(facts_path)
        assistant = Assistant(settings=settings)
        problems = check_evidence(facts, {d: a.text for d, a in assistant.store.articles.items()})
        for problem in problems[:10]:
            print(f"qa eval: warning: {problem}", file=sys.stderr)
        return run_eval(assistant, facts, progress=progress, seed=args.seed, meta=meta, judge=check,
                        judge_test=test_check, use_as_of=not args.ignore_as_of)

    from qa.eval.datasets import load_dataset
    from qa.store.indexer import upsert_articles

    dataset = load_dataset(args.dataset, data, limit, args.seed, split=split)
    meta["source"] = dataset.source
    if split is not None:
        meta["split_rule"] = (f"{'Wikipedia title' if args.dataset == 'squad' else 'question id'}, "
                              f"hash-ordered halves ({SPLIT_SALT})")
    temp = None
    if args.index_dir is None:
        temp = tempfile.TemporaryDirectory(prefix=f"qa-eval-{args.dataset}-")
        settings = dataclasses.replace(settings, index_dir=Path(temp.name) / "index")
    try:
        assistant = Assistant(settings=settings)
        print(f"indexing {len(dataset.articles)} {args.dataset} articles into {settings.index_dir}",
              file=sys.stderr)
        upsert_articles(settings.index_dir, dataset.articles, assistant.embedder, progress=progress)
        wanted = {a.doc_id for a in dataset.articles}
        extra = sum(1 for doc_id in assistant.store.articles if doc_id not in wanted)
        if extra:
            print(f"qa eval: warning: {settings.index_dir} also holds {extra} articles from outside this "
                  f"sample (another split or run); they act as extra distractors", file=sys.stderr)
        run = run_eval(assistant, dataset.facts, progress=progress, seed=args.seed, meta=meta, judge=check,
                       judge_test=test_check, use_as_of=not args.ignore_as_of)
        if temp is not None:
            run.meta["index_dir"] = "(temporary)"
        return run
    finally:
        if temp is not None:
            temp.cleanup()
