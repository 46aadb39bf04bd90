"""The gate's fitting script on small synthetic rows: dataset weights, held-out scoring, the threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import fit_gate


def test_every_dataset_weighs_the_same_in_all():
    datasets = np.array(["squad"] * 6 + ["seed"] * 2)
    weights = fit_gate.dataset_weights(datasets)
    assert np.isclose(weights[datasets == "squad"].sum(), weights[datasets == "seed"].sum())
    assert np.isclose(weights.mean(), 1.0)


def test_a_dataset_is_scored_by_a_model_that_never_saw_it():
    # one feature; in "a" and "b" a high value means right, in "c" the rule is reversed. A model
    # that saw "c" would score its rows by the reversed rule; held out, they get the other one.
    rng = np.random.default_rng(0)
    x = rng.normal(size=90)
    datasets = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 30)
    y = np.where(datasets == "c", x < 0, x > 0).astype(int)
    A = x[:, None]
    held = fit_gate.held_out_by_dataset(A, y, datasets, 1.0, ("mean_logprob",))
    c = datasets == "c"
    assert np.corrcoef(held[c], x[c])[0, 1] > 0.9  # the rule learnt on "a" and "b", not c's own


def draft(dataset: str, row: int, right: bool) -> dict:
    return {"dataset": dataset, "draft_right": right, "draft_wrong": not right, "row": row,
            "final_right": right, "answerable": True}


def test_the_threshold_keeps_the_lost_share_low_in_every_dataset():
    # squad: the right answers score high, so a high threshold catches every wrong one there;
    # seed: one right answer scores 0.3, so any threshold above 0.3 loses half of seed's right ones
    drafts = [draft("squad", 0, True), draft("squad", 1, True), draft("squad", 2, False),
              draft("squad", 3, False), draft("seed", 4, True), draft("seed", 5, True),
              draft("seed", 6, False)]
    p = np.array([0.9, 0.9, 0.1, 0.5, 0.9, 0.3, 0.2])
    chosen, sweep = fit_gate.choose(drafts, p, max_lost=0.1)
    assert chosen["all"]["threshold"] <= 0.3
    assert all(f["lost"] <= 0.1 for f in chosen.values())
    pooled_only = max((s for s in sweep if s["all"]["lost"] <= 0.25), key=lambda s: s["all"]["caught"])
    assert pooled_only["all"]["threshold"] > 0.3  # pooling alone would have lost seed's answer
