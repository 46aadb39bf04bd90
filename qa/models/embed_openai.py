"""The served-embeddings adapter: the same `Embedder` over an OpenAI-compatible `/v1/embeddings`.

`OpenAIEmbedder` (`QA_EMBED_URL`) sends passages in batches of `batch_size` to vLLM, TEI,
Ollama or any server of that API, a few requests at a time, so one index can be embedded by
a pool of machines behind one address. Rows come back in input order and are L2-normalised
by `Embedder.embed`, as the local embedder's are. `name` is the served model's name
(`QA_EMBED_MODEL`, else the single model the server lists) and `dimension` is learnt from
the first reply: the index manifest records both, as for a local model, so an index built
with one model is refused with another.

Transport, retries and error names are `qa.models.openai_http`'s; this module only batches.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from qa.errors import EmptyReplyError, ServerError
from qa.models.embed import Embedder
from qa.models.generate_openai import served_model_name
from qa.models.openai_http import ServedAPI

DEFAULT_BATCH = 64
DEFAULT_CONCURRENCY = 4  # requests in flight: lets a server batch, or a load balancer spread


class OpenAIEmbedder(Embedder):
    """Text embeddings from an OpenAI-compatible server."""

    def __init__(self, model: str | None = None, url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, batch_size: int = DEFAULT_BATCH,
                 concurrency: int = DEFAULT_CONCURRENCY, retries: int | None = None,
                 backoff: float | None = None) -> None:
        from qa.settings import Settings

        settings = Settings.from_env()
        url = url or settings.embed_url
        if not url:
            raise ServerError("served embeddings need the server's address: set QA_EMBED_URL to its base "
                              "URL ending in /v1")
        self.api = ServedAPI(url, api_key if api_key is not None else settings.embed_api_key,
                             timeout=timeout or settings.llm_timeout, what="embedding server",
                             key_env="QA_EMBED_API_KEY", url_env="QA_EMBED_URL", retries=retries,
                             backoff=backoff)
        self._model = model or settings.embed_model or None
        self.batch_size = max(1, int(batch_size))
        self.concurrency = max(1, int(concurrency))
        self.dimension = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self._model!r}, api={self.api!r})"

    @property
    def name(self) -> str:  # type: ignore[override]
        """The served model's name (asked of the server once when not set)."""
        with self._lock:
            if self._model is None:
                self._model = served_model_name(self.api, None)
            return self._model

    def load(self) -> OpenAIEmbedder:
        """Learn the model's name and dimension now (one small request)."""
        if not self.dimension:
            self.embed(["dimension probe"])
        return self

    def _embed_all(self, texts: list[str], progress: bool) -> np.ndarray:
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            return self._embed_batch(batches[0])
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="passage")
        _ = self.name  # resolve once, before the threads
        parts: list[np.ndarray] = []
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="qa-embed") as pool:
            for batch, rows in zip(batches, pool.map(self._embed_batch, batches), strict=True):
                parts.append(rows)
                if bar is not None:
                    bar.update(len(batch))
        if bar is not None:
            bar.close()
        return np.vstack(parts)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        reply = self.api.post_json("embeddings", {"model": self.name, "input": texts,
                                                  "encoding_format": "float"})
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list) or len(data) != len(texts):
            got = len(data) if isinstance(data, list) else 0
            raise EmptyReplyError(f"the embedding server at {self.api.base_url} returned {got} vectors "
                                  f"for {len(texts)} texts")
        data = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
        try:
            rows = np.array([_vector(d["embedding"]) for d in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmptyReplyError(f"the embedding server at {self.api.base_url} sent vectors of "
                                  f"uneven or unreadable shape ({exc.__class__.__name__})") from exc
        if rows.ndim != 2 or rows.shape[1] == 0 or not np.isfinite(rows).all():
            raise EmptyReplyError(f"the embedding server at {self.api.base_url} sent empty or "
                                  "non-finite vectors")
        with self._lock:
            if not self.dimension:
                self.dimension = int(rows.shape[1])
            elif rows.shape[1] != self.dimension:
                raise EmptyReplyError(f"the embedding server at {self.api.base_url} switched from "
                                      f"{self.dimension}- to {rows.shape[1]}-dim vectors")
        return rows


def _vector(value: object) -> np.ndarray:
    """One embedding: a list of floats, or base64 of little-endian float32."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    return np.asarray(value, dtype=np.float32)
