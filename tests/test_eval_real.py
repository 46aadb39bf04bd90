"""The real pipeline (real embedder and LLM) on known facts, with floors on the results.

Three runs: the 65 seed facts (dev data), and a small fixed sample of the test
splits of SQuAD 2.0 (by Wikipedia title) and RGB (by question id), read from
../shared/eval-data (skipped when absent). Floors are set a little under what was
measured with the default models (see docs/eval.md); they catch regressions, they
are not targets, and they are never lowered to pass. A floor moves down only when a
deliberate trade-off chosen on dev moves it, and the comment beside it says which. All floors are named
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
# Floors re-based in 0.5.0 on the default models of 0.5.0 (qwen2.5-coder-1.5b through OpenVINO
# int8, the 0.2.0 fitted judge), measured by these tests on 2026-12-02. They sit a question or
# two under what was measured (OpenVINO's int8 kernels differ between CPUs, so a draft may flip);
# they catch regressions, they are not targets, and they are never lowered to pass.
# SQuAD 2.0 test sample (40): accuracy 17/40 = 0.425, kept 10/12 = 0.833, caught 5/23 = 0.217.
# RGB test sample (20): accuracy 12/20 = 0.60, kept 12/14 = 0.857, caught 0/5.
# (The 0.5B through transformers, 2026-12-01: SQuAD 13/40, kept 7/9, caught 6/28; RGB test 50:
# accuracy 26/50, kept 26/27. The RGB kept floor moved from 0.80 to 0.71: its pool is now 14
# drafts, where one flip is 7 points.)
SQUAD_TEST_FLOORS = {
    "accuracy": 0.37,  # 15/40
    "kept": 0.66,      # 8/12
    "caught": 0.13,    # 3/23
}
RGB_TEST_FLOORS = {
    "accuracy": 0.50,  # 10/20
    "kept": 0.71,      # 10/14
}

# Measured 2026-12-02 on the 65 seed facts with the 0.5.0 default models (all-minilm-l6-v2
# embedder, qwen2.5-coder-1.5b through OpenVINO int8, greedy, the fitted judge), `qa eval`:
# accuracy 46/65 = 0.708, exact match 38/49 = 0.776, kept 33/34, caught 4/23, abstention recall
# 8/16 = 0.50, false refusals 5/49 = 0.102, citation precision against gold evidence 0.959,
# passage hit@5 49/49. (0.4.0, the 0.5B through transformers: accuracy 41/65, exact match 31/49,
# abstention recall 10/16.) Floors sit about three questions under (abstention one, of 16).
# 0.6.0 (the answer gate, the judge refitted on 1.5B dev drafts), 2026-12-02: accuracy 47/65 =
# 0.723, exact match 37/49 = 0.755, kept 32/34, caught 8/23, abstention recall 10/16, false
# refusals 8/49 = 0.163, gold citation precision 0.978. Accuracy and abstention floors raised
# to about three questions (one of 16) under that; the false-refusal ceiling stays at 8/49.
# 0.6.1 (the gate refitted without question-wording features, its threshold chosen on held-out
# dev datasets), 2026-12-03: accuracy 46/65 = 0.708, exact match 38/49 = 0.776, kept 33/34,
# caught 4/23, abstention recall 8/16, false refusals 5/49 = 0.102. The gate now withholds fewer
# right answers and catches fewer wrong ones: the abstention floor moves down from 9/16 to 7/16,
# one under the new figure; the other floors hold.
# 0.6.2 (a sentence that only restates the question is no answer, for every kind; a vague amount
# must count what was asked), 2026-12-04: accuracy 49/65 = 0.754, exact match 38/49, kept 33/34,
# caught 7/23, abstention recall 11/16, false refusals 5/49. Accuracy floor raised to three
# questions under (46/65), abstention to one under (10/16).
FLOORS = {
    "accuracy": 0.70,                 # 46/65 (0.67 = 44/65 before 0.6.2)
    "exact_match": 0.71,              # 35/49
    "kept": 0.90,
    "gold_citation_precision": 0.90,
    "abstain_recall": 0.62,           # 10/16 (0.43 = 7/16 in 0.6.1; see above)
    "passage_hit@5": 0.95,
}
CEILINGS = {
    "false_refusal_rate": 0.17,  # 8/49
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
