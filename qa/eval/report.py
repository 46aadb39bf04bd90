"""Show and save an `EvalRun`: terminal table, JSON (every item), Markdown report, PNG chart.

It formats and writes; it computes no metric (see `qa.eval.runner`). The JSON
is the run as plain data (`dataclasses.asdict`, NaN written as null) and is what
`qa eval --compare` reads back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeGuard

from qa.eval.judge import JudgeCheck
from qa.eval.metrics import Metric
from qa.eval.runner import EvalRun

# (label, draft metric, final metric): what the citation check changed, side by side
CHECK_PAIRS: list[tuple[str, str, str]] = [
    ("accuracy (all questions)", "draft_accuracy", "accuracy"),
    ("exact match (answerable)", "draft_exact_match", "exact_match"),
    ("abstention recall (unanswerable)", "draft_abstain_recall", "abstain_recall"),
    ("false-refusal rate (answerable, lower is better)", "draft_false_refusal_rate", "false_refusal_rate"),
    ("citation precision, gold evidence", "draft_gold_citation_precision", "gold_citation_precision"),
    ("citation recall, gold evidence", "draft_gold_citation_recall", "gold_citation_recall"),
]
CHECK_KEYS = ["kept", "caught"]
GROUPS: list[tuple[str, list[str]]] = [
    ("Answers", ["accuracy", "exact_match", "draft_exact_match", "f1", "numeric_match"]),
    ("Citations (gold evidence)", ["gold_citation_precision", "gold_citation_recall",
                                   "draft_gold_citation_precision", "draft_gold_citation_recall"]),
    ("Citations (graded by the support judge itself)", ["citation_recall", "citation_precision",
                                                        "draft_citation_recall", "draft_citation_precision"]),
    ("Retrieval (top 10)", ["article_hit@1", "article_hit@5", "article_mrr@10", "passage_hit@1",
                            "passage_hit@5", "passage_mrr@10"]),
    ("Refusals", ["abstain_precision", "abstain_recall", "false_refusal_rate"]),
    ("Latency", ["retrieve_median", "retrieve_p95", "first_token_median", "first_token_p95",
                 "total_median", "total_p95"]),
]
FAILED = ("incorrect", "refused", "answered", "error")
DEFINITIONS = """\
- **kept**: of the answerable questions whose draft holds a gold answer (exact match of the
  draft), the share whose final answer still does. 1 - kept is what the citation check costs.
- **caught**: of the drafts that hold no gold answer (a wrong answer, or any answer to an
  unanswerable question) and are not themselves abstentions, the share the check turned into an
  abstention. Drafts that already say the articles don't say, and questions the relevance gate
  refused before the model wrote anything, are in neither pool.
- **draft vs final**: the draft figures score the model's raw draft as if it were the answer (a
  draft abstains when every sentence says the articles don't say, or when there is no draft).
- **citation precision / recall, gold evidence**: a citation is correct when its passage holds
  the dataset's gold evidence (SQuAD: the sentence holding the first gold answer; RGB: a positive
  snippet holding the answer; seed facts: their `evidence` spans), i.e. contains it or covers at
  least half of it. Precision = correct citations among all citations; recall = answers citing at
  least one correct passage. Scored on answered, answerable questions with evidence. The support
  judge plays no part in it.
- **exact match (alias span)**: the answer is a sentence, so an item matches when a gold alias
  occurs as a whole-word span of the normalised answer (lower case, punctuation and a/an/the
  removed, numbers in words turned into digits: "sixty" = "60", but "60" does not match "650").
  With `all_of`, every group must match. Unanswerable questions are scored by abstention instead.
- **exact match of the raw draft**: the same match on the model's draft before `qa.answer.cite` removed
  unsupported sentences; the gap to exact match is what the citation check costs (or saves).
- **token F1**: SQuAD token F1 of the whole answer against each alias, best alias kept. It is low
  for sentence-length answers by construction (the extra words count against precision).
- **numeric match**: for `number` questions, the answer states a number some alias states.
- **citation recall / precision (ALCE, graded by the support judge itself)**: recall is the
  share of answer sentences supported by the union of the passages they cite; precision the
  share of citations that are needed (a citation is irrelevant when it does not support the
  sentence alone and the rest still do).
  Support is decided by `qa.answer.cite`'s lexical/numeric judge (see the judge check). The final
  answer is re-cited by that same judge, so its scores are near 100% by construction; the
  *draft* scores use the model's own markers on its raw draft and show how well it cites.
- **retrieval**: `Assistant.retrieve(question, k=10)`; an *article* hit is a passage from one of
  the fact's `doc_ids`, a *passage* hit one that contains or covers half of an evidence span.
