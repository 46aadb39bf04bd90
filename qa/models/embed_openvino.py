"""The sentence-transformers model run by the OpenVINO runtime, without torch at serving time.

The same all-MiniLM-L6-v2 folder `SentenceTransformerEmbedder` reads is converted once
(`openvino.convert_model` on the encoder plus mean pooling, float32 weights) into
`<cache>/embed/<model>-<hash>-openvino`, under the cache lock, in a temp folder that is moved
into place only when complete. Queries and passages are then tokenized by the model's own
`tokenizer.json` (the `tokenizers` library, the same truncation length as sentence-transformers)
and embedded by the CPU plugin in float32, so the vectors match sentence-transformers' to about
1e-6 and an index built by either serves the other. Importing torch, transformers and
sentence-transformers (about 4 s and 0.5 GB) is left to the one-time conversion.

`make_local_embedder` picks this adapter when `QA_EMBED_BACKEND` allows it and the runtime runs
here; otherwise sentence-transformers, with one line saying why. This module builds no index.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.atomic_files import build_folder, is_marked, replace_folder, write_atomic
from qa.errors import ModelConvertError, ModelLoadError
from qa.models.embed import Embedder, SentenceTransformerEmbedder, _model_name
from qa.models.model_files import read_config, token_text
from qa.settings import env

EMBED_BACKENDS = ("auto", "openvino", "sentence-transformers")
OV_EMBED_VERSION = 1  # bump when the converted graph changes; older folders are converted again
MARKER = ".qa-openvino-embed.json"
DEFAULT_MAX_LENGTH = 256  # sentence-transformers' default when the folder does not say


def embed_backend(value: str | None = None) -> str:
    """The embedding runtime setting: argument, else env QA_EMBED_BACKEND, else auto."""
    backend = (value or env("QA_EMBED_BACKEND") or "auto").strip().lower()
    aliases = {"st": "sentence-transformers", "sentence_transformers": "sentence-transformers",
               "torch": "sentence-transformers", "ov": "openvino"}
    backend = aliases.get(backend, backend)
    if backend not in EMBED_BACKENDS:
        raise ModelLoadError(f"unknown embedding backend {backend!r}: use one of {', '.join(EMBED_BACKENDS)}")
    return backend


def make_local_embedder(model: str | None = None, backend: str | None = None) -> Embedder:
    """The local embedder for `model`: OpenVINO where the setting and this machine allow it,
    else sentence-transformers (one stderr line says why, when OpenVINO was asked for by name)."""
    choice = embed_backend(backend)
    if choice == "sentence-transformers":
        return SentenceTransformerEmbedder(model)
    from qa.models.generate_openvino import runtime_problem
    from qa.models.model_files import resolve_embedding_model

    problem = runtime_problem() or unsupported_folder(Path(resolve_embedding_model(model)))
    if problem is None:
        return OpenVINOEmbedder(model)
    if choice == "openvino":
        print(f"qa: {problem}; embedding with sentence-transformers instead", file=sys.stderr, flush=True)
    return SentenceTransformerEmbedder(model)


class OpenVINOEmbedder(Embedder):
    """A sentence-transformers folder (BERT-style encoder, mean pooling) run by OpenVINO on the CPU."""

    backend = "openvino"

    def __init__(self, model: str | None = None, threads: int | None = None) -> None:
        from qa.models.generate import threads_setting
        from qa.models.model_files import resolve_embedding_model

        self.spec = model
        self.path = Path(resolve_embedding_model(model))
        self.name = _model_name(model)
        self.threads = threads_setting(threads)
        self.max_length = _max_length(self.path)
        self.dimension = _dimension(self.path)
        self._compiled: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def load(self) -> OpenVINOEmbedder:
        """Convert once if needed (cached), then compile the model and read the tokenizer."""
        with self._lock:
            if self._compiled is None:
                folder = resolve_openvino_embedder(self.path)
                try:
                    import openvino as ov
                    from tokenizers import Tokenizer

                    tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                    tokenizer.enable_truncation(max_length=self.max_length)
                    pad_token = _pad_token(self.path)
                    pad_id = tokenizer.token_to_id(pad_token)
                    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
                    self._compiled = ov.Core().compile_model(
                        str(folder / "model.xml"), "CPU",
                        {"INFERENCE_NUM_THREADS": self.threads, "INFERENCE_PRECISION_HINT": "f32"})
                    self._tokenizer = tokenizer
                except Exception as exc:
                    raise ModelLoadError(
                        f"cannot load embedding model {folder} with OpenVINO: {exc}") from exc
        return self

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.load()
        with self._lock:
            encodings = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            result = self._compiled({"input_ids": ids, "attention_mask": mask})
            return np.asarray(result[0], dtype=np.float32)


# ---- the one-time conversion ---------------------------------------------------------------------


def openvino_embed_folder(source: Path, cache_dir: Path | None = None) -> Path:
    """Where the conversion of the embedding folder `source` lives in the model cache."""
    from qa.models.model_files import cache_root

    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    return cache_root(cache_dir) / "embed" / f"{source.name}-{digest}-openvino"


def is_converted(folder: Path) -> bool:
    """True when `folder` holds a finished conversion of this version."""
    return is_marked(folder, MARKER, OV_EMBED_VERSION, ("model.xml", "model.bin"))


def resolve_openvino_embedder(source: Path, cache_dir: Path | None = None) -> Path:
    """The converted folder for `source`, converting it once under the cache lock.

    Raises ModelConvertError when the conversion fails; a half-written conversion is never
    used and an older finished one is replaced only when the new one is complete."""
    from qa.models.model_files import cache_lock

    final = openvino_embed_folder(source, cache_dir)
    if is_converted(final):
        return final
    root = final.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        with cache_lock(root / f"{final.name}.lock", f"converting {final.name}", ModelConvertError):
            if is_converted(final):
                return final
            with build_folder(root, f".tmp-{final.name}-") as tmp:
                out = tmp / "model"
                out.mkdir()
                started = time.monotonic()
                print(f"qa: converting the embedding model to OpenVINO once, into {final} ...",
                      file=sys.stderr, flush=True)
                convert_embedder(source, out)
                info = {"version": OV_EMBED_VERSION, "source": str(source),
                        "seconds": round(time.monotonic() - started, 1)}
                write_atomic(out / MARKER, json.dumps(info, indent=1))
                replace_folder(out, final)
    except ModelConvertError:
        raise
    except Exception as exc:
        raise ModelConvertError(f"could not convert the embedding model {source} to OpenVINO: {exc}; "
                                "free disk space in the model cache (or set QA_CACHE_DIR), or set "
                                "QA_EMBED_BACKEND=sentence-transformers") from exc
    return final


def convert_embedder(source: Path, out: Path) -> None:
    """Write `out/model.xml` and `model.bin`: the encoder of `source` plus masked mean pooling,
    float32. Needs torch and transformers (only here)."""
    import warnings

    import openvino as ov
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    class MeanPooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():  # the tracer's notes on shapes are not the user's concern
            warnings.simplefilter("ignore")
            encoder = AutoModel.from_pretrained(str(source), dtype=torch.float32).eval()
            example = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
            with torch.inference_mode():
                model = ov.convert_model(MeanPooled(encoder), example_input=example,
                                         input=[("input_ids", [-1, -1]), ("attention_mask", [-1, -1])])
    finally:
        hf_logging.set_verbosity(verbosity)
    ov.save_model(model, str(out / "model.xml"), compress_to_fp16=False)


def unsupported_folder(folder: Path) -> str | None:
    """Why this adapter cannot run the sentence-transformers folder (not a plain encoder with
    mean pooling, or no tokenizer.json), else None."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        return f"the embedding model {folder.name} has no sentence-transformers modules.json"
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"the embedding model {folder.name} is not an encoder with mean pooling"
    pooling = read_config(folder / str(modules[1].get("path", "")) / "config.json")
    if not pooling.get("pooling_mode_mean_tokens"):
        return f"the embedding model {folder.name} does not pool by the mean"
    if not (folder / "tokenizer.json").is_file():
        return f"the embedding model {folder.name} has no tokenizer.json"
    return None


def _max_length(folder: Path) -> int:
    """sentence-transformers' truncation length for the folder (sentence_bert_config.json)."""
    value = read_config(folder / "sentence_bert_config.json").get("max_seq_length")
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_MAX_LENGTH


def _dimension(folder: Path) -> int:
    value = read_config(folder / "config.json").get("hidden_size")
    if not isinstance(value, int) or value <= 0:
        raise ModelLoadError(f"embedding model {folder} does not state its hidden size (config.json)")
    return value


def _pad_token(folder: Path) -> str:
    return token_text(read_config(folder / "tokenizer_config.json").get("pad_token")) or "[PAD]"
