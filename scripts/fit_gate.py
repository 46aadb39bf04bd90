"""Fit the answer gate on dev drafts and write `qa/answer/data/answer_gate.json`.

Input: the JSONL files `scripts/collect_drafts.py` writes (dev questions only). Each draft is
checked again by the shipped citation check (`qa.answer.cite.ground` with the shipped judge);
each answer it does not abstain on becomes one row of `qa.answer.gate.GATE_FEATURES`, labelled
1 when the answer holds a gold answer of its question and 0 otherwise (a wrong answer, or any
answer to an unanswerable question). A class-balanced logistic regression is fitted on
standardised features, each dataset (seed facts, RGB, SQuAD) weighing the same in all, so the
largest set does not set the decision alone.

The threshold is chosen where the gate meets text it was not fitted on: every row is scored by
a model fitted without its whole dataset (leave one dataset out), and the threshold is the one
that catches the most wrong answers while it withholds at most `--max-lost` of the right ones
in every held-out dataset. Those held-out figures, a 5-fold cross-validation and the in-sample
figures at that threshold are written beside the weights.

    python scripts/fit_gate.py eval-results/dev-drafts.jsonl [--max-lost 0.05] [--drop FEATURE]
The test split is never read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable
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
    X: list[dict[str, float]] = []
    y: list[int] = []
    drafts: list[dict] = []
    for record in records:
        fact, draft = record["fact"], record["draft"]
        hits = [Hit(**p) for p in record["passages"]]
        draft_right = answerable(fact) and bool(draft) and holds_gold(draft, fact)
        draft_wrong = bool(draft) and not draft_right and not is_abstention(draft)
        info = {"dataset": record["dataset"], "draft_right": draft_right, "draft_wrong": draft_wrong,
                "row": None,
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


def matrix(X: list[dict[str, float]], features: tuple[str, ...]) -> np.ndarray:
    """Rows as an array over `features`; a missing value takes its column's mean."""
    means = {n: float(np.mean([r[n] for r in X if n in r] or [0.0])) for n in features}
    return np.array([[r.get(n, means[n]) for n in features] for r in X], dtype=float)


def dataset_weights(datasets: np.ndarray) -> np.ndarray:
    """Row weights under which every dataset weighs the same in all (mean weight 1)."""
    names, counts = np.unique(datasets, return_counts=True)
    per_row = dict(zip(names, len(datasets) / (len(names) * counts), strict=True))
    return np.array([per_row[d] for d in datasets])


def fit(A: np.ndarray, y: np.ndarray, C: float, features: tuple[str, ...],
        datasets: np.ndarray) -> FittedModel:
    return fit_model(A, y, C, features, dataset_weights(datasets))


def probabilities(model: FittedModel, A: np.ndarray) -> np.ndarray:
    return np.array([model.probability(dict(zip(model.features, row, strict=True))) for row in A])