- **refusals**: abstention precision = unanswerable among abstentions; abstention recall =
  abstentions among unanswerable questions; false-refusal rate = abstentions among answerable ones.
- Intervals are 95% percentile bootstrap intervals over questions (2,000 resamples, fixed seed).
"""


# ---- JSON ----------------------------------------------------------------------------------------

def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def run_to_dict(run: EvalRun) -> dict[str, Any]:
    """The run as JSON-able data (NaN -> None)."""
    return _clean(asdict(run))


def write_json(run: EvalRun, path: Path) -> Path:
    """Write the run, every item included, as indented UTF-8 JSON."""
    path.write_text(json.dumps(run_to_dict(run), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


# ---- terminal --------------------------------------------------------------------------------------

def _metric_from(data: Metric | dict[str, Any]) -> Metric:
    if isinstance(data, Metric):
        return data
    nan = math.nan
    return Metric(data["name"], nan if data["value"] is None else data["value"],
                  nan if data["low"] is None else data["low"], nan if data["high"] is None else data["high"],
                  data["n"], data.get("unit", "%"), data.get("higher_is_better", True))


def _cells(metric: Metric) -> tuple[str, str, str]:
    if metric.n == 0 or math.isnan(metric.value):
        return "n/a", "", str(metric.n)
    if metric.unit == "%":
        return (f"{100 * metric.value:.1f}%", f"[{100 * metric.low:.1f}, {100 * metric.high:.1f}]",
                str(metric.n))
    return f"{metric.value:.2f}s", f"[{metric.low:.2f}, {metric.high:.2f}]", str(metric.n)


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _check_rows(run: EvalRun) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for label, draft_key, final_key in CHECK_PAIRS:
        if draft_key in run.metrics and final_key in run.metrics:
            draft, final = _cells(run.metrics[draft_key]), _cells(run.metrics[final_key])
            rows.append((label, draft[0], draft[1], final[0], final[1], f"{draft[2]} / {final[2]}"))
    return rows


CHECK_HEADER = ("metric", "draft", "95% CI", "final", "95% CI", "n draft / final")


def render_table(run: EvalRun) -> str:
    """The metrics, per-kind correctness and the judge check as plain aligned text."""
    out = [f"qa eval: {run.meta.get('dataset', '?')} (split {run.meta.get('split', 'all')}), "
           f"{run.meta.get('questions', 0)} questions, {run.meta.get('wall_seconds', 0):.0f}s"]
    rows = [(run.metrics[k].name, *_cells(run.metrics[k])) for k in CHECK_KEYS if k in run.metrics]
    if rows:
        out += ["", "The citation check", *_table(rows, ("metric", "value", "95% CI", "n")),
                "", *_table(_check_rows(run), CHECK_HEADER)]
    for title, keys in GROUPS:
        rows = [(run.metrics[k].name, *_cells(run.metrics[k])) for k in keys if k in run.metrics]
        out += ["", title, *_table(rows, ("metric", "value", "95% CI", "n"))]
    rows = [(kind, *_cells(m)) for kind, m in run.by_kind.items()]
    out += ["", "Correct by kind", *_table(rows, ("kind", "correct", "95% CI", "n"))]
    if run.judge is not None:
        out += ["", "dev: " + judge_summary(run.judge)]
    if run.judge_test is not None:
        out += ["test: " + judge_summary(run.judge_test)]
    return "\n".join(out)


def judge_summary(check: JudgeCheck) -> str:
    """One paragraph: the judge's accuracy, precision and recall of 'supported', confusion counts."""
    return (f"Support judge vs {len(check.cases)} labelled cases: accuracy {check.accuracy.show()}, "
            f"precision {check.precision.show()}, recall {check.recall.show()}; "
            f"TP {check.true_positive}, FP {check.false_positive}, FN {check.false_negative}, "
            f"TN {check.true_negative}")


# ---- Markdown ----------------------------------------------------------------------------------------

def _md_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows)]


def gold_text(answers: list[str], all_of: list[list[str]]) -> str:
    """Gold answers for reading: 'a / b', or all_of groups as 'x/y + z'."""
    if all_of:
        return " + ".join("/".join(group) for group in all_of)
    return " / ".join(answers)


