"""Language-model generators: a small streaming interface and the transformers adapter.

`Generator.stream(messages)` yields text pieces of the reply to a chat. The
transformers adapter loads its model lazily, once, and runs one generation at
a time (others wait on a lock). It keeps the attention cache of each system
prompt it has seen (the prompt's fixed prefix), so a question only evaluates the
passages and itself; `QA_PREFIX_CACHE=0` turns that off. The llama.cpp adapter (`qa.models.generate_llamacpp`)
does the same on the GGUF file itself, the OpenVINO adapter (`qa.models.generate_openvino`) on an
OpenVINO export of the model, and `qa.models.generate_openai` streams from a served model (an
OpenAI-compatible server); `LLM_BACKENDS` names the four. These are
the only modules that know a model runtime; they do not build prompts or check
citations.
"""

from __future__ import annotations

import copy
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from qa.errors import ModelLoadError
from qa.settings import apply_process_defaults, env

Message = dict[str, str]

LLM_BACKENDS = ("transformers", "openvino", "llama.cpp", "openai")
# OpenVINO int8 answers as well as transformers float32 on the test splits, several times faster
# and in less memory (README, "Which model and runtime, and why"); where it cannot run,
# make_openvino_generator says so in one line and answers with transformers, the reference.
DEFAULT_LLM_BACKEND = "openvino"
LLM_BACKEND_ENV = "QA_LLM_BACKEND"
_BACKEND_ALIASES = {"transformers": "transformers", "hf": "transformers", "torch": "transformers",
                    "llama.cpp": "llama.cpp", "llamacpp": "llama.cpp", "llama-cpp": "llama.cpp",
                    "llama_cpp": "llama.cpp", "openai": "openai", "openvino": "openvino", "ov": "openvino"}


def llm_backend(value: str | None = None) -> str:
    """The backend setting: argument, else env QA_LLM_BACKEND, else the default; normalised.

    Raises ModelLoadError for a name that is not one of `LLM_BACKENDS`.
    """
    name = (value or env(LLM_BACKEND_ENV)).strip().lower() or DEFAULT_LLM_BACKEND
    if name not in _BACKEND_ALIASES:
        raise ModelLoadError(f"unknown LLM backend {name!r}: use one of {', '.join(LLM_BACKENDS)}")
    return _BACKEND_ALIASES[name]


LLM_PRECISIONS = ("float32", "int8")
PRECISION_ENV = "QA_LLM_PRECISION"


def llm_precision(value: str | None = None) -> str:
    """The transformers weight precision: argument, else env QA_LLM_PRECISION, else float32.

    (The openvino backend reads the same setting as int4 / int8 / fp16: qa.models.openvino_files.)

    "int8" quantizes every linear layer dynamically (torch's quantize_dynamic): faster answers,
    but it changed most of the 0.5B model's drafts, mostly for the worse (figures in
    benchmarks/README.md), so it is opt-in, and runs without the prefix cache.
    Raises ModelLoadError for another name.
    """
    name = (value or env(PRECISION_ENV)).strip().lower() or "float32"
    name = {"fp32": "float32", "qint8": "int8"}.get(name, name)
    if name not in LLM_PRECISIONS:
        raise ModelLoadError(f"unknown precision {name!r}: use one of {', '.join(LLM_PRECISIONS)}")
    return name


def prefix_cache_setting() -> bool:
    """Whether to reuse the system prompt's attention cache (env QA_PREFIX_CACHE, default on)."""
    return (env("QA_PREFIX_CACHE") or "1").lower() not in ("0", "false", "no", "off")


def threads_setting(threads: int | None = None) -> int:
    """Threads for a model runtime: argument, else env QA_THREADS, else all cores."""
    value = env("QA_THREADS")
    return threads or (int(value) if value.isdigit() else 0) or (os.cpu_count() or 1)


def is_looping(ids) -> bool:
    """The loop rule on a plain token-id sequence: one token 8 times running, or a pair 6 times."""
    tail = list(ids[-12:])
    if len(tail) < 12:
        return False
    return all(t == tail[-1] for t in tail[-8:]) or tail[:-2] == tail[2:]


class Generator(ABC):
    """Streams a reply to chat messages ([{"role": ..., "content": ...}])."""

    name: str = "generator"
    backend: str = ""
    # Token counts of the last finished generation: {"prompt_tokens": n, "new_tokens": n}
    # (real backends set it; a shared generator serialises runs, so read it right after).
    last_usage: dict[str, int] | None = None
    # The summed log-probability of the tokens of the last finished generation (its end token
    # included), where the backend can read it, else None: the draft's confidence, one signal of
    # the answer gate (`qa.answer.gate`).
    last_logprob: float | None = None

    @abstractmethod
    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        """Yield the reply piece by piece (greedy, deterministic where the backend allows)."""

    def generate(self, messages: list[Message], max_new_tokens: int = 160) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(messages, max_new_tokens))

    def load(self) -> Generator:
        """Load the model now (backends that load lazily override this; the rest have nothing to load)."""
        return self


def _stop_on_loops(input_ids, scores, **kwargs):
    """Stop a degenerate loop: one token 8 times running, or a token pair 6 times running."""
    import torch

    tail = input_ids[:, -12:]
    if tail.shape[1] < 12:
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)
    same = (tail[:, -8:] == tail[:, -1:]).all(dim=1)
    pairs = (tail[:, :-2] == tail[:, 2:]).all(dim=1)
    return same | pairs


