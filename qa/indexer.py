"""Build and update an index from files: read, upsert by content hash, save atomically under a lock.

The one place that ties `qa.ingest` to `qa.store`; it answers no questions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qa.embed import Embedder
from qa.errors import IndexMismatchError
from qa.ingest import read_paths
from qa.records import Article
from qa.settings import SEED_DIR
from qa.store import IndexStore, write_lock


@dataclass
class IndexReport:
    """What one `qa index` run did."""

    index_dir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    articles_total: int = 0
    passages_total: int = 0
    seconds: float = 0.0


def _progress_bar(total_hint: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total_hint, unit="passage", desc="embedding", file=sys.stderr, leave=False)


def open_or_create(index_dir: Path, embedder: Embedder, rebuild: bool = False) -> IndexStore:
    """The index at `index_dir` checked against `embedder`, or a new empty one.

    With `rebuild`, an index built with another model is re-embedded from its own
    stored article texts instead of raising IndexMismatchError.
    """
    if not IndexStore.exists(index_dir):
        embedder_dim = _dimension(embedder)
        return IndexStore.create(index_dir, embedder.name, embedder_dim)
    store = IndexStore.load(index_dir)
    try:
        _dimension(embedder)
        store.check_embedder(embedder)
        return store
    except IndexMismatchError:
        if not rebuild:
            raise
    fresh = IndexStore.create(index_dir, embedder.name, _dimension(embedder))
    fresh.upsert(list(store.articles.values()), embedder)
    return fresh


def _dimension(embedder: Embedder) -> int:
    if not embedder.dimension:
        embedder.embed(["dimension probe"])
    return embedder.dimension


def upsert_articles(index_dir: Path, articles: Iterable[Article], embedder: Embedder,
                    progress: bool = False, rebuild: bool = False) -> IndexReport:
    """Add or update articles in the index at `index_dir` and save it; nothing else changes."""
    started = time.perf_counter()
    articles = list(articles)
    report = IndexReport(index_dir=str(index_dir))
    with write_lock(index_dir):
        store = open_or_create(index_dir, embedder, rebuild=rebuild)
        bar = _progress_bar(0, progress)

        def on_progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        result = store.upsert(articles, embedder, on_progress=on_progress)
        if bar is not None:
            bar.close()
        if result.added or result.updated or not IndexStore.exists(index_dir) or rebuild:
            store.save()
    report.added, report.updated, report.unchanged = result.added, result.updated, result.unchanged
    report.chunks_embedded = result.chunks_embedded
    report.articles_total, report.passages_total = len(store.articles), len(store.chunks)
    report.seconds = time.perf_counter() - started
    return report


def index_paths(index_dir: Path, paths: Iterable[str | Path], embedder: Embedder,
                progress: bool = False, rebuild: bool = False) -> IndexReport:
    """Read files and folders and upsert their articles; bad files are reported in `skipped`."""
    read = read_paths(paths)
    report = upsert_articles(index_dir, read.articles, embedder, progress=progress, rebuild=rebuild)
    report.skipped = read.skipped
    return report


def remove_articles(index_dir: Path, doc_ids: Iterable[str]) -> list[str]:
    """Delete articles by doc id and save; returns those that were in the index."""
    with write_lock(index_dir):
        store = IndexStore.load(index_dir)
        removed = store.remove(doc_ids)
        if removed:
            store.save()
    return removed


def ensure_seed_index(index_dir: Path, embedder: Embedder, progress: bool = False) -> IndexReport | None:
    """Make sure the default index holds the current seed articles with this embedder.

    Builds it when missing, re-embeds it when built with another model, updates
    changed seeds; articles a user added are kept. Returns None when nothing was to do.
    """
    seeds = read_paths([SEED_DIR]).articles
    if IndexStore.exists(index_dir):
        store = IndexStore.load(index_dir)
        same_model = store.manifest.embedding_model == embedder.name
        current = all(store.manifest.articles.get(a.doc_id, {}).get("content_hash") == a.content_hash
                      for a in seeds)
        if same_model and current:
            return None
    return upsert_articles(index_dir, seeds, embedder, progress=progress, rebuild=True)
