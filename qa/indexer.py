"""Build and update an index from files: read, upsert by content hash, save atomically under a lock.

Large runs are committed in batches: after every `batch_articles` changed articles, once
`checkpoint_seconds` have passed since the last save, a new generation is saved. A run
that is killed keeps every committed batch, and the next run skips those articles by
content hash, so it resumes. The one place that ties `qa.ingest` to `qa.store`; it
answers no questions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.embed import Embedder
from qa.errors import IndexCorruptError, IndexMismatchError, QAError, VectorStoreMismatchError
from qa.ingest import read_paths
from qa.records import Article
from qa.settings import SEED_DIR, VectorStoreSettings
from qa.store import IndexStore, current_generation, read_manifest, store_kind, write_lock

BATCH_ARTICLES = 256
CHECKPOINT_SECONDS = 30.0


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
    generations_saved: int = 0
    notes: list[str] = field(default_factory=list)


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="article", desc="indexing", file=sys.stderr, leave=False,
                bar_format="{l_bar}{bar}| {n:.0f}/{total} articles [{elapsed}<{remaining}]")


def open_or_create(index_dir: Path, embedder: Embedder, rebuild: bool = False,
                   notes: list[str] | None = None,
                   store: VectorStoreSettings | None = None) -> IndexStore:
    """The index at `index_dir` checked against `embedder`, or a new empty one.

    With `rebuild`, an index built with another model, or keeping its vectors in another
    store than `store.kind`, is re-embedded from its own stored article texts instead of
    raising IndexMismatchError, and an index that cannot be read at all (damaged, or
    another format) is started afresh; `notes` receives a line saying which happened.
    """
    settings = store or VectorStoreSettings.from_env()
    if not IndexStore.exists(index_dir):
        return IndexStore.create(index_dir, embedder.name, _dimension(embedder), store=_for_new(settings))
    moved = False
    try:
        old = IndexStore.load(index_dir, settings)
    except VectorStoreMismatchError:
        if not rebuild:
            raise
        old, moved = IndexStore.load(index_dir, replace(settings, kind=None)), True
    except (IndexCorruptError, IndexMismatchError) as exc:
        if not rebuild:
            raise
        if notes is not None:
            notes.append(f"the old index could not be read and was started afresh ({exc})")
        return IndexStore.create(index_dir, embedder.name, _dimension(embedder),
                                 store=_for_new(settings, _recorded_kind(index_dir)))
    if not moved:
        try:
            _dimension(embedder)
            old.check_embedder(embedder)
            return old
        except IndexMismatchError:
            if not rebuild:
                raise
    kind = settings.kind or store_kind(old.manifest)
    uri = settings.milvus_uri
    if old.milvus is not None and kind == "milvus" and not uri:
        uri = old.milvus.configured_uri or None  # rebuild where the old collection is
    fresh = IndexStore.create(index_dir, embedder.name, _dimension(embedder),
                              store=replace(settings, kind=kind, milvus_uri=uri))
    if old.milvus is not None and fresh.milvus is not None and old.milvus.uri == fresh.milvus.uri:
        fresh.milvus.schedule_drop(old.milvus.collection)  # dropped once the rebuild is committed
    fresh.upsert(list(old.articles.values()), embedder)
    if notes is not None:
        into = f" into {kind}" if moved else ""
        notes.append(f"re-embedded {len(old.articles)} stored articles with {embedder.name}{into}")
    return fresh


def _for_new(settings: VectorStoreSettings, kind: str | None = None) -> VectorStoreSettings:
    return replace(settings, kind=settings.kind or kind or "faiss")


def _recorded_kind(index_dir: Path) -> str | None:
    """The vector store an unreadable index's manifest names, when its manifest can be read."""
    try:
        gen = current_generation(index_dir)
        return store_kind(read_manifest(gen)) if gen is not None else None
    except QAError:
        return None


def _dimension(embedder: Embedder) -> int:
    if not embedder.dimension:
        embedder.embed(["dimension probe"])
    return embedder.dimension


