"""Text embedders: a small base class and the sentence-transformers adapter.

`Embedder.embed` returns float32, L2-normalised rows, so inner product is cosine
similarity. The real adapter loads its model lazily, once, on first use. This
module does not know about FAISS or the index.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ModelLoadError
from qa.settings import apply_process_defaults, env

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder(ABC):
    """Turns texts into unit vectors. Subclasses implement `_embed_batch`."""

    name: str = "embedder"
    dimension: int = 0
    batch_size: int = 32

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts in batches; returns a (len(texts), dimension) float32 array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = self._embed_all(list(texts), progress)
        rows = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.maximum(norms, 1e-12)

    def load(self) -> Embedder:
        """Load (or convert) the model now instead of on the first `embed`; a no-op here."""
        return self

    def _embed_all(self, texts: list[str], progress: bool) -> np.ndarray:
        parts = [self._embed_batch(texts[i : i + self.batch_size])
                 for i in range(0, len(texts), self.batch_size)]
        return np.vstack(parts)

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (need not be normalised)."""


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers model from a local folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, model: str | None = None, device: str = "cpu") -> None:
        from qa.models.model_files import resolve_embedding_model

        apply_process_defaults()  # offline switches and OpenMP policy, before any hub or torch import
        self.spec = model
        self.path = resolve_embedding_model(model)
        self.name = _model_name(model)
        self.device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """The loaded SentenceTransformer (loaded on first use)."""
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                    self._model = SentenceTransformer(self.path, device=self.device)
                except Exception as exc:
                    raise ModelLoadError(
                        f"cannot load embedding model {self.path!r}: {exc}"
                    ) from exc
                dimension = self._model.get_embedding_dimension()
                if dimension is None:  # sentence-transformers knows no output size for the model
                    raise ModelLoadError(f"embedding model {self.path!r} does not state its dimension")
                self.dimension = int(dimension)
        return self._model

    def load(self) -> SentenceTransformerEmbedder:
        """Load the model now (otherwise it loads on first `embed`)."""
        _ = self.model
        return self

    def _embed_all(self, texts: list[str], progress: bool) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._embed_all(texts, progress=False)


def _model_name(spec: str | None) -> str:
    """A stable name for the manifest: the setting as given, not the machine-specific path."""
    from qa.models.model_files import DEFAULT_EMBEDDING_MODEL

    return spec or env("QA_EMBED_MODEL") or DEFAULT_EMBEDDING_MODEL
