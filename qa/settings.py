"""Where things are and how many of them: index folder, models, answer knobs.

Every setting has a default, an environment variable and (in the CLI) a flag.
This module only reads settings; it loads and builds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
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
        chosen = {k: v for k, v in overrides.items() if v is not None}
        if "index_dir" in chosen:
            chosen["index_dir"] = Path(str(chosen["index_dir"])).expanduser()
        return replace(base, **chosen)

    def is_default_index(self) -> bool:
        """Whether the index folder is the default one, which is kept built from the seeds."""
        return self.index_dir.resolve() == default_index_dir().resolve()
