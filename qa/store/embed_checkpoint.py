"""Embeddings of a large article saved block by block, so an interrupted run resumes inside it.

An article of at least `LARGE_ARTICLE_PASSAGES` passages is embedded in blocks of
`BLOCK_PASSAGES` passages, in passage order. Each finished block is written at once to
`index/.partial/<key>/block-<first passage>.npy` (a temp file renamed into place: a block is
whole or absent). The key is a sha256 over the embedding model, the article's content hash and
every passage's offsets, so a block is only reused for the very same passages. A later run of
the same article loads the consecutive blocks it finds (a damaged one, and all after it, is
embedded again) and embeds the rest.

These files are never part of a generation: an article is searchable only once the generation
that lists it is committed, never half-embedded. The index removes an article's folder once
that generation is live (`discard`), and the next writer removes folders untouched for
`STALE_DAYS` (`remove_stale`). This module knows no FAISS, manifest or retrieval.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from qa.atomic_files import (
    write_atomic,
)
from qa.models.embed import Embedder
from qa.records import Article, Chunk

PARTIAL_DIR = ".partial"
LARGE_ARTICLE_PASSAGES = 2048  # about 40 s of embedding at 51.5 passages/s (docs/scale-out.md)
BLOCK_PASSAGES = 1024  # a kill loses at most one block: about 20 s at that rate
STALE_DAYS = 7.0


def checkpoint_key(model: str, article: Article, chunks: list[Chunk]) -> str:
    """The folder name of an article's saved blocks: model, content and passage offsets."""
    digest = hashlib.sha256(f"{model}\0{article.content_hash}\0".encode())
    for chunk in chunks:
        digest.update(f"{chunk.start}:{chunk.end},".encode())
    return digest.hexdigest()[:32]


def embed_resumable(root: Path, key: str, texts: list[str], embedder: Embedder,
                    on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Vectors for `texts` (one article's passages, in order), reusing and saving blocks under
    `root/.partial/key`; `on_progress` gets the number of passages done so far."""
    folder = root / PARTIAL_DIR / key
    parts: list[np.ndarray] = []
    done = 0
    while done < len(texts):
        block = _load_block(folder, done, min(BLOCK_PASSAGES, len(texts) - done), embedder.dimension)
        if block is None:
            break
        parts.append(block)
        done += len(block)
    if done and on_progress is not None:
        on_progress(done)
    while done < len(texts):
        block_texts = texts[done : done + BLOCK_PASSAGES]
        vectors = _embed_longest_first(block_texts, embedder)
        _save_block(folder, done, vectors)
        parts.append(vectors)
        done += len(block_texts)
        if on_progress is not None:
            on_progress(done)
    if not parts:
        return np.zeros((0, embedder.dimension), np.float32)
    return np.vstack(parts)


def _embed_longest_first(texts: list[str], embedder: Embedder) -> np.ndarray:
    """Embed in order of length (little padding per batch), return in the texts' order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    found = embedder.embed([texts[i] for i in order])
    vectors = np.empty_like(found)
    vectors[order] = found
    return vectors


def _block_path(folder: Path, first: int) -> Path:
    return folder / f"block-{first:09d}.npy"


def _load_block(folder: Path, first: int, rows: int, dimension: int) -> np.ndarray | None:
    """A saved block of `rows` unit vectors, or None when it is missing or damaged (then the
    block and those after it are removed)."""
    path = _block_path(folder, first)
    if not path.exists():
        return None
    try:
        block = np.load(path, allow_pickle=False)
        ok = (block.dtype == np.float32 and block.ndim == 2 and block.shape[0] == rows
              and (not dimension or block.shape[1] == dimension) and bool(np.isfinite(block).all()))
    except (OSError, ValueError, EOFError):
        ok = False
    if ok:
        return block
    for later in folder.glob("block-*.npy"):
        if later.name >= path.name:
            later.unlink(missing_ok=True)
    return None


def _save_block(folder: Path, first: int, vectors: np.ndarray) -> None:
    write_atomic(_block_path(folder, first),
                 lambda fh: np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False))


def discard(root: Path, keys: Iterable[str]) -> None:
    """Remove the saved blocks of articles now committed."""
    for key in keys:
        shutil.rmtree(root / PARTIAL_DIR / key, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / PARTIAL_DIR).rmdir()  # only when empty


def saved_articles(root: Path) -> list[Path]:
    """The folders of saved blocks of articles not yet committed (from interrupted runs)."""
    partial = root / PARTIAL_DIR
    return sorted(p for p in partial.iterdir() if p.is_dir()) if partial.is_dir() else []


def remove_stale(root: Path, max_age_days: float = STALE_DAYS) -> list[str]:
    """Remove saved blocks untouched for `max_age_days` (an article never indexed again); only
    while holding the write lock. Returns the folder names removed."""
    cutoff = time.time() - max_age_days * 86400
    removed = []
    for folder in saved_articles(root):
        newest = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


__all__ = ["BLOCK_PASSAGES", "LARGE_ARTICLE_PASSAGES", "PARTIAL_DIR", "checkpoint_key", "discard",
           "embed_resumable", "remove_stale", "saved_articles"]
