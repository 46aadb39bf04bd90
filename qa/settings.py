"""Where things are and how many of them: index folder, models, answer knobs, runtimes.

Every `QA_*` environment variable is listed once in `ENVIRONMENT` (its CLI flag, default and a
one-line doc, the table README shows) and read only here, through `env`. The process-wide
defaults that must be set before torch or a hub library loads (`PROCESS_DEFAULTS`) are applied
by the entry points with `apply_process_defaults`; importing qa changes nothing.
This module only reads settings; it loads and builds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
SEED_DIR = PACKAGE_DIR / "seeds"


@dataclass(frozen=True)
class EnvVar:
    """One environment variable qa reads: its name, CLI flag ("" if none), default and meaning."""

    name: str
    flag: str
    default: str
    doc: str


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("QA_INDEX_DIR", "--index-dir", "index/ of the checkout, else ~/.local/share/qa/index",
           "the index folder"),
    EnvVar("QA_CACHE_DIR", "", "~/.cache/qa", "where assembled and converted models are kept"),
    EnvVar("QA_EMBED_MODEL", "--embed-model", "all-minilm-l6-v2", "the embedding model (name or path)"),
    EnvVar("QA_EMBED_BACKEND", "", "auto (openvino where it runs, else sentence-transformers)",
           "the local embedding runtime: auto, openvino or sentence-transformers"),
    EnvVar("QA_EMBED_URL", "--embed-url", "", "a served /v1/embeddings base URL instead of the local model"),
    EnvVar("QA_EMBED_API_KEY", "", "QA_LLM_API_KEY", "the key for QA_EMBED_URL (never shown)"),
    EnvVar("QA_LLM_MODEL", "--llm-model", "qwen2.5-coder-1.5b",
           "the answering model (name, path or served name)"),
    EnvVar("QA_LLM_BACKEND", "--llm-backend", "openvino (transformers where OpenVINO is missing)",
           "the answering runtime: openvino, transformers, llama.cpp or openai"),
    EnvVar("QA_LLM_PRECISION", "", "float32 (transformers), int8 (openvino)",
           "weight precision: int8 for transformers; int4, int8 or fp16 for openvino"),
    EnvVar("QA_LLM_URL", "--llm-url", "", "a served OpenAI-compatible /v1 base URL (backend openai)"),
    EnvVar("QA_LLM_API_KEY", "", "", "the served model's key, sent as a bearer token (never shown)"),
    EnvVar("QA_LLM_TIMEOUT", "", "120", "seconds without a byte from the served model before giving up"),
    EnvVar("QA_PREFIX_CACHE", "", "1", "transformers: reuse the system prompt's attention cache (0: off)"),
    EnvVar("QA_OV_HINT", "", "f32", "openvino: the inference precision hint (f32 or bf16)"),
    EnvVar("QA_OV_RELEASE_WEIGHTS", "", "1",
           "openvino: give back the mapped weights' pages once repacked (0: keep them resident)"),
    EnvVar("QA_THREADS", "", "all cores", "threads for the answering runtime"),
    EnvVar("QA_PASSAGES", "--passages", "4", "passages given to the model per question"),
    EnvVar("QA_FOCUS_CHARS", "--focus-chars", "0",
           "cut each passage the model reads to the sentences around its best match (0: whole)"),
    EnvVar("QA_MAX_NEW_TOKENS", "--max-new-tokens", "96", "the longest draft, in tokens"),
    EnvVar("QA_MIN_RELEVANCE", "", "0.25", "below this best dense score the articles don't say"),
    EnvVar("QA_ANSWER_GATE", "", "1", "0 turns off the answer gate (abstain when the checked answer "
           "is likely wrong)"),
    EnvVar("QA_VECTOR_STORE", "--vector-store", "faiss (new indexes)", "where vectors live: faiss or milvus"),
    EnvVar("QA_MILVUS_URI", "", "milvus.db in the index folder", "a Milvus Lite path or a server URL"),
    EnvVar("QA_MILVUS_TOKEN", "", "", "the Milvus server's token (never shown)"),
    EnvVar("QA_HOST", "--host", "127.0.0.1", "the chat UI's address"),
)
_REGISTERED = frozenset(var.name for var in ENVIRONMENT)

# Set (unless the user set them) before torch or a hub library loads. Idle OpenMP threads sleep
# instead of spinning: on a 2-core machine shared with other work a spinning pool slowed query
# embedding and decoding several times over (benchmarks/README.md). The hub switches keep every
# model load on local files; Gradio's analytics would phone home.
PROCESS_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "GRADIO_ANALYTICS_ENABLED": "False"}


def env(name: str) -> str:
    """The stripped value of a registered `QA_*` variable ("" when unset): the one place qa reads them."""
    if name not in _REGISTERED:
        raise KeyError(f"{name} is not a registered setting (qa.settings.ENVIRONMENT)")
    return os.environ.get(name, "").strip()


def apply_process_defaults() -> None:
    """Set `PROCESS_DEFAULTS` where the user has not. Called by entry points (the CLI, the app,
    `Assistant`) and by model loaders before they import torch or a hub library."""
    for name, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(name, value)


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, for a child process (e.g. the OpenVINO export)."""
    return {**os.environ, **extra}


