"""The OpenVINO adapter: the same `Generator` through openvino-genai's LLMPipeline on the CPU.

It runs the folder `qa.models.openvino_files.resolve_openvino` exports once (int4, int8 or fp16
weights, `QA_LLM_PRECISION`), tokenizes the chat with the model's own template and
tokenizer.json (`qa.models.chat_tokenizer`: the reference backend's tokens, without loading
torch), decodes greedily with
the same loop rule, `QA_THREADS` threads and one generation at a time, and streams text
pieces; closing the stream (the UI's Stop) cancels the generation at the next token. The
pages of the mapped weights file that the CPU plugin has repacked into its own memory are given
back (`qa.models.mapped_pages`), so the weights are resident once, not twice.

`openvino_genai` is optional: `make_openvino_generator` checks, once per runtime version
and CPU and in a child process (an illegal instruction there cannot kill this one), that
the runtime imports and compiles a tiny model; if not it prints one line and returns the
transformers generator instead. This module builds no prompts and checks no citations.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.errors import ModelLoadError
from qa.models.generate import Generator, Message, TransformersGenerator, is_looping, threads_setting
from qa.models.mapped_pages import PageReleaser, release_mapped_file
from qa.settings import apply_process_defaults, env

# Weight precision of the openvino backend when QA_LLM_PRECISION is not set (see README).
DEFAULT_OV_PRECISION = "int8"
INSTALL_HINT = "pip install openvino-genai==2026.4.1.0 optimum-intel==2.2.0 nncf==3.4.0"
# Compute precision of the CPU plugin: "f32" decodes faster on this CPU than its default
# (bf16 where AMX exists) and matches the reference's arithmetic better; env QA_OV_HINT.
DEFAULT_INFERENCE_HINT = "f32"
# The CPU plugin repacks the mapped weights during the first inferences; while these many
# generations run, their already-repacked pages are given back every 0.1 s (qa.models.mapped_pages),
# and after every generation once.
WARM_UP_GENERATIONS = 3

_PROBE = r"""
import sys
import openvino as ov, openvino_genai  # noqa: F401
from openvino import opset13 as ops
import numpy as np
x = ops.parameter([1, 4], np.float32, name="x")
m = ov.Model([ops.relu(ops.matmul(x, ops.constant(np.ones((4, 4), np.float32)), False, False))], [x])
req = ov.Core().compile_model(m, "CPU").create_infer_request()
assert float(req.infer({"x": np.ones((1, 4), np.float32)})[0].sum()) == 16.0
print("ok")
"""


def runtime_problem() -> str | None:
    """Why the OpenVINO runtime cannot run here (not installed, crashes on this CPU), else None.

    The check runs in a child process once per openvino-genai version and CPU; its result
    is kept in the model cache so later starts cost nothing.
    """
    if importlib.util.find_spec("openvino_genai") is None:
        return f"openvino-genai is not installed ({INSTALL_HINT})"
    from qa.models.model_files import cache_root

    try:
        version = importlib.metadata.version("openvino-genai")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    key = hashlib.sha256(f"{version}|{_cpu_signature()}".encode()).hexdigest()[:16]
    stamp = cache_root() / "probe" / f"openvino-{key}.json"
    try:
        return json.loads(stamp.read_text(encoding="utf-8")).get("problem")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
        if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
            problem = None
        elif proc.returncode < 0:
            problem = f"the OpenVINO runtime died with signal {-proc.returncode} on this CPU"
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            problem = f"the OpenVINO runtime does not run here: {tail}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = f"the OpenVINO runtime check failed: {exc}"
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"version": version, "problem": problem}), encoding="utf-8")
    except OSError:
        pass
    return problem


def _cpu_signature() -> str:
    """The CPU's model name and flags (so a machine change re-runs the runtime check)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(lines))


def make_openvino_generator(model: str | None = None, precision: str | None = None) -> Generator:
    """The OpenVINO generator, or the transformers one (with one logged line) if it cannot run:
    the runtime is not installed or crashes on this CPU, or the model is not exported yet and
    the exporter is not installed. An export that is tried and fails raises (ModelConvertError)."""
    problem = runtime_problem()
    if problem is None:
        from qa.models.openvino_files import cached_export, exporter_problem, openvino_precision

        precision = openvino_precision(precision, DEFAULT_OV_PRECISION)
        if cached_export(model or env("QA_LLM_MODEL") or None, precision) is None:
            problem = exporter_problem()
    if problem is None:
        return OpenVINOGenerator(model, precision=precision)
    # One line on stderr (not also through logging, which the UI sends to stderr as well).
    print(f"qa: {problem}; answering with the transformers backend instead", file=sys.stderr, flush=True)
    return TransformersGenerator(model, precision="float32")


class _TokenStreamer:
    """Receives generated token ids from the pipeline and hands them to the reader's queue."""

    def __init__(self, base: type, status: Any, prompt_ids: list[int], max_new: int) -> None:
        self.ids = list(prompt_ids)
        self.new = 0
        self.queue: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        owner = self

        class Streamer(base):  # openvino_genai.StreamerBase, bound at load time
            def write(self, token):
                tokens = token if isinstance(token, list) else [token]
                for t in tokens:
                    owner.ids.append(int(t))
                    owner.new += 1
                    owner.queue.put(int(t))
                if owner.cancelled.is_set() or is_looping(owner.ids) or owner.new >= max_new:
                    return status.STOP
                return status.RUNNING

            def end(self):
                pass

        self.streamer = Streamer()


