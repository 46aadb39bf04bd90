"""Fit the learned support decision on dev drafts and write `qa/answer/data/judge_model.json`.

Input: the JSONL files `scripts/collect_drafts.py` writes (dev questions only: SQuAD 2.0 dev
titles, RGB dev ids, the seed facts), and the dev judge cases
(`qa/eval/data/support_judge_cases.jsonl`). Each draft sentence that passes the judge's hard
rules becomes one row of `qa.answer.judge.FEATURES`, labelled 1 when it holds a gold answer of its
question and 0 otherwise (wrong answers, unanswerable questions, filler); each dev judge case
is one row labelled by its `supported` field. A class-balanced logistic regression is fitted
on standardised features. The threshold is then chosen by running the whole citation check
(`qa.answer.cite.ground`) on every dev draft for each candidate: the highest "caught" (wrong drafts
turned into abstentions) among thresholds that keep >= `--min-kept` of the right drafts.

    python scripts/fit_judge.py eval-results/dev-drafts.jsonl [--min-kept 0.95]
The test split is never read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

from qa.answer.cite import clean_sentence, draft_sentences, ground, is_abstention
from qa.answer.intent import parse_intent
from qa.answer.judge import FEATURES, MODEL_FILE, FittedModel, LearnedJudge, _hard_rules
from qa.answer.support import claim_of
from qa.eval.judge import load_judge_cases
from qa.eval.metrics import alias_match
from qa.models.embed import SentenceTransformerEmbedder
from qa.records import Hit


def holds_gold(text: str, fact: dict) -> bool:
    """Whether a text holds a gold answer of the fact (every alias group for all-of facts)."""
    if not fact.get("answers"):
        return False
    if fact.get("all_of"):
        return all(alias_match(text, group) for group in fact["all_of"])
    return alias_match(text, fact["answers"])


def answerable(fact: dict) -> bool:
    return bool(fact.get("answers")) and fact.get("kind") != "unanswerable"


def rows_from_drafts(records: list[dict], judge: LearnedJudge) -> tuple[list[list[float]], list[int]]:
    X, y = [], []
    for record in records:
        fact, draft = record["fact"], record["draft"]
        passages = [p["text"] for p in record["passages"]]
        if not draft or not passages:
            continue
        intent = parse_intent(record["question"])
        for sentence in draft_sentences(draft):
            bare, _ = clean_sentence(sentence, yes_no=intent.kind == "yes/no")
            if is_abstention(bare) or not claim_of(bare).has_content:
                continue
            if _hard_rules(bare, passages, intent) is not None:
                continue
            scored = judge.scored_passages(bare, passages, intent)
            _, _, values = max(scored, key=lambda t: (t[2]["rule_supported"], t[2]["coverage_sentence"],
                                                      t[2]["similarity"]))
            X.append([values[name] for name in FEATURES])
            y.append(int(answerable(fact) and holds_gold(bare, fact)))
    return X, y


def rows_from_cases(judge: LearnedJudge) -> tuple[list[list[float]], list[int]]:
    X, y = [], []
    for case in load_judge_cases():
        intent = parse_intent("")
        if _hard_rules(case.sentence, [case.passage], intent) is not None:
            continue
        _, _, values = judge.scored_passages(case.sentence, [case.passage], intent)[0]
        X.append([values[name] for name in FEATURES])
        y.append(int(case.supported))
    return X, y


def fit(X: np.ndarray, y: np.ndarray, C: float, features: tuple[str, ...] = FEATURES,
        weights: np.ndarray | None = None) -> FittedModel:
    """A class-balanced logistic regression over the standardised columns of `X` (named by
    `features`, each row weighted by `weights` if given), with threshold 0.5 until one is chosen."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    model.fit((X - mean) / scale, y, sample_weight=weights)
    return FittedModel(features, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                       tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]), 0.5)


def answer_metrics(records: list[dict], judge: LearnedJudge) -> dict[str, float]:
    """kept, caught and final exact match of the whole citation check on the drafts."""
    right = kept = wrong = caught = answerable_n = final_em = 0
    for record in records:
        fact, draft = record["fact"], record["draft"]
        hits = [Hit(**p) for p in record["passages"]]
        g = ground(draft, hits, question=record["question"], judge=judge) if draft else None
        final_text = g.text if g else ""
        abstained = g.abstained if g else True
        draft_right = answerable(fact) and bool(draft) and holds_gold(draft, fact)
        final_right = answerable(fact) and not abstained and holds_gold(final_text, fact)
        if answerable(fact):
            answerable_n += 1
            final_em += final_right
        if draft_right:
            right += 1
            kept += final_right
        elif draft and not is_abstention(draft):
            wrong += 1
            caught += abstained
    return {"kept": kept / max(right, 1), "caught": caught / max(wrong, 1), "right_drafts": right,
            "wrong_drafts": wrong, "final_em": final_em / max(answerable_n, 1)}


class MemoEmbed:
    """The embedder's `embed`, remembering every text's vector (the sweep re-judges the same texts)."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self.vectors[text] = vector
        return np.stack([self.vectors[t] for t in texts])


def load_records(paths: list[str]) -> list[dict]:
    """The draft records of the files, one per dataset and fact (the first file that holds it wins)."""
    by_id: dict[str, dict] = {}
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    record = json.loads(line)
                    by_id.setdefault(f"{record['dataset']}:{record['fact']['id']}", record)
    return list(by_id.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drafts", nargs="+", help="JSONL files from scripts/collect_drafts.py (dev only)")
    parser.add_argument("--min-kept", type=float, default=0.95)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--out", default=str(MODEL_FILE))
    args = parser.parse_args(argv)
    records = load_records(args.drafts)
    embed = MemoEmbed(SentenceTransformerEmbedder())
    judge = LearnedJudge(model=None, embed=embed)
    X1, y1 = rows_from_drafts(records, judge)
    X2, y2 = rows_from_cases(judge)
    X, y = np.array(X1 + X2, dtype=float), np.array(y1 + y2)
    print(f"{len(y1)} draft sentences ({sum(y1)} right), {len(y2)} judge cases ({sum(y2)} supported)",
          file=sys.stderr)
    model = fit(X, y, args.C)
    for name, w in zip(FEATURES, model.coef, strict=True):
        print(f"  {name:18s} {w:+.3f}", file=sys.stderr)
    sweep = []
    for threshold in np.round(np.arange(0.05, 0.96, 0.05), 2):
        candidate = FittedModel(**{**model.__dict__, "threshold": float(threshold)})
        figures = answer_metrics(records, LearnedJudge(candidate, embed=embed))
        sweep.append((float(threshold), figures))
        print(f"  threshold {threshold:.2f}: kept {figures['kept']:.3f} caught {figures['caught']:.3f} "
              f"final EM {figures['final_em']:.3f}", file=sys.stderr)
    feasible = [s for s in sweep if s[1]["kept"] >= args.min_kept]
    threshold, figures = (max(feasible, key=lambda s: (s[1]["caught"], s[0])) if feasible
                          else max(sweep, key=lambda s: (s[1]["kept"], s[1]["caught"])))
    meta = {"fitted": dt.date.today().isoformat(), "drafts": [Path(p).name for p in args.drafts],
            "rows": {"draft_sentences": len(y1), "judge_cases": len(y2)}, "C": args.C,
            "min_kept": args.min_kept, "dev": figures,
            "sweep": [{"threshold": t, **f} for t, f in sweep]}
    final = FittedModel(**{**model.__dict__, "threshold": threshold, "meta": meta})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"threshold {threshold:.2f}: dev kept {figures['kept']:.3f}, caught {figures['caught']:.3f}; "
          f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
