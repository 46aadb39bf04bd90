"""The real pipeline (real embedder and LLM) on known facts, with floors on the results.

Three runs: the 65 seed facts (dev data), and a small fixed sample of the test
splits of SQuAD 2.0 (by Wikipedia title) and RGB (by question id), read from
../shared/eval-data (skipped when absent). Floors are set a little under what was
measured with the default models (see docs/eval.md); they catch regressions, they
are not targets, and they are never lowered to pass. All floors are named
constants here, so a re-measurement updates them in one place.
Takes about ten minutes on two cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.api import Assistant, shared_embedder
from qa.eval.datasets import load_dataset
from qa.eval.facts import load_facts
from qa.eval.judge import judge_check
from qa.eval.report import render_table, write_outputs
from qa.eval.runner import EvalRun, run_eval
from qa.settings import SEED_DIR
from qa.store.indexer import index_paths, upsert_articles

# ---- the test-split samples (fixed: same size, same seed, same questions every run) -------------
EVAL_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval-data"
SAMPLE_SEED = 0
SQUAD_FILE = EVAL_DATA / "squad-dev-v2.0.json"
RGB_FILE = EVAL_DATA / "rgb-en_fact.jsonl"
SQUAD_TEST_QUESTIONS = 40
RGB_TEST_QUESTIONS = 20
# Floors a few questions under what the 0.2.0 pipeline measured (fitted judge, 0.5B through
# transformers), 2026-12-01, on the full test splits these samples are drawn from:
# RGB test, 50 questions: accuracy 26/50 = 0.52, kept 26/27 = 0.963, caught 4/22 = 0.18;
# SQuAD 2.0 test sample (these 40 questions, measured by this test in CI, 2026-12-01): accuracy
# 13/40 = 0.325, kept 7/9 = 0.778, caught 6/28 = 0.214. The samples are small (40 and 20), so the
# floors sit a question or two under what was measured; never lower them to pass.
SQUAD_TEST_FLOORS = {
    "accuracy": 0.27,  # 11/40
    "kept": 0.66,      # 6/9
    "caught": 0.14,    # 4/28
}
RGB_TEST_FLOORS = {
    "accuracy": 0.40,
    "kept": 0.80,
}

# Measured 2026-12-01 on the 65 seed facts with the default models (all-minilm-l6-v2 embedder,
# qwen2.5-coder-0.5b through transformers, greedy, the fitted judge), `qa eval`: accuracy
# 41/65 = 0.631, exact match 31/49 = 0.633, kept 26/26, caught 11/34, abstention recall
# 10/16 = 0.625, false refusals 5/49 = 0.102, citation precision against gold evidence 0.913,
# passage hit@5 49/49. (0.1.2, with the lexical judge: accuracy 45/65, exact match 33/49,
# abstention recall 12/16.) Floors sit about three questions under the 0.2.0 figures, so that
# one flipped answer on another CPU does not fail CI but a real drop does.
FLOORS = {
    "accuracy": 0.58,                 # 38/65
    "exact_match": 0.57,              # 28/49
    "kept": 0.90,
    "gold_citation_precision": 0.85,
    "abstain_recall": 0.50,           # 8/16
    "passage_hit@5": 0.95,
}
CEILINGS = {
    "false_refusal_rate": 0.23,  # 11/49
}


@pytest.mark.slow
def test_seed_facts_meet_the_floors(tmp_path):
    index_dir = tmp_path / "index"
    index_paths(index_dir, [SEED_DIR], shared_embedder())
    assistant = Assistant(index_dir=index_dir)
    run = run_eval(assistant, load_facts(), progress=False, meta={"dataset": "seed"}, judge=judge_check())
    write_outputs(run, tmp_path / "out")
    print(render_table(run))
    assert len(run.items) == 65 and not [i.id for i in run.items if i.verdict == "error"]
    low = {k: (run.metrics[k].value, floor) for k, floor in FLOORS.items() if run.metrics[k].value < floor}
    high = {k: (run.metrics[k].value, top) for k, top in CEILINGS.items() if run.metrics[k].value > top}
    assert not low, f"below the floor (value, floor): {low}"
    assert not high, f"above the ceiling (value, ceiling): {high}"


def _dataset_run(name: str, path, questions: int, tmp_path) -> EvalRun:
    if not path.exists():
        pytest.skip(f"{path} is not here")
    dataset = load_dataset(name, path, questions, SAMPLE_SEED, split="test")
    assert len(dataset.facts) == questions
    index_dir = tmp_path / "index"
    upsert_articles(index_dir, dataset.articles, shared_embedder())
    run = run_eval(Assistant(index_dir=index_dir), dataset.facts, progress=False,
                   meta={"dataset": name, "split": "test"})
    write_outputs(run, tmp_path / "out")
    print(render_table(run))
    assert not [i.id for i in run.items if i.verdict == "error"]
    return run


def _below(run: EvalRun, floors: dict[str, float]) -> dict[str, tuple[float, float]]:
    return {k: (run.metrics[k].value, floor) for k, floor in floors.items()
            if not run.metrics[k].value >= floor}      # NaN (no item in the pool) fails too


@pytest.mark.slow
def test_squad_test_sample_meets_the_floors(tmp_path):
    run = _dataset_run("squad", SQUAD_FILE, SQUAD_TEST_QUESTIONS, tmp_path)
    low = _below(run, SQUAD_TEST_FLOORS)
    assert not low, f"below the floor (value, floor): {low}"


@pytest.mark.slow
def test_rgb_test_sample_meets_the_floors(tmp_path):
    run = _dataset_run("rgb", RGB_FILE, RGB_TEST_QUESTIONS, tmp_path)
    low = _below(run, RGB_TEST_FLOORS)
    assert not low, f"below the floor (value, floor): {low}"