class OpenVINOGenerator(Generator):
    """A causal LM through openvino-genai on the CPU (default: int8 weights)."""

    backend = "openvino"

    def __init__(self, model: str | None = None, threads: int | None = None,
                 precision: str | None = None) -> None:
        from qa.models.model_files import llm_display_name
        from qa.models.openvino_files import openvino_precision

        self.spec = model or env("QA_LLM_MODEL") or None
        self.precision = openvino_precision(precision, DEFAULT_OV_PRECISION)
        self.name = f"{llm_display_name(self.spec)} (openvino {self.precision})"
        self.threads = threads_setting(threads)
        self.hint = env("QA_OV_HINT").lower() or DEFAULT_INFERENCE_HINT
        self.path: Path | None = None
        self._pipe: Any = None  # openvino_genai.LLMPipeline (untyped) once loaded
        self._tokenizer: Any = None
        self._ov: Any = None  # (openvino, openvino_genai) once loaded
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.generations = 0
        self.release_weights = env("QA_OV_RELEASE_WEIGHTS").lower() not in ("0", "false", "no", "off")

    def load(self) -> OpenVINOGenerator:
        """Export the model once if needed (cached) and compile it now."""
        with self._load_lock:
            if self._pipe is not None:
                return self
            from qa.models.model_files import resolve_llm
            from qa.models.openvino_files import resolve_openvino

            path = resolve_openvino(self.spec, self.precision)
            source = resolve_llm(self.spec)
            apply_process_defaults()
            try:
                import openvino as ov
                import openvino_genai

                from qa.models.chat_tokenizer import ChatTokenizer

                props: dict[str, int | str] = {"INFERENCE_NUM_THREADS": self.threads}
                if self.hint in ("f32", "bf16", "f16"):
                    props["INFERENCE_PRECISION_HINT"] = self.hint
                self._pipe = openvino_genai.LLMPipeline(str(path), "CPU", **props)
                self._tokenizer = ChatTokenizer(source)
                self._ov = (ov, openvino_genai)
                self.path = path
            except Exception as exc:
                raise ModelLoadError(f"cannot load language model {path!s} with OpenVINO: {exc}") from exc
        return self

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """The chat rendered with the model's own template, as token ids."""
        self.load()
        return self._tokenizer.prompt_ids(messages)

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        ids = self.prompt_ids(messages)
        ov, genai = self._ov
        import numpy as np

        tokens = _TokenStreamer(genai.StreamerBase, genai.StreamingStatus, ids, max_new_tokens)
        config = self._pipe.get_generation_config()
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.logprobs = 1  # greedy results then carry the summed log-probability of the tokens
        inputs = genai.TokenizedInputs(ov.Tensor(np.array([ids], dtype=np.int64)),
                                       ov.Tensor(np.ones((1, len(ids)), dtype=np.int64)))
        errors: list[BaseException] = []
        scores: list[float] = []
        done = object()

        weights = (self.path / "openvino_model.bin"
                   if self.path is not None and self.release_weights else None)
        releaser = (PageReleaser(weights) if weights is not None and self.generations < WARM_UP_GENERATIONS
                    else contextlib.nullcontext())
        self.generations += 1

        def run() -> None:
            try:
                with releaser:
                    result = self._pipe.generate(inputs, config, tokens.streamer)
                scores.extend(float(s) for s in getattr(result, "scores", ())[:1])
            except BaseException as exc:
                errors.append(exc)
            finally:
                if weights is not None:
                    release_mapped_file(weights)
                tokens.queue.put(done)

        eos = set(_eos_ids(config, self._tokenizer))
        with self._run_lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            new: list[int] = []
            sent = ""
            try:
                while (item := tokens.queue.get()) is not done:
                    if item in eos:
                        continue
                    new.append(item)
                    text = self._tokenizer.decode(new, skip_special_tokens=True)
                    if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
                        continue
                    if len(text) > len(sent):
                        piece, sent = text[len(sent):], text
                        yield piece
                text = self._tokenizer.decode(new, skip_special_tokens=True)
                if len(text) > len(sent):
                    yield text[len(sent):]
            finally:  # also when the reader closes this generator early (Stop)
                tokens.cancelled.set()
                worker.join()
                self.last_usage = {"prompt_tokens": len(ids),
                                   "new_tokens": sum(1 for t in tokens.ids[len(ids):] if t not in eos)}
                self.last_logprob = scores[0] if scores else None
        if errors:
            raise ModelLoadError(f"generation failed: {errors[0]}") from errors[0]


def _eos_ids(config, tokenizer) -> list[int]:
    """End-of-sequence token ids of the pipeline's generation config and the tokenizer."""
    out = set()
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int) and value >= 0:
            out.add(value)
    out.update(int(t) for t in (getattr(config, "stop_token_ids", None) or ()))
    return sorted(out)