def upsert_articles(index_dir: Path, articles: Iterable[Article], embedder: Embedder,
                    progress: bool = False, rebuild: bool = False,
                    batch_articles: int = BATCH_ARTICLES,
                    checkpoint_seconds: float = CHECKPOINT_SECONDS,
                    store_settings: VectorStoreSettings | None = None) -> IndexReport:
    """Add or update articles in the index at `index_dir`, saving in batches; nothing else changes.

    Every saved generation is complete and consistent; an interrupted run keeps the
    batches already saved (see the module docstring).
    """
    started = time.perf_counter()
    report = IndexReport(index_dir=str(index_dir))
    with write_lock(index_dir):
        store = open_or_create(index_dir, embedder, rebuild=rebuild, notes=report.notes,
                               store=store_settings)
        todo, report.unchanged = store.diff(articles)
        dirty = rebuild or not IndexStore.exists(index_dir)
        last_save = time.monotonic()
        bar = _progress_bar(len(todo), progress)
        step = max(1, batch_articles)
        for first in range(0, len(todo), step):
            batch = todo[first : first + step]

            def on_progress(done: int, total: int, first: int = first, size: int = len(batch)) -> None:
                if bar is not None:
                    bar.n = first + size * done / max(total, 1)
                    bar.refresh()

            result = store.upsert(batch, embedder, on_progress=on_progress)
            report.added += result.added
            report.updated += result.updated
            report.chunks_embedded += result.chunks_embedded
            dirty = True
            last_batch = first + step >= len(todo)
            if last_batch or time.monotonic() - last_save >= checkpoint_seconds:
                store.save()
                report.generations_saved += 1
                dirty, last_save = False, time.monotonic()
        if bar is not None:
            bar.close()
        if dirty:
            store.save()
            report.generations_saved += 1
    report.articles_total, report.passages_total = len(store.articles), len(store.chunks)
    report.seconds = time.perf_counter() - started
    return report


def index_paths(index_dir: Path, paths: Iterable[str | Path], embedder: Embedder,
                progress: bool = False, rebuild: bool = False,
                batch_articles: int = BATCH_ARTICLES,
                checkpoint_seconds: float = CHECKPOINT_SECONDS,
                store_settings: VectorStoreSettings | None = None) -> IndexReport:
    """Read files and folders and upsert their articles; bad files are reported in `skipped`."""
    read = read_paths(paths)
    report = upsert_articles(index_dir, read.articles, embedder, progress=progress, rebuild=rebuild,
                             batch_articles=batch_articles, checkpoint_seconds=checkpoint_seconds,
                             store_settings=store_settings)
    report.skipped = read.skipped
    return report


def remove_articles(index_dir: Path, doc_ids: Iterable[str],
                    store_settings: VectorStoreSettings | None = None) -> list[str]:
    """Delete articles by doc id and save; returns those that were in the index."""
    with write_lock(index_dir):
        store = IndexStore.load(index_dir, store_settings)
        removed = store.remove(doc_ids)
        if removed:
            store.save()
    return removed


def ensure_seed_index(index_dir: Path, embedder: Embedder, progress: bool = False,
                      store_settings: VectorStoreSettings | None = None) -> IndexReport | None:
    """Make sure the default index holds the current seed articles with this embedder.

    Builds it when missing, re-embeds it when built with another model, updates
    changed seeds; articles a user added are kept. Returns None when nothing was to do.
    """
    seeds = read_paths([SEED_DIR]).articles
    if IndexStore.exists(index_dir):
        store = IndexStore.load(index_dir, store_settings)
        same_model = store.manifest.embedding_model == embedder.name
        current = all(store.manifest.articles.get(a.doc_id, {}).get("content_hash") == a.content_hash
                      for a in seeds)
        if same_model and current:
            return None
    return upsert_articles(index_dir, seeds, embedder, progress=progress, rebuild=True,
                           store_settings=store_settings)
