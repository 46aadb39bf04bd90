"""Two runs side by side: metric deltas and the questions whose verdict flipped.

Reads the JSON files `qa eval` writes (or takes their dicts). A metric moved
"better" or "worse" by the sign of its delta and `higher_is_better`; it is
flagged as beyond noise when the new value lies outside the old 95% interval.
It does not run anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import QAError


@dataclass
class MetricDelta:
    """One metric in both runs (None where a run lacks it)."""

    key: str
    name: str
    old: float | None
    new: float | None
    delta: float | None
    unit: str
    direction: str          # "better", "worse", "same" or "n/a"
    beyond_noise: bool      # the new value lies outside the old run's 95% interval


@dataclass
class Flip:
    """A question scored correct in one run and not in the other."""

    id: str
    question: str
    old_verdict: str
    new_verdict: str
    old_answer: str
    new_answer: str
    better: bool


@dataclass
class Comparison:
    """What changed from `old` to `new`."""

    old_label: str
    new_label: str
    metrics: list[MetricDelta] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_run(path: str | Path) -> dict[str, Any]:
    """A results.json written by `qa eval`, as plain data."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise QAError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise QAError(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or "metrics" not in data or "items" not in data:
        raise QAError(f"{path}: not a qa eval results file (no 'metrics' and 'items')")
    return data


def compare(old: dict[str, Any], new: dict[str, Any], old_label: str = "old",
            new_label: str = "new") -> Comparison:
    """Metric deltas (in the new run's metric order) and verdict flips of questions in both runs."""
    result = Comparison(old_label, new_label)
    for key in ("dataset", "split"):
        o, n = (run.get("meta", {}).get(key, "all" if key == "split" else "?") for run in (old, new))
        if o != n:
            result.warnings.append(f"the runs differ in {key} ({o} -> {n}): the figures are not comparable")
    keys = list(dict.fromkeys([*new["metrics"], *old["metrics"]]))
    for key in keys:
        o, n = old["metrics"].get(key), new["metrics"].get(key)
        ref = n or o
        ov = o.get("value") if o else None
        nv = n.get("value") if n else None
        if ov is None or nv is None:
            result.metrics.append(MetricDelta(key, ref["name"], ov, nv, None, ref.get("unit", "%"),
                                              "n/a", False))
            continue
        delta = nv - ov
        higher = ref.get("higher_is_better", True)
        tiny = 1e-9 if ref.get("unit", "%") == "%" else 1e-3
        direction = "same" if abs(delta) <= tiny else ("better" if (delta > 0) == higher else "worse")
        low, high = o.get("low"), o.get("high")
        beyond = low is not None and high is not None and not (low <= nv <= high)
        result.metrics.append(MetricDelta(key, ref["name"], ov, nv, delta, ref.get("unit", "%"),
                                          direction, beyond))
    old_items = {i["id"]: i for i in old["items"]}
    new_items = {i["id"]: i for i in new["items"]}
    for item_id, n in new_items.items():
        o = old_items.get(item_id)
        if o is None or bool(o.get("correct")) == bool(n.get("correct")):
            continue
        result.flips.append(Flip(item_id, n.get("question", ""), o.get("verdict", ""), n.get("verdict", ""),
                                 o.get("answer", ""), n.get("answer", ""), bool(n.get("correct"))))
    result.only_old = [i for i in old_items if i not in new_items]
    result.only_new = [i for i in new_items if i not in old_items]
    return result


def _fmt(value: float | None, unit: str, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{100 * value:{sign}.1f}%" if unit == "%" else f"{value:{sign}.2f}s"


def render_comparison(comparison: Comparison, markdown: bool = False) -> str:
    """The comparison as plain text (or Markdown): changed metrics first, then the flipped questions."""
    c = comparison
    lines = [f"{'# ' if markdown else ''}qa eval --compare: {c.old_label} -> {c.new_label}", ""]
    lines += [f"{'**Warning**: ' if markdown else 'warning: '}{w}" for w in c.warnings]
    lines += [""] if c.warnings else []
    rows = [(d.name, _fmt(d.old, d.unit), _fmt(d.new, d.unit), _fmt(d.delta, d.unit, signed=True),
             d.direction + (" (beyond old 95% CI)" if d.beyond_noise else ""))
            for d in c.metrics]
    header = ("metric", "old", "new", "delta", "change")
    if markdown:
        lines += ["| " + " | ".join(header) + " |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, tuple("-" * w for w in widths), *rows]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    better = [f for f in c.flips if f.better]
    worse = [f for f in c.flips if not f.better]
    lines += ["", f"{'## ' if markdown else ''}Questions that got worse: {len(worse)}"]
    lines += [f"- {f.id}: {f.old_verdict} -> {f.new_verdict}: {f.question}\n    was: {_clip(f.old_answer)}"
              f"\n    now: {_clip(f.new_answer)}" for f in worse]
    lines += ["", f"{'## ' if markdown else ''}Questions that got better: {len(better)}"]
    lines += [f"- {f.id}: {f.old_verdict} -> {f.new_verdict}: {f.question}" for f in better]
    if c.only_old or c.only_new:
        lines += ["", f"Only in {c.old_label}: {len(c.only_old)} questions; "
                      f"only in {c.new_label}: {len(c.only_new)} (not compared)"]
    return "\n".join(lines) + "\n"


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
