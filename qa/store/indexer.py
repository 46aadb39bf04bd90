"""Build and update an index from files: read, upsert by content hash, save atomically under a lock.

Large runs are committed in batches: after every `batch_articles` changed articles, once
`checkpoint_seconds` have passed since the last save, a new generation is saved. A run
that is killed keeps every committed batch, and the next run skips those articles by
content hash, so it resumes; inside an article of many passages, the index saves its
embeddings block by block (`qa.store.embed_checkpoint`), so a rerun resumes there too.

Chunking and embedding happen here (`prepare_passages`); the store only stores what it is
given (`IndexStore.write_passages`).

The progress bar counts characters of article text, so its remaining time holds for one huge
article as for many small ones; an article whose embedding should take over a minute at the
documented rate is announced first (`notify`). The one place that ties `qa.ingest.read` to
`qa.store.index_store`; it answers no questions.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.errors import IndexCorruptError, IndexMismatchError, QAError, VectorStoreMismatchError
from qa.ingest.chunk import ChunkSettings, chunk_article
from qa.ingest.doc_ids import normalize_doc_id, shown
from qa.ingest.read import Skipped, read_paths
from qa.models.embed import Embedder
from qa.records import Article, Chunk
from qa.settings import SEED_DIR, VectorStoreSettings
from qa.store import embed_checkpoint
from qa.store.index_store import (
    IndexStore,
    UpsertReport,
    current_generation,
    read_manifest,
    store_kind,
    write_lock,
)
from qa.store.lock import Notify

BATCH_ARTICLES = 256
CHECKPOINT_SECONDS = 30.0
# The documented embedding rate: MiniLM on 2 CPU cores, 51.5 passages/s (docs/scale-out.md,
# measured by benchmarks/bench_ingest.py), and 3,500 characters of news make about 9 passages
# (480-character passages, one sentence of overlap; same page). A fake embedder cannot measure it.
PASSAGES_PER_SECOND = 51.5
CHARS_PER_PASSAGE = 390
ANNOUNCE_SECONDS = 60.0  # an article estimated to take longer than this is announced first
EMBED_STEP = 128  # texts per embedding call when progress is reported

log = logging.getLogger("qa.store.indexer")


@dataclass
class IndexReport:
    """What one `qa index` run did."""

    index_dir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0
    articles_total: int = 0
    passages_total: int = 0
    seconds: float = 0.0
    generations_saved: int = 0
    notes: list[str] = field(default_factory=list)


def _progress_bar(total_chars: int, enabled: bool):
    """A bar over the characters to embed: its remaining time holds for any mix of article sizes."""
    if not enabled or total_chars == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total_chars, unit="char", unit_scale=True, desc="indexing", file=sys.stderr,
                leave=False, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} characters "
                "[{elapsed}<{remaining}]{postfix}")


def embedding_estimate(chars: int) -> tuple[int, float]:
    """(passages, seconds) to embed an article of `chars` characters at the documented rate."""
    passages = max(1, round(chars / CHARS_PER_PASSAGE))
    return passages, passages / PASSAGES_PER_SECOND


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def announce_large_articles(articles: Iterable[Article], notify: Notify,
                            over_seconds: float | None = None) -> None:
    """One line per article whose embedding should take over `over_seconds` (default
    ANNOUNCE_SECONDS) at the documented rate, saying how long and that it is resumable."""
    limit = ANNOUNCE_SECONDS if over_seconds is None else over_seconds
    for article in articles:
        passages, seconds = embedding_estimate(len(article.text))
        if seconds <= limit:
            continue
        saved = passages >= embed_checkpoint.LARGE_ARTICLE_PASSAGES
        resumable = (f"its embeddings are saved every {embed_checkpoint.BLOCK_PASSAGES:,} passages, "
                     "so an interrupted run resumes inside it" if saved
                     else "an interrupted run embeds it again")
        notify(f"{shown(article.source_path or article.doc_id)}: {len(article.text):,} characters, about "
               f"{passages:,} passages; embedding takes about {_minutes(seconds)} at {PASSAGES_PER_SECOND} "
               f"passages/s (MiniLM on 2 CPU cores, docs/scale-out.md); {resumable}")


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
    upsert(fresh, list(old.articles.values()), embedder)
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


@dataclass
class PreparedPassages:
    """New or changed articles cut into passages and embedded, ready for `IndexStore.write_passages`."""

    articles: list[Article]
    chunks: list[Chunk]
    vectors: np.ndarray
    checkpoints: list[str] = field(default_factory=list)  # saved blocks of large articles


def prepare_passages(store: IndexStore, articles: Sequence[Article], embedder: Embedder,
                     progress: bool = False,
                     on_progress: Callable[[int, int], None] | None = None) -> PreparedPassages:
    """Chunk `articles` with the index's chunking settings (ids from its next free one) and embed
    the passages. An article of at least `embed_checkpoint.LARGE_ARTICLE_PASSAGES` passages is
    embedded in blocks saved in the index folder, so that a run killed inside it resumes there;
    the others are embedded together. Nothing in the store changes."""
    settings = ChunkSettings(**store.manifest.chunking)
    next_id = store.manifest.next_chunk_id
    pieces_of: list[tuple[Article, list[Chunk]]] = []
    for article in articles:
        pieces = chunk_article(article.doc_id, article.text, next_id, settings)
        next_id += len(pieces)
        pieces_of.append((article, pieces))
    chunks = [c for _, pieces in pieces_of for c in pieces]
    large = [(a, p) for a, p in pieces_of if len(p) >= embed_checkpoint.LARGE_ARTICLE_PASSAGES]
    if not large:
        vectors = _embed(chunks, embedder, store.manifest.dimension, progress, on_progress)
        return PreparedPassages(list(articles), chunks, vectors)
    small = [c for _, p in pieces_of if len(p) < embed_checkpoint.LARGE_ARTICLE_PASSAGES for c in p]
    total, done = len(chunks), 0

    def report(count: int) -> None:
        if on_progress is not None:
            on_progress(done + count, total)

    by_id: dict[int, np.ndarray] = {}
    small_vectors = _embed(small, embedder, store.manifest.dimension, False, lambda d, _t: report(d))
    by_id.update(zip((c.chunk_id for c in small), small_vectors, strict=True))
    done = len(small)
    keys = []
    for article, pieces in large:
        key = embed_checkpoint.checkpoint_key(embedder.name, article, pieces)
        vectors = embed_checkpoint.embed_resumable(store.root, key, [c.text for c in pieces], embedder,
                                                   on_progress=report)
        by_id.update(zip((c.chunk_id for c in pieces), vectors, strict=True))
        keys.append(key)
        done += len(pieces)
    return PreparedPassages(list(articles), chunks, np.vstack([by_id[c.chunk_id] for c in chunks]), keys)


def _embed(chunks: list[Chunk], embedder: Embedder, dimension: int, progress: bool,
           on_progress: Callable[[int, int], None] | None) -> np.ndarray:
    """Vectors for the chunks, in their order. Texts are embedded longest first, so each
    batch holds texts of similar length and little padding (the whole set, not per step)."""
    texts = [c.text for c in chunks]
    if on_progress is None:
        return embedder.embed(texts, progress=progress)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    parts = []
    for i in range(0, len(order), EMBED_STEP):
        parts.append(embedder.embed([texts[j] for j in order[i : i + EMBED_STEP]]))
        on_progress(min(i + EMBED_STEP, len(texts)), len(texts))
    if not parts:
        return np.zeros((0, dimension), np.float32)
    vectors = np.empty((len(texts), parts[0].shape[1]), dtype=parts[0].dtype)
    vectors[order] = np.vstack(parts)
    return vectors


def upsert(store: IndexStore, articles: Iterable[Article], embedder: Embedder, progress: bool = False,
           on_progress: Callable[[int, int], None] | None = None) -> UpsertReport:
    """Add new articles to `store`, replace changed ones (by content hash), skip unchanged ones.

    Passages are chunked and embedded first; only then are old passages removed and new ones
    added, so an embedding failure leaves the store as it was. In memory: `store.save()` writes.
    """
    todo, unchanged = store.diff(articles)
    if not todo:
        return UpsertReport(unchanged=unchanged)
    prepared = prepare_passages(store, todo, embedder, progress, on_progress)
    report = store.write_passages(prepared.articles, prepared.chunks, prepared.vectors, prepared.checkpoints)
    report.unchanged = unchanged
    return report


def upsert_articles(index_dir: Path, articles: Iterable[Article], embedder: Embedder,
                    progress: bool = False, rebuild: bool = False,
                    batch_articles: int = BATCH_ARTICLES,
                    checkpoint_seconds: float = CHECKPOINT_SECONDS,
                    store_settings: VectorStoreSettings | None = None,
                    notify: Notify | None = None) -> IndexReport:
    """Add or update articles in the index at `index_dir`, saving in batches; nothing else changes.

    Every saved generation is complete and consistent; an interrupted run keeps the
    batches already saved (see the module docstring). `notify` (default: a warning on the
    `qa.store.indexer` logger) gets one line when the run waits for another writer's lock and
    for each article that will take long to embed.
    """
    started = time.perf_counter()
    report = IndexReport(index_dir=str(index_dir))
    notify = notify or log.warning
    with write_lock(index_dir, on_wait=notify):
        store = open_or_create(index_dir, embedder, rebuild=rebuild, notes=report.notes,
                               store=store_settings)
        todo, report.unchanged = store.diff(articles)
        announce_large_articles(todo, notify)
        dirty = rebuild or not IndexStore.exists(index_dir)
        last_save = time.monotonic()
        bar = _progress_bar(sum(len(a.text) for a in todo), progress)
        step = max(1, batch_articles)
        chars_before = 0
        for first in range(0, len(todo), step):
            batch = todo[first : first + step]
            batch_chars = sum(len(a.text) for a in batch)

            def on_progress(done: int, total: int, before: int = chars_before, size: int = batch_chars,
                            last: int = first + len(batch)) -> None:
                if bar is not None:
                    bar.n = before + size * done / max(total, 1)
                    bar.set_postfix_str(f"articles {last}/{len(todo)}", refresh=False)
                    bar.refresh()

            result = upsert(store, batch, embedder, on_progress=on_progress)
            chars_before += batch_chars
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
                store_settings: VectorStoreSettings | None = None,
                follow_links: bool = False, notify: Notify | None = None) -> IndexReport:
    """Read files and folders and upsert their articles; bad files are reported in `skipped`.

    Symbolic links inside folders that lead out of them are followed only with `follow_links`.
    """
    read = read_paths(paths, follow_links=follow_links)
    report = upsert_articles(index_dir, read.articles, embedder, progress=progress, rebuild=rebuild,
                             batch_articles=batch_articles, checkpoint_seconds=checkpoint_seconds,
                             store_settings=store_settings, notify=notify)
    report.skipped = read.skipped
    return report


def remove_articles(index_dir: Path, doc_ids: Iterable[str],
                    store_settings: VectorStoreSettings | None = None,
                    notify: Notify | None = None) -> list[str]:
    """Delete articles by doc id and save; returns those that were in the index.

    An id is looked up as given, else in its normal form (`qa.ingest.doc_ids`: 'zero\\u200bwidth'
    finds 'zerowidth').
    """
    with write_lock(index_dir, on_wait=notify or log.warning):
        store = IndexStore.load(index_dir, store_settings)
        wanted = [d if d in store.articles else normalize_doc_id(d) for d in doc_ids]
        removed = store.remove(wanted)
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
