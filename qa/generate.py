"""Language-model generators: a small streaming interface and the transformers adapter.

`Generator.stream(messages)` yields text pieces of the reply to a chat. The
transformers adapter loads its model lazily, once, and runs one generation at
a time (others wait on a lock). This is the one module that knows the model
runtime; it does not build prompts or check citations.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator

from qa.errors import ModelLoadError

Message = dict[str, str]


class Generator(ABC):
    """Streams a reply to chat messages ([{"role": ..., "content": ...}])."""

    name: str = "generator"

    @abstractmethod
    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        """Yield the reply piece by piece (greedy, deterministic where the backend allows)."""

    def generate(self, messages: list[Message], max_new_tokens: int = 160) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(messages, max_new_tokens))


def _stop_on_loops(input_ids, scores, **kwargs):
    """Stop a degenerate loop: one token 8 times running, or a token pair 6 times running."""
    import torch

    tail = input_ids[:, -12:]
    if tail.shape[1] < 12:
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)
    same = (tail[:, -8:] == tail[:, -1:]).all(dim=1)
    pairs = (tail[:, :-2] == tail[:, 2:]).all(dim=1)
    return same | pairs


class TransformersGenerator(Generator):
    """A causal LM through transformers on the CPU in float32 (default: Qwen2.5-Coder-0.5B)."""

    def __init__(self, model: str | None = None, threads: int | None = None) -> None:
        self.spec = model or os.environ.get("QA_LLM_MODEL") or None
        self.name = self.spec or "default"
        self.threads = threads or int(os.environ.get("QA_THREADS", "0")) or (os.cpu_count() or 1)
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> TransformersGenerator:
        """Resolve, convert if needed (once, cached) and load the model now."""
        with self._load_lock:
            if self._model is not None:
                return self
            from qa.model_files import DEFAULT_LLM, resolve_llm

            path = resolve_llm(self.spec)
            self.name = self.spec or DEFAULT_LLM
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                torch.set_num_threads(self.threads)
                self._tokenizer = AutoTokenizer.from_pretrained(str(path))
                model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
                model.eval()
                self._model = model
            except Exception as exc:
                raise ModelLoadError(f"cannot load language model {path!s}: {exc}") from exc
        return self

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        self.load()
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model = self._tokenizer, self._model
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                   streamer=streamer, pad_token_id=tokenizer.eos_token_id,
                                   stopping_criteria=[_stop_on_loops])
            except BaseException as exc:
                errors.append(exc)
                streamer.end()

        with self._run_lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield from (piece for piece in streamer if piece)
            worker.join()
        if errors:
            raise ModelLoadError(f"generation failed: {errors[0]}") from errors[0]