def gradio_port() -> int | None:
    """Gradio's own GRADIO_SERVER_PORT, when it holds a port number."""
    value = os.environ.get("GRADIO_SERVER_PORT", "").strip()
    return int(value) if value.isdigit() else None


def default_index_dir() -> Path:
    """`QA_INDEX_DIR`, else `index/` of the source checkout, else ~/.local/share/qa/index."""
    value = env("QA_INDEX_DIR")
    if value:
        return Path(value).expanduser()
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists() and (checkout / "index").is_dir():
        return checkout / "index"
    return Path.home() / ".local" / "share" / "qa" / "index"


VECTOR_STORES = ("faiss", "milvus")


@dataclass(frozen=True)
class VectorStoreSettings:
    """Which store holds the dense vectors, and how to reach Milvus.

    `kind` None opens an index with the store it was built with and builds new ones with
    FAISS; "faiss" or "milvus" asks for that store (an index built with the other one is a
    `VectorStoreMismatchError`). `milvus_uri` is a local path (Milvus Lite) or
    http://host:19530 (a server); None means `milvus.db` inside the index folder.
    """

    kind: str | None = None
    milvus_uri: str | None = None
    milvus_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, kind: str | None = None, milvus_uri: str | None = None) -> VectorStoreSettings:
        """QA_VECTOR_STORE, QA_MILVUS_URI, QA_MILVUS_TOKEN, overridden by non-None arguments."""
        return cls(kind=kind or env("QA_VECTOR_STORE").lower() or None,
                   milvus_uri=milvus_uri or env("QA_MILVUS_URI") or None,
                   milvus_token=env("QA_MILVUS_TOKEN"))


def _env_int(name: str, default: int) -> int:
    value = env(name)
    return int(value) if value.isdigit() else default


def _env_float(name: str, default: float) -> float:
    try:
        return float(env(name) or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    """Answering settings; `Settings.from_env()` applies the QA_* environment variables."""

    index_dir: Path = field(default_factory=default_index_dir)
    embed_model: str | None = None
    llm_model: str | None = None
    llm_backend: str | None = None  # openvino, transformers, llama.cpp, openai; None: QA_LLM_BACKEND
    passages: int = 4
    max_new_tokens: int = 96
    focus_chars: int = 0  # >0: the model reads passages cut to this many chars around the best sentence
    min_relevance: float = 0.25
    answer_gate: bool = True  # the fitted keep-or-abstain decision on checked answers (qa.answer.gate)
    max_question_chars: int = 2000
    # Served models (OpenAI-compatible): base URLs ending in /v1; keys never shown (repr=False).
    llm_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 120.0
    embed_url: str | None = None
    embed_api_key: str | None = field(default=None, repr=False)
    vector_store: str | None = None  # "faiss" | "milvus"; None: QA_VECTOR_STORE or the index's own
    milvus_uri: str | None = None  # None: QA_MILVUS_URI, else milvus.db in the index folder

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then QA_* variables, then non-None `overrides`."""
        base = cls(
            embed_model=env("QA_EMBED_MODEL") or None,
            llm_model=env("QA_LLM_MODEL") or None,
            llm_backend=env("QA_LLM_BACKEND") or None,
            passages=_env_int("QA_PASSAGES", 4),
            max_new_tokens=_env_int("QA_MAX_NEW_TOKENS", 96),
            focus_chars=_env_int("QA_FOCUS_CHARS", 0),
            min_relevance=_env_float("QA_MIN_RELEVANCE", 0.25),
            answer_gate=env("QA_ANSWER_GATE").lower() not in ("0", "false", "no", "off"),
            llm_url=env("QA_LLM_URL") or None,
            llm_api_key=env("QA_LLM_API_KEY") or None,
            llm_timeout=_env_float("QA_LLM_TIMEOUT", 120.0),
            embed_url=env("QA_EMBED_URL") or None,
            embed_api_key=env("QA_EMBED_API_KEY") or env("QA_LLM_API_KEY") or None,
        )
        base = replace(base, vector_store=env("QA_VECTOR_STORE").lower() or None,
                       milvus_uri=env("QA_MILVUS_URI") or None)
        chosen = {k: v for k, v in overrides.items() if v is not None}
        if "index_dir" in chosen:
            chosen["index_dir"] = Path(str(chosen["index_dir"])).expanduser()
        return replace(base, **chosen)

    def store(self) -> VectorStoreSettings:
        """The vector-store settings (the Milvus token is read from QA_MILVUS_TOKEN here, never kept)."""
        return VectorStoreSettings.from_env(kind=self.vector_store, milvus_uri=self.milvus_uri)

    def is_default_index(self) -> bool:
        """Whether the index folder is the default one, which is kept built from the seeds."""
        return self.index_dir.resolve() == default_index_dir().resolve()