def _short(text: str, limit: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(run: EvalRun, chart: str | None = "metrics.png", failures: int = 40) -> str:
    """The Markdown report: settings, metric tables, per kind, judge check, definitions, failures."""
    meta = run.meta
    out = [f"# qa eval report: {meta.get('dataset', '?')}", ""]
    keys = ("dataset", "split", "split_rule", "source", "questions", "answerable", "limit", "seed",
            "embed_model", "llm_model", "index_dir", "passages", "min_relevance", "articles_indexed",
            "passages_indexed", "started", "wall_seconds")
    out += [f"- **{k}**: `{meta[k]}`" for k in keys if meta.get(k) not in (None, "")]
    if chart:
        out += ["", f"![metrics with 95% intervals]({chart})"]
    rows: list[tuple[str, ...]] = [(run.metrics[k].name, *_cells(run.metrics[k])) for k in CHECK_KEYS
                                   if k in run.metrics]
    if rows:
        out += ["", "## The citation check: draft vs final", "",
                *_md_table(rows, ("metric", "value", "95% CI", "n")), "",
                *_md_table(_check_rows(run), CHECK_HEADER)]
    for title, metric_keys in GROUPS:
        rows = [(run.metrics[k].name, *_cells(run.metrics[k])) for k in metric_keys if k in run.metrics]
        out += ["", f"## {title}", "", *_md_table(rows, ("metric", "value", "95% CI", "n"))]
    rows = [(kind, *_cells(m)) for kind, m in run.by_kind.items()]
    out += ["", "## Correct by kind", "", *_md_table(rows, ("kind", "correct", "95% CI", "n"))]
    if run.judge is not None or run.judge_test is not None:
        out += ["", "## Support judge check", "",
                "`qa.answer.cite`'s judge against hand-labelled cases; positive = supported. **dev**: "
                "`qa/eval/data/support_judge_cases.jsonl` (the judge is tuned on these); **test**: "
                "`support_judge_heldout.jsonl` and `support_judge_test.jsonl` (written blind to the "
                "judge; reported only, so their disagreements are not listed).", ""]
        checks = [(name, j) for name, j in (("dev", run.judge), ("test", run.judge_test)) if j is not None]
        rows = [(f"{name}: {m.name}", *_cells(m)) for name, j in checks
                for m in (j.accuracy, j.precision, j.recall)]
        out += [*_md_table(rows, ("score", "value", "95% CI", "n")), ""]
        out += _md_table([(name, str(j.true_positive), str(j.false_positive), str(j.false_negative),
                           str(j.true_negative)) for name, j in checks], ("cases", "TP", "FP", "FN", "TN"))
        wrong = [c for c in run.judge.cases if c.predicted != c.supported] if run.judge else []
        if wrong:
            out += ["", "Disagreements on dev:", ""]
            out += [f"- `{c.id}` (label {'supported' if c.supported else 'unsupported'}): "
                    f"{_short(c.sentence, 140)} ({_short(c.why, 100)})" for c in wrong]
    out += ["", "## How the metrics are defined", "", DEFINITIONS]
    failed = [i for i in run.items if i.verdict in FAILED]
    out += [f"## Failures ({len(failed)} of {len(run.items)})", ""]
    if failed:
        rows = [(i.id, i.kind, i.verdict, _short(i.question, 120),
                 _short(gold_text(i.answers, i.all_of), 80),
                 _short(i.error or i.answer, 220)) for i in failed[:failures]]
        out += _md_table(rows, ("id", "kind", "verdict", "question", "gold", "answer"))
        if len(failed) > failures:
            out += ["", f"…and {len(failed) - failures} more in the JSON file."]
    return "\n".join(out) + "\n"


# ---- PNG ---------------------------------------------------------------------------------------------

def _valid(m: Metric | None) -> TypeGuard[Metric]:
    return m is not None and m.n > 0 and not math.isnan(m.value)


def render_chart(run: EvalRun, path: Path) -> Path:
    """A PNG with 95% intervals: the citation check (draft vs final, kept, caught), the other
    share metrics, per-kind correctness (0-100%) and latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [(label, run.metrics.get(d), run.metrics.get(f)) for label, d, f in CHECK_PAIRS]
    pairs = [(label, d, f) for label, d, f in pairs if _valid(d) or _valid(f)]
    moves = [run.metrics[k] for k in CHECK_KEYS if _valid(run.metrics.get(k))]
    latency_keys = dict(GROUPS)["Latency"]
    in_check = {k for _, d, f in CHECK_PAIRS for k in (d, f)}
    shares: list[Metric] = []
    group_of: list[str] = []
    for group, keys in GROUPS:
        if group == "Latency":
            continue
        for k in keys:
            m = run.metrics.get(k)
            if k not in in_check and _valid(m):
                shares.append(m)
                group_of.append(group.split(" (")[0].lower() if group.startswith("Retrieval") else
                                group.lower().replace("citations (graded by the support judge itself)",
                                                      "citations (judge)"))
    kinds = [(kind, m) for kind, m in run.by_kind.items() if m.n]
    latency = [run.metrics[k] for k in latency_keys if _valid(run.metrics.get(k))]
    heights = [max(len(pairs) + len(moves), 1), max(len(shares), 1), max(len(kinds), 1), max(len(latency), 1)]
    fig, axes = plt.subplots(4, 1, figsize=(9.5, 0.32 * sum(heights) + 4.2),
                             gridspec_kw={"height_ratios": heights})

    def tick(label: str, m: Metric) -> str:
        lower = "" if m.higher_is_better or m.unit != "%" else " (lower is better)"
        return f"{label}{lower} (n={m.n})"

    def point(ax, m: Metric, y: float, scale: float, unit: str, color: str, hollow: bool = False,
              offset: int = 5) -> None:
        v = m.value * scale
        err = [[max(0.0, (m.value - m.low) * scale)], [max(0.0, (m.high - m.value) * scale)]]
        ax.errorbar([v], [y], xerr=err, fmt="o", color=color, ecolor=color, elinewidth=1.5, capsize=3,
                    markerfacecolor="white" if hollow else color)
        ax.annotate(f"{v:.0f}%" if unit == "%" else f"{v:.2f}s", (v, y), xytext=(0, offset),
                    textcoords="offset points", ha="center", fontsize=7)

    def dots(ax, labels, metrics, scale, unit, color):
        y = list(range(len(metrics)))[::-1]
        for yy, m in zip(y, metrics, strict=True):
            point(ax, m, yy, scale, unit, color)
        ax.set_yticks(y, [tick(label, m) for label, m in zip(labels, metrics, strict=True)], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(metrics) - 0.3)

    title = (f"qa eval: {run.meta.get('dataset', '?')} (split {run.meta.get('split', 'all')}), "
             f"{run.meta.get('questions', 0)} questions (points with 95% bootstrap intervals)")
    fig.suptitle(title, fontsize=10)
    ax = axes[0]
    rows = len(pairs) + len(moves)
    labels = []
    for i, m in enumerate(moves):
        y = rows - 1 - i
        point(ax, m, y, 100, "%", "tab:green")
        labels.append((y, tick(m.name, m)))
    for i, (label, d, f) in enumerate(pairs):
        y = rows - 1 - len(moves) - i
        if _valid(d):
            point(ax, d, y + 0.14, 100, "%", "tab:gray", hollow=True, offset=4)
        if _valid(f):
            point(ax, f, y - 0.14, 100, "%", "tab:blue", offset=-10)
        n = f.n if f is not None else d.n if d is not None else 0  # one of them is valid
        labels.append((y, f"{label} (n={n})"))
    if labels:
        ax.set_yticks([y for y, _ in labels], [text for _, text in labels], fontsize=8)
        ax.set_ylim(-0.7, rows - 0.3)
        if moves and pairs:
            ax.axhline(rows - len(moves) - 0.5, color="grey", lw=0.6, ls="--")
    ax.set_xlim(-3, 112)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("the citation check: kept, caught (green); raw draft (hollow) vs final answer (blue)",
                 fontsize=9, loc="left")
    if shares:
        dots(axes[1], [m.name for m in shares], shares, 100, "%", "tab:blue")
        axes[1].set_xlim(-3, 126)
        for i, group in enumerate(group_of):
            if i == 0 or group != group_of[i - 1]:
                y = len(shares) - 1 - i
                if i:
                    axes[1].axhline(y + 0.5, color="grey", lw=0.6, ls="--")
                axes[1].text(125, y, group, ha="right", va="center", fontsize=7, color="grey",
                             style="italic")
        axes[1].set_xlabel("%", fontsize=8)
    axes[1].set_title("answers, citations, retrieval, refusals (%)", fontsize=9, loc="left")
    if kinds:
        dots(axes[2], [k for k, _ in kinds], [m for _, m in kinds], 100, "%", "tab:green")
        axes[2].set_xlim(-3, 112)
        axes[2].set_xlabel("% correct", fontsize=8)
    axes[2].set_title("correct by kind", fontsize=9, loc="left")
    if latency:
        dots(axes[3], [m.name for m in latency], latency, 1, "s", "tab:orange")
        top = max(m.high for m in latency) * 1.15 + 1e-3
        axes[3].set_xlim(-0.04 * top, top)
        axes[3].set_xlabel("seconds", fontsize=8)
    axes[3].set_title("latency", fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    """Write results.json, report.md and metrics.png into `out_dir` (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": write_json(run, out_dir / "results.json"),
             "png": render_chart(run, out_dir / "metrics.png")}
    report = out_dir / "report.md"
    report.write_text(render_markdown(run, chart=paths["png"].name), encoding="utf-8")
    paths["markdown"] = report
    return paths