def held_out(A: np.ndarray, y: np.ndarray, datasets: np.ndarray, C: float, features: tuple[str, ...],
             splits: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each row's score from a model fitted on the training rows of the split that holds it out."""
    held = np.zeros(len(y))
    for train, rest in splits:
        held[rest] = probabilities(fit(A[train], y[train], C, features, datasets[train]), A[rest])
    return held


def held_out_by_dataset(A: np.ndarray, y: np.ndarray, datasets: np.ndarray, C: float,
                        features: tuple[str, ...]) -> np.ndarray:
    """Each row's score from a model fitted on the other datasets only."""
    splits = ((datasets != name, datasets == name) for name in np.unique(datasets))
    return held_out(A, y, datasets, C, features, splits)


def held_out_by_fold(A: np.ndarray, y: np.ndarray, datasets: np.ndarray, C: float,
                     features: tuple[str, ...]) -> np.ndarray:
    """Each row's score from a model fitted without its fold (5 folds, stratified)."""
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    return held_out(A, y, datasets, C, features, StratifiedKFold(5, shuffle=True, random_state=0).split(A, y))


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


THRESHOLDS = np.round(np.arange(0.0, 0.951, 0.025), 3)


def per_dataset(drafts: list[dict], p: np.ndarray, threshold: float) -> dict[str, dict[str, float]]:
    """`figures` of each dataset's drafts, and of all of them under "all"."""
    names = sorted({d["dataset"] for d in drafts})
    out = {n: figures([d for d in drafts if d["dataset"] == n], p, threshold) for n in names}
    out["all"] = figures(drafts, p, threshold)
    return out


def choose(drafts: list[dict], p: np.ndarray, max_lost: float) -> tuple[dict, list[dict]]:
    """The threshold that catches the most wrong answers (all datasets pooled) among those that
    lose at most `max_lost` of the right answers in every dataset, and the whole sweep."""
    sweep = [per_dataset(drafts, p, t) for t in THRESHOLDS]
    feasible = [s for s in sweep if all(f["lost"] <= max_lost for f in s.values())]
    return max(feasible, key=lambda s: (s["all"]["caught"], -s["all"]["threshold"])), sweep


def line(name: str, f: dict[str, float]) -> str:
    return (f"{name:>6s} kept {f['kept']:.3f} caught {f['caught']:.3f} lost {f['lost']:.3f} "
            f"final EM {f['final_em']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drafts", nargs="+", help="JSONL files from scripts/collect_drafts.py (dev only)")
    parser.add_argument("--max-lost", type=float, default=0.05,
                        help="largest share of right answers the gate may withhold in any held-out dataset")
    parser.add_argument("--C", type=float, default=0.5)
    parser.add_argument("--drop", action="append", default=[], choices=GATE_FEATURES,
                        help="leave a feature out of the fit (repeatable)")
    parser.add_argument("--out", default=str(GATE_FILE), help="where to write the fitted gate ('-': nowhere)")
    args = parser.parse_args(argv)
    features = tuple(n for n in GATE_FEATURES if n not in args.drop)
    records = load_records(args.drafts)
    embed = MemoEmbed(SentenceTransformerEmbedder())
    X, y_list, drafts = rows(records, embed)
    y = np.array(y_list)
    A = matrix(X, features)
    datasets = np.array([d["dataset"] for d in drafts if d["row"] is not None])
    print(f"{len(records)} drafts, {len(y)} answers kept by the check ({int(y.sum())} right); "
          f"rows per dataset: {dict(zip(*np.unique(datasets, return_counts=True), strict=True))}",
          file=sys.stderr)
    model = fit(A, y, args.C, features, datasets)
    for name, w in zip(features, model.coef, strict=True):
        print(f"  {name:20s} {w:+.3f}", file=sys.stderr)
    held, sweep = choose(drafts, held_out_by_dataset(A, y, datasets, args.C, features), args.max_lost)
    threshold = held["all"]["threshold"]
    print(f"threshold {threshold:.3f}, each dataset scored by a model fitted without it:", file=sys.stderr)
    for name, f in held.items():
        print("  " + line(name, f), file=sys.stderr)
    cv = per_dataset(drafts, held_out_by_fold(A, y, datasets, args.C, features), threshold)
    chosen = per_dataset(drafts, probabilities(model, A), threshold)
    print("  5-fold CV:  " + line("all", cv["all"]), file=sys.stderr)
    print("  in-sample:  " + line("all", chosen["all"]), file=sys.stderr)
    meta = {"fitted": dt.date.today().isoformat(), "drafts": [Path(p).name for p in args.drafts],
            "rows": len(y), "C": args.C, "max_lost": args.max_lost, "dropped": args.drop,
            "dev_leave_one_dataset_out": held, "dev_cv": cv, "dev": chosen,
            "sweep": [s["all"] for s in sweep]}
    if args.out == "-":
        return 0
    final = FittedModel(**{**model.__dict__, "threshold": float(threshold), "meta": meta})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