@lru_cache(maxsize=8)
def _cache_name(model_class: type[Any]) -> str:
    """What a model class calls its attention cache, in arguments and outputs: `cache` in
    recent transformers (which deprecates `past_key_values`, with a logged warning), else
    `past_key_values`. Read once per class, not per answer."""
    import inspect

    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


class TransformersGenerator(Generator):
    """A causal LM through transformers on the CPU in float32."""

    backend = "transformers"

    def __init__(self, model: str | None = None, threads: int | None = None,
                 precision: str | None = None, prefix_cache: bool | None = None) -> None:
        self.spec = model or env("QA_LLM_MODEL") or None
        self.name = self.spec or "default"
        self.threads = threads_setting(threads)
        self.precision = llm_precision(precision)
        # int8 quantizes activations with a scale per call, so a cached prefix would be computed
        # at another scale than a full prefill (it broke the answers): float32 only.
        self.prefix_cache = ((prefix_cache_setting() if prefix_cache is None else prefix_cache)
                             and self.precision == "float32")
        # transformers' model and tokenizer once loaded (typed Any: a PreTrainedModel, or the
        # nn.Module quantize_dynamic returns; an AutoTokenizer of whichever class).
        self._model: Any | None = None
        self._tokenizer: Any | None = None
        self._prefixes: dict[str, tuple] = {}  # system prompt -> (its token ids, its KV cache)
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> TransformersGenerator:
        """Resolve, convert if needed (once, cached) and load the model now."""
        with self._load_lock:
            if self._model is not None:
                return self
            from qa.models.model_files import DEFAULT_LLM, resolve_llm

            path = resolve_llm(self.spec)
            self.name = self.spec or DEFAULT_LLM
            apply_process_defaults()  # before torch loads: its OpenMP pool reads the wait policy once
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                torch.set_num_threads(self.threads)
                self._tokenizer = AutoTokenizer.from_pretrained(str(path))
                model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
                model.eval()
                if self.precision == "int8":
                    from torch.ao.quantization import quantize_dynamic

                    model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
                self._model = model
            except Exception as exc:
                raise ModelLoadError(f"cannot load language model {path!s}: {exc}") from exc
        return self

    def _loaded(self) -> tuple[Any, Any]:
        """(tokenizer, model), loaded first if needed."""
        self.load()
        tokenizer, model = self._tokenizer, self._model
        if tokenizer is None or model is None:  # load() sets both or raises
            raise ModelLoadError(f"language model {self.name} is not loaded")
        return tokenizer, model

    def _cached_prefix(self, tokenizer: Any, model: Any, messages: list[Message], input_ids):
        """A copy of the KV cache of the system message when its tokens begin `input_ids`, else None.

        Computed once per distinct system prompt (there are two: answering and rewriting);
        call with the run lock held."""
        if not self.prefix_cache or not messages or messages[0].get("role") != "system":
            return None
        import torch

        key = messages[0]["content"]
        if key not in self._prefixes:
            if len(self._prefixes) >= 8:
                self._prefixes.clear()
            ids = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=False,
                                                return_tensors="pt", return_dict=True)["input_ids"]
            model_class: type = type(model)
            with torch.inference_mode():
                cache = getattr(model(input_ids=ids, use_cache=True), _cache_name(model_class))
            self._prefixes[key] = (ids, cache)
        ids, cache = self._prefixes[key]
        n = ids.shape[1]
        if input_ids.shape[1] <= n or not torch.equal(input_ids[0, :n], ids[0]):
            return None
        return copy.deepcopy(cache)

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        tokenizer, model = self._loaded()
        model_class: type = type(model)
        import torch
        from transformers import TextIteratorStreamer

        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []
        prompt_tokens = int(inputs["input_ids"].shape[1])
        usage = {"prompt_tokens": prompt_tokens, "new_tokens": 0}
        logprobs: list[float] = []

        cancelled = threading.Event()

        def stop(input_ids, scores, **kwargs):
            usage["new_tokens"] = int(input_ids.shape[1]) - prompt_tokens
            if scores is not None and usage["new_tokens"] > len(logprobs):  # the step's chosen token
                logprobs.append(float(torch.log_softmax(scores[0].float(), dim=-1)[input_ids[0, -1]]))
            if cancelled.is_set():  # the reader went away (a Stop button): end now
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            return _stop_on_loops(input_ids, scores, **kwargs)

        def run(past) -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                   streamer=streamer, pad_token_id=tokenizer.eos_token_id,
                                   stopping_criteria=[stop],
                                   **({_cache_name(model_class): past} if past is not None else {}))
            except BaseException as exc:
                errors.append(exc)
                streamer.end()

        with self._run_lock:
            past = self._cached_prefix(tokenizer, model, messages, inputs["input_ids"])
            worker = threading.Thread(target=run, args=(past,), daemon=True)
            worker.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:  # also when the reader closes this generator early
                cancelled.set()
                worker.join()
                self.last_usage = usage
                self.last_logprob = float(sum(logprobs))
        if errors:
            raise ModelLoadError(f"generation failed: {errors[0]}") from errors[0]
