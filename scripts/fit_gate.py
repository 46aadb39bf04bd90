"""Fit the answer gate on dev drafts and write `qa/answer/data/answer_gate.json`.

Input: the JSONL files `scripts/collect_drafts.py` writes (dev questions only). Each draft is
checked again by the shipped citation check (`qa.answer.cite.ground` with the shipped judge);
each answer it does not abstain on becomes one row of `qa.answer.gate.GATE_FEATURES`, labelled
1 when the answer holds a gold answer of its question and 0 otherwise (a wrong answer, or any
answer to an unanswerable question). A class-balanced logistic regression is fitted on
standardised features. The threshold is the one that catches the most wrong answers while it
withholds at most `--max-lost` of the right ones, judged on the held-out scores of a 5-fold
cross-validation on dev; the in-sample figures at that threshold are written beside them.

    python scripts/fit_gate.py eval-results/dev-drafts.jsonl [--max-lost 0.05]
The test split is never read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
from fit_judge import MemoEmbed, answerable, holds_gold, load_records
from fit_judge import fit as fit_model

from qa.answer.cite import ground, is_abstention
from qa.answer.gate import GATE_FEATURES, GATE_FILE, gate_features
from qa.answer.judge import FittedModel, LearnedJudge
from qa.models.embed import SentenceTransformerEmbedder
from qa.records import Hit


def rows(records: list[dict], embed: MemoEmbed) -> tuple[list[dict[str, float]], list[int], list[dict]]:
    """Gate features and labels of every answer the citation check keeps, with per-draft facts."""
    judge = LearnedJudge(embed=embed)
    X, y, drafts = [], [], []
    for record in records:
        fact, draft = record["fact"], record["draft"]
        hits = [Hit(**p) for p in record["passages"]]
        draft_right = answerable(fact) and bool(draft) and holds_gold(draft, fact)
        draft_wrong = bool(draft) and not draft_right and not is_abstention(draft)
        info = {"draft_right": draft_right, "draft_wrong": draft_wrong, "row": None,
                "final_right": False, "answerable": answerable(fact)}
        if draft:
            grounded = ground(draft, hits, question=record["question"], judge=judge)
            if not grounded.abstained:
                info["row"] = len(X)
                info["final_right"] = answerable(fact) and holds_gold(grounded.text, fact)
                X.append(gate_features(record["question"], grounded, hits, draft, record.get("logprob"),
                                       record.get("new_tokens"), embed))
                y.append(int(info["final_right"]))
        drafts.append(info)
    return X, y, drafts


def matrix(X: list[dict[str, float]], means: dict[str, float] | None = None) -> np.ndarray:
    """Rows as an array over GATE_FEATURES; a missing value takes its column's mean."""
    if means is None:
        means = {n: float(np.mean([r[n] for r in X if n in r] or [0.0])) for n in GATE_FEATURES}
    return np.array([[r.get(n, means[n]) for n in GATE_FEATURES] for r in X], dtype=float)


def fit(A: np.ndarray, y: np.ndarray, C: float) -> FittedModel:
    return fit_model(A, y, C, GATE_FEATURES)


def probabilities(model: FittedModel, A: np.ndarray) -> np.ndarray:
    return np.array([model.probability(dict(zip(GATE_FEATURES, row, strict=True))) for row in A])


def figures(drafts: list[dict], p: np.ndarray, threshold: float) -> dict[str, float]:
    """kept / caught of the whole check with the gate at `threshold`, and the right answers it loses."""
    right = kept = wrong = caught = right_final = lost = answerable_n = em = 0
    for d in drafts:
        passes = d["row"] is not None and p[d["row"]] >= threshold
        final_right = d["final_right"] and passes
        if d["final_right"]:
            right_final += 1
            lost += not passes
        if d["answerable"]:
            answerable_n += 1
            em += final_right
        if d["draft_right"]:
            right += 1
            kept += final_right
        elif d["draft_wrong"]:
            wrong += 1
            caught += not passes
    return {"threshold": float(threshold), "kept": kept / max(right, 1), "caught": caught / max(wrong, 1),
            "lost": lost / max(right_final, 1), "final_em": em / max(answerable_n, 1),
            "right_drafts": right, "wrong_drafts": wrong}


def choose(drafts: list[dict], p: np.ndarray, max_lost: float) -> tuple[dict, list[dict]]:
    sweep = [figures(drafts, p, t) for t in np.round(np.arange(0.0, 0.951, 0.05), 2)]
    feasible = [s for s in sweep if s["lost"] <= max_lost]
    return max(feasible, key=lambda s: (s["caught"], -s["threshold"])), sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drafts", nargs="+", help="JSONL files from scripts/collect_drafts.py (dev only)")
    parser.add_argument("--max-lost", type=float, default=0.05,
                        help="largest share of right answers the gate may withhold on dev")
    parser.add_argument("--C", type=float, default=0.5)
    parser.add_argument("--out", default=str(GATE_FILE))
    args = parser.parse_args(argv)
    records = load_records(args.drafts)
    embed = MemoEmbed(SentenceTransformerEmbedder())
    X, y_list, drafts = rows(records, embed)
    y = np.array(y_list)
    A = matrix(X)
    print(f"{len(records)} drafts, {len(y)} answers kept by the check ({int(y.sum())} right)",
          file=sys.stderr)
    model = fit(A, y, args.C)
    for name, w in zip(GATE_FEATURES, model.coef, strict=True):
        print(f"  {name:20s} {w:+.3f}", file=sys.stderr)
    # 5-fold cross-validation on dev: each row scored by a model fitted without it; the threshold
    # is chosen on these held-out scores, so the right answers it loses are not under-estimated
    from sklearn.model_selection import StratifiedKFold

    held = np.zeros(len(y))
    for train, rest in StratifiedKFold(5, shuffle=True, random_state=0).split(A, y):
        held[rest] = probabilities(fit(A[train], y[train], args.C), A[rest])
    cv, sweep = choose(drafts, held, args.max_lost)
    for s in sweep:
        print(f"  threshold {s['threshold']:.2f}: CV kept {s['kept']:.3f} caught {s['caught']:.3f} "
              f"lost {s['lost']:.3f} final EM {s['final_em']:.3f}", file=sys.stderr)
    chosen = figures(drafts, probabilities(model, A), cv["threshold"])
    print(f"threshold {chosen['threshold']:.2f}: 5-fold CV kept {cv['kept']:.3f}, caught {cv['caught']:.3f}, "
          f"lost {cv['lost']:.3f}; in-sample kept {chosen['kept']:.3f}, caught {chosen['caught']:.3f}, "
          f"lost {chosen['lost']:.3f}", file=sys.stderr)
    meta = {"fitted": dt.date.today().isoformat(), "drafts": [Path(p).name for p in args.drafts],
            "rows": len(y), "C": args.C, "max_lost": args.max_lost, "dev": chosen, "dev_cv": cv,
            "sweep": sweep}
    final = FittedModel(**{**model.__dict__, "threshold": chosen["threshold"], "meta": meta})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
