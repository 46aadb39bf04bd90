"""The llama.cpp adapter: the same `Generator` on the GGUF file itself (llama-cpp-python).

It runs the GGUF that `qa.models.model_files.resolve_gguf` assembles and sha256-checks (or a
`.gguf` path), with the chat template stored in the file, greedy decoding, the same
loop rule as the transformers adapter, `QA_THREADS` threads and one generation at a
time. llama-cpp-python reuses the key/value cache of the longest prompt prefix it has
already seen (the system prompt, at least), so that part is not computed again.

`llama_cpp` is optional: it is imported on first load, and a missing install is a
`ModelLoadError` that says how to build it (this CPU needs the portable build flags).
"""

from __future__ import annotations

import atexit
import codecs
import threading
from collections.abc import Iterator
from typing import Any

from qa.errors import ModelLoadError
from qa.models.generate import Generator, Message, is_looping, threads_setting
from qa.settings import env

# llama.cpp's default build uses -march=native, which enabled AMX here and died with SIGILL.
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
LLAMA_CPP_PIN = "llama-cpp-python==0.3.36"
INSTALL_HINT = (
    f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install --no-binary llama-cpp-python {LLAMA_CPP_PIN}'
)
# Prompts here are ~400-1,200 tokens (4 passages of <=480 chars, or a short conversation).
DEFAULT_CONTEXT = 8192


class LlamaCppGenerator(Generator):
    """A GGUF chat model through llama.cpp on the CPU (the default model's Q4_K_M GGUF)."""

    backend = "llama.cpp"

    def __init__(self, model: str | None = None, threads: int | None = None,
                 n_ctx: int = DEFAULT_CONTEXT) -> None:
        from qa.models.model_files import llm_display_name

        self.spec = model or env("QA_LLM_MODEL") or None
        self.name = f"{llm_display_name(self.spec)} (llama.cpp)"
        self.threads = threads_setting(threads)
        self.n_ctx = n_ctx
        # llama_cpp.Llama and its Jinja2ChatFormatter once loaded (llama-cpp-python is untyped).
        self._llm: Any | None = None
        self._formatter: Any | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> LlamaCppGenerator:
        """Assemble and check the GGUF if needed (once, cached) and load it now."""
        with self._load_lock:
            if self._llm is not None:
                return self
            from qa.models.model_files import resolve_gguf

            path = resolve_gguf(self.spec)
            try:
                import llama_cpp
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as exc:
                raise ModelLoadError(
                    f"the llama.cpp backend needs llama-cpp-python ({exc}); build it with: "
                    f"{INSTALL_HINT}"
                ) from exc
            try:
                llm = llama_cpp.Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads,
                                      n_threads_batch=self.threads, seed=0, verbose=False)
                template = llm.metadata.get("tokenizer.chat_template")
                if not template:
                    raise ModelLoadError(f"{path.name} has no chat template (tokenizer.chat_template)")
                model = llm._model
                eos, bos = model.token_eos(), model.token_bos()
                self._formatter = Jinja2ChatFormatter(
                    template=template,
                    eos_token=model.token_get_text(eos) if eos != -1 else "",
                    bos_token=model.token_get_text(bos) if bos != -1 else "",
                )
                self._is_eog = lambda token: bool(llama_cpp.llama_vocab_is_eog(model.vocab, token))
                self._llm = llm
                # free the model before interpreter shutdown: llama-cpp-python's own __del__ then
                # finds its C bindings already torn down and prints a TypeError
                atexit.register(self.close)
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError(f"cannot load language model {path!s} with llama.cpp: {exc}") from exc
        return self

    def close(self) -> None:
        """Free the loaded model (a later call loads it again)."""
        with self._load_lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def _loaded(self) -> tuple[Any, Any]:
        """(the model, its chat formatter), loaded first if needed."""
        self.load()
        llm, formatter = self._llm, self._formatter
        if llm is None or formatter is None:  # load() sets both or raises
            raise ModelLoadError(f"language model {self.name} is not loaded")
        return llm, formatter

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The chat, rendered with the model's own template, as token ids (no extra BOS)."""
        llm, formatter = self._loaded()
        prompt = formatter(messages=messages).prompt
        return llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        tokens = self.prompt_tokens(messages)
        llm, _ = self._loaded()  # loaded already by prompt_tokens
        if len(tokens) + max_new_tokens > self.n_ctx:
            raise ModelLoadError(f"the prompt is {len(tokens):,} tokens; with {max_new_tokens} new "
                                 f"tokens it exceeds the {self.n_ctx:,}-token context")
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        ids = list(tokens)
        new = 0
        with self._run_lock:
            try:
                for token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
                    if self._is_eog(token):
                        break
                    new += 1
                    ids.append(token)
                    piece = decoder.decode(llm.detokenize([token]))
                    if piece:
                        yield piece
                    if new >= max_new_tokens or is_looping(ids):
                        break
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield tail
            except (GeneratorExit, ModelLoadError):
                raise
            except Exception as exc:
                raise ModelLoadError(f"generation failed: {exc}") from exc
            finally:
                self.last_usage = {"prompt_tokens": len(tokens), "new_tokens": new}
