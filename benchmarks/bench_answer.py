"""Answer latency with the real models: cold start, and per answer retrieve / prefill / decode, peak RSS.

    .venv/bin/python benchmarks/bench_answer.py [--questions N] [--llm-model NAME[,NAME]]
        [--llm-backend transformers,openvino:int8,openvino:int4,llama.cpp] [--baseline]
        [--threads 1,2] [--passages 3,4]
        [--max-new-tokens 64,96] [--precision float32,int8] [--prefix-cache 1,0] [--ov-hint f32,bf16]
        [--focus-chars 0,240] [--embed-backend openvino,sentence-transformers]
        [--release-weights 1,0]
        [--load N] [--cold-runs 3]

Every comma list is a set of variants; the benchmark runs every combination
(`backend:precision` pairs a backend with its own QA_LLM_PRECISION). Each
variant is one warm serving process (`--worker`, the `qa.api.Assistant` the app uses)
that loads its models once; the questions (the seed facts, in file order) go to the
variants interleaved, question by question, with the order rotated each question, so
that a noisy machine slows every variant alike. Cold start is a fresh `python -m
qa.cli ask` process (imports, model load from the cache, index load, one answer),
also interleaved, median of `--cold-runs`.

Per answer: retrieve; prefill = time to the first streamed piece after retrieval
(prompt evaluation + the first token); decode = the rest of the generation;
total (including the citation check). Tokens/s is new tokens after the first over
decode time. Peak RSS is the serving process's ru_maxrss after all its answers.
`--load N` runs N busy-looping processes meanwhile (CPU contention on purpose).
`--baseline` adds a plain transformers float32 pipeline on the default 0.5B model, asked
the same questions interleaved: dense top-4 passages (the same MiniLM embeddings of the
same index's passages, exact cosine), a plain prompt, one `model.generate` call; the
"x baseline" row is each variant's median total over the baseline's.
Prints a Markdown table and writes benchmarks/results/answer.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "qa" / "eval" / "data" / "seed_facts.jsonl"
KNOBS = {"llm_model": "QA_LLM_MODEL", "llm_backend": "QA_LLM_BACKEND", "threads": "QA_THREADS",
         "passages": "QA_PASSAGES",
         "max_new_tokens": "QA_MAX_NEW_TOKENS", "precision": "QA_LLM_PRECISION",
         "prefix_cache": "QA_PREFIX_CACHE", "ov_hint": "QA_OV_HINT", "focus_chars": "QA_FOCUS_CHARS",
         "embed_backend": "QA_EMBED_BACKEND", "release_weights": "QA_OV_RELEASE_WEIGHTS"}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the serving process ----------------------------------------------------------------------


def worker() -> None:
    """Load the assistant once, then answer one question per stdin line with one JSON line."""
    started = time.perf_counter()
    from qa.api import Assistant

    assistant = Assistant()
    _ = assistant.store
    generator = assistant.generator
    generator.load()
    print(json.dumps({"ready": True, "load_s": time.perf_counter() - started,
                      "llm": generator.name, "backend": getattr(generator, "backend", ""),
                      "rss_mb": peak_rss_mb()}), flush=True)
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        answer = assistant.ask(question)
        t = answer.timings
        row = {"question": question, "abstained": answer.abstained, "draft": answer.draft,
               "text": answer.text, "retrieve": t["retrieve"], "total": t["total"]}
        if "generate" in t:
            prefill = t["first_token"] - t.get("rewrite", 0.0) - t["retrieve"]
            usage = generator.last_usage or {}
            row.update(prefill=prefill, decode=max(0.0, t["generate"] - prefill),
                       generate=t["generate"], prompt_tokens=usage.get("prompt_tokens"),
                       new_tokens=usage.get("new_tokens"))
        row["rss_mb"] = peak_rss_mb()
        print(json.dumps(row), flush=True)


def baseline_worker() -> None:
    """A plain RAG pipeline: dense top-4 passages, a plain prompt, `model.generate` (float32, 0.5B)."""
    started = time.perf_counter()
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qa.api import Assistant
    from qa.models.model_files import resolve_llm

    assistant = Assistant()
    store = assistant.store
    texts = [c.text for c in store.chunks.values()]
    embedder = assistant.embedder
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    path = resolve_llm("qwen2.5-coder-0.5b")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    print(json.dumps({"ready": True, "load_s": time.perf_counter() - started, "llm": "qwen2.5-coder-0.5b",
                      "backend": "plain transformers", "rss_mb": peak_rss_mb()}), flush=True)
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        t0 = time.perf_counter()
        query = np.asarray(embedder.embed([question]), dtype=np.float32)[0]
        top = np.argsort(-(vectors @ query))[:4]
        t1 = time.perf_counter()
        context = "\n\n".join(texts[i] for i in top)
        messages = [{"role": "user", "content": f"Answer the question using the passages below.\n\n"
                     f"{context}\n\nQuestion: {question}\nAnswer:"}]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=96, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        n_prompt = int(inputs["input_ids"].shape[1])
        text = tokenizer.decode(out[0, n_prompt:], skip_special_tokens=True)
        t2 = time.perf_counter()
        print(json.dumps({"question": question, "abstained": False, "draft": text, "text": text,
                          "retrieve": t1 - t0, "total": t2 - t0, "baseline": True,
                          "prompt_tokens": n_prompt, "new_tokens": int(out.shape[1]) - n_prompt,
                          "rss_mb": peak_rss_mb()}), flush=True)


# ---- the driver -------------------------------------------------------------------------------


def parse_list(text: str | None, cast=str) -> list:
    return [cast(v.strip()) for v in text.split(",") if v.strip()] if text else [None]


def variant_env(base: dict[str, str], variant: dict) -> dict[str, str]:
    env = dict(base)
    for key, value in variant.items():
        if value is None:
            continue
        if key == "llm_backend" and ":" in str(value):  # backend:precision
            value, env[KNOBS["precision"]] = str(value).split(":", 1)
        env[KNOBS[key]] = str(value)
    return env


def label(variant: dict) -> str:
    parts = [variant["llm_backend"] or "default"]
    parts += [f"{k}={v}" for k, v in variant.items() if k != "llm_backend" and v is not None]
    return " ".join(parts)


BASELINE = "baseline (plain transformers fp32 0.5B)"


def cold_start(env: dict[str, str]) -> tuple[float, float]:
    """(seconds from process start to a printed answer, that process's peak RSS in MiB)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "ask", "Who masterminded the raid?"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"cold start failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def med(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(name: str, info: dict, rows: list[dict], colds: list[tuple[float, float]]) -> dict:
    answered = [r for r in rows if "prefill" in r]
    rates = [(r["new_tokens"] - 1) / r["decode"] for r in answered
             if r.get("new_tokens") and r["new_tokens"] > 1 and r["decode"] > 0]
    prefill_rates = [r["prompt_tokens"] / r["prefill"] for r in answered
                     if r.get("prompt_tokens") and r["prefill"] > 0]
    return {
        "variant": name, "llm": info["llm"], "backend": info["backend"],
        "cold_start_s_median": med(c[0] for c in colds),
        "cold_start_peak_rss_mb_median": med(c[1] for c in colds),
        "load_s": info["load_s"],
        "questions": len(rows), "model_called": len(answered),
        "retrieve_s_median": med(r["retrieve"] for r in rows),
        "prefill_s_median": med(r["prefill"] for r in answered),
        "decode_s_median": med(r["decode"] for r in answered),
        "total_s_median": med(r["total"] for r in rows),
        "total_s_p95": pct([r["total"] for r in rows], 0.95),
        "answered_total_s_median": med(r["total"] for r in answered),
        "prompt_tokens_median": med(r.get("prompt_tokens") for r in answered),
        "new_tokens_median": med(r.get("new_tokens") for r in answered),
        "prefill_tok_s_median": med(prefill_rates),
        "decode_tok_s_median": med(rates),
        "peak_rss_mb": max([info["rss_mb"]] + [r["rss_mb"] for r in rows]),
        "abstained": sum(r["abstained"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--llm-model", default=None, help="comma list of QA_LLM_MODEL values")
    parser.add_argument("--baseline", action="store_true", help="add the plain transformers pipeline")
    parser.add_argument("--llm-backend", default=None, help="comma list, e.g. transformers,llama.cpp")
    parser.add_argument("--threads", default=None, help="comma list of QA_THREADS values")
    parser.add_argument("--passages", default=None, help="comma list of QA_PASSAGES values")
    parser.add_argument("--max-new-tokens", default=None, help="comma list of QA_MAX_NEW_TOKENS values")
    parser.add_argument("--precision", default=None, help="comma list of QA_LLM_PRECISION values")
    parser.add_argument("--prefix-cache", default=None, help="comma list of QA_PREFIX_CACHE values (1, 0)")
    parser.add_argument("--ov-hint", default=None,
                        help="comma list of QA_OV_HINT values (f32, bf16): OpenVINO's compute precision")
    parser.add_argument("--focus-chars", default=None,
                        help="comma list of QA_FOCUS_CHARS values (0: whole passages)")
    parser.add_argument("--embed-backend", default=None,
                        help="comma list of QA_EMBED_BACKEND values (openvino, sentence-transformers)")
    parser.add_argument("--release-weights", default=None,
                        help="comma list of QA_OV_RELEASE_WEIGHTS values (1, 0)")
    parser.add_argument("--cold-runs", type=int, default=3, help="0: no cold starts at all")
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes meanwhile")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answer.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.baseline_worker:
        baseline_worker()
        return

    base = {**os.environ, "QA_INDEX_DIR": tempfile.mkdtemp(prefix="qa-bench-")}
    lists = {"llm_model": parse_list(args.llm_model), "llm_backend": parse_list(args.llm_backend),
             "threads": parse_list(args.threads, int),
             "passages": parse_list(args.passages, int),
             "max_new_tokens": parse_list(args.max_new_tokens, int),
             "precision": parse_list(args.precision), "prefix_cache": parse_list(args.prefix_cache, int),
             "ov_hint": parse_list(args.ov_hint), "focus_chars": parse_list(args.focus_chars, int),
             "embed_backend": parse_list(args.embed_backend),
             "release_weights": parse_list(args.release_weights, int)}
    variants = [dict(zip(lists, combo, strict=True)) for combo in itertools.product(*lists.values())]
    names = [label(v) for v in variants]
    envs = [variant_env(base, v) for v in variants]
    commands = [[sys.executable, __file__, "--worker"] for _ in variants]
    cold = [True for _ in variants]
    if args.baseline:
        variants.append({"baseline": True})
        names.append(BASELINE)
        envs.append(dict(base))
        commands.append([sys.executable, __file__, "--baseline-worker"])
        cold.append(False)
    questions = [json.loads(line)["question"] for line in FACTS.read_text().splitlines()
                 if line.strip()][: args.questions]

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        for env, wanted in zip(envs, cold, strict=True):  # builds the index and model caches; not counted
            if args.cold_runs and wanted:
                cold_start(env)
        colds: list[list[tuple[float, float]]] = [[] for _ in variants]
        for run in range(args.cold_runs):
            for i in range(len(variants)):
                j = (i + run) % len(variants)
                if not cold[j]:
                    continue
                colds[j].append(cold_start(envs[j]))
                print(f"cold {names[j]}: {colds[j][-1][0]:.2f} s", file=sys.stderr)

        workers, infos = [], []
        for env, command in zip(envs, commands, strict=True):
            proc = subprocess.Popen(command, env=env, text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            workers.append(proc)
            infos.append(json.loads(proc.stdout.readline()))
        rows: list[list[dict]] = [[] for _ in variants]
        for q, question in enumerate(questions):
            for i in range(len(variants)):
                j = (i + q) % len(variants)
                workers[j].stdin.write(question + "\n")
                workers[j].stdin.flush()
                rows[j].append(json.loads(workers[j].stdout.readline()))
                r = rows[j][-1]
                print(f"q{q + 1} {names[j]}: {r['total']:.2f} s"
                      + (" (plain generate)" if r.get("baseline") else "")
                      + (f" (prefill {r['prefill']:.2f}, decode {r['decode']:.2f}, "
                         f"{r['new_tokens']} tokens)" if "prefill" in r
                         else "" if r.get("baseline") else " (abstained early)"),
                      file=sys.stderr)
        for proc in workers:
            proc.stdin.close()
            proc.wait()
    finally:
        for hog in hogs:
            hog.kill()

    summaries = [summarise(n, info, r, c) for n, info, r, c in zip(names, infos, rows, colds, strict=True)]
    qa_variants = [j for j in range(len(variants)) if not variants[j].get("baseline")]
    same = None
    if len(qa_variants) > 1:
        same = sum(len({rows[j][q]["draft"] for j in qa_variants}) == 1 for q in range(len(questions)))
    answered_by_model = [q for q in range(len(questions)) if "prefill" in rows[qa_variants[0]][q]]
    for j, summary in zip(range(len(variants)), summaries, strict=True):
        if j in qa_variants:  # drafts identical to the first variant's (the reference when it is first)
            summary["same_draft_as_first"] = sum(rows[j][q]["draft"] == rows[qa_variants[0]][q]["draft"]
                                                 for q in answered_by_model)
            summary["same_draft_of"] = len(answered_by_model)
    if args.baseline:
        floor = summaries[-1]["total_s_median"]
        for summary in summaries:
            summary["x_baseline"] = summary["total_s_median"] / floor if floor else None
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_processes": args.load,
        "identical_drafts": same,
        "summaries": summaries,
        "rows": {n: r for n, r in zip(names, rows, strict=True)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{result['machine']}; {args.load} busy processes; {len(questions)} questions"
          + (f"; identical drafts {same}/{len(questions)}" if same is not None else ""))
    keys = [("cold start s", "cold_start_s_median"),
            ("cold-start peak RSS MiB", "cold_start_peak_rss_mb_median"),
            ("model called", "model_called"), ("retrieve s", "retrieve_s_median"),
            ("prefill (first token) s", "prefill_s_median"), ("decode s", "decode_s_median"),
            ("total s, median", "total_s_median"), ("total s, p95", "total_s_p95"),
            ("total s, answered by the model", "answered_total_s_median"),
            ("prompt tokens", "prompt_tokens_median"), ("new tokens", "new_tokens_median"),
            ("prefill tok/s", "prefill_tok_s_median"), ("decode tok/s", "decode_tok_s_median"),
            ("serving peak RSS MiB", "peak_rss_mb"),
            ("drafts identical to the first variant's", "same_draft_as_first"),
            ("total / baseline total (medians)", "x_baseline")]
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for title, key in keys:
        cells = [s.get(key) for s in summaries]
        print(f"| {title} | " + " | ".join(f"{c:.2f}" if isinstance(c, float) else str(c) for c in cells)
              + " |")


if __name__ == "__main__":
    main()
