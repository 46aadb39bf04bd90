"""Where things are and how many of them: index folder, models, answer knobs.

Every setting has a default, an environment variable and (in the CLI) a flag.
This module only reads settings; it loads and builds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
SEED_DIR = PACKAGE_DIR / "seeds"


def default_index_dir() -> Path:
    """`QA_INDEX_DIR`, else `index/` of the source checkout, else ~/.local/share/qa/index."""
    env = os.environ.get("QA_INDEX_DIR", "").strip()
    if env:
        return Path(env).expanduser()
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
        return cls(kind=kind or os.environ.get("QA_VECTOR_STORE", "").strip().lower() or None,
                   milvus_uri=milvus_uri or os.environ.get("QA_MILVUS_URI", "").strip() or None,
                   milvus_token=os.environ.get("QA_MILVUS_TOKEN", "").strip())


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    """Answering settings; `Settings.from_env()` applies the QA_* environment variables."""

    index_dir: Path = field(default_factory=default_index_dir)
    embed_model: str | None = None
    llm_model: str | None = None
    llm_backend: str | None = None  # "transformers" | "llama.cpp" | "openai"; None: QA_LLM_BACKEND or default
    passages: int = 4
    max_new_tokens: int = 96
    min_relevance: float = 0.25
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
            embed_model=os.environ.get("QA_EMBED_MODEL") or None,
            llm_model=os.environ.get("QA_LLM_MODEL") or None,
            llm_backend=os.environ.get("QA_LLM_BACKEND", "").strip() or None,
            passages=_env_int("QA_PASSAGES", 4),
            max_new_tokens=_env_int("QA_MAX_NEW_TOKENS", 96),
            min_relevance=_env_float("QA_MIN_RELEVANCE", 0.25),
            llm_url=os.environ.get("QA_LLM_URL", "").strip() or None,
            llm_api_key=os.environ.get("QA_LLM_API_KEY", "").strip() or None,
            llm_timeout=_env_float("QA_LLM_TIMEOUT", 120.0),
            embed_url=os.environ.get("QA_EMBED_URL", "").strip() or None,
            embed_api_key=(os.environ.get("QA_EMBED_API_KEY", "").strip()
                           or os.environ.get("QA_LLM_API_KEY", "").strip() or None),
        )
        base = replace(base, vector_store=os.environ.get("QA_VECTOR_STORE", "").strip().lower() or None,
                       milvus_uri=os.environ.get("QA_MILVUS_URI", "").strip() or None)
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
