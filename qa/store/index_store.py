"""The on-disk index: vectors, passage table, BM25, manifest (FAISS only via qa.store.vector_index).

The dense vectors live in one of two stores, recorded in the manifest's `vector_store`:
FAISS (`vectors.faiss` in each generation, the default) or a Milvus collection
(`qa.store.milvus`; the generation then holds no vector file, and the committed manifest
decides which of the collection's rows are live). Everything else is the same for both.

Layout of an index folder:

    index/CURRENT            name of the live generation, replaced atomically
    index/gen-000007/        manifest.json, articles.jsonl, chunks.jsonl, vectors.faiss
    index/.lock              held by a writer (qa.store.lock); .lock.holder says who
    index/.partial/          saved embeddings of large articles being indexed (qa.store.embed_checkpoint)

A save writes a complete new generation folder, fsyncs it, then swaps CURRENT
(`os.replace`), so a reader or a crash only ever sees the old or the new state.
A load reads each file once, checks it against the manifest's size and sha256,
and retries when a writer swapped CURRENT underneath it.

FAISS ids are chunk ids. `qa.store.vector_index` picks the index type by size (exact
IndexIDMap2 over IndexFlatIP for small collections, float16 IVF above
`vector_index.POLICY.flat_max`) and rebuilds it only on the rare transitions its
policy names; both types delete removed vectors physically (`ntotal` drops), so
deletions never pile up and no compaction step is needed; chunk ids are never
reused. This module does not read files, chunk text or run models: the indexer
(`qa.store.indexer`) passes articles with their passages and vectors in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.atomic_files import (
    fsync_dir,
    fsync_file,
    write_atomic,
)
from qa.errors import (
    EmptyCorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    VectorStoreMismatchError,
    VectorStoreUnavailableError,
)
from qa.ingest.chunk import ChunkSettings
from qa.models.embed import Embedder
from qa.records import Article, Chunk
from qa.settings import VECTOR_STORES, VectorStoreSettings
from qa.store import embed_checkpoint, vector_index
from qa.store.lock import LOCK_TIMEOUT_S, Notify, hold

if TYPE_CHECKING:
    from qa.store.bm25 import BM25Index

FORMAT_VERSION = 1
_FILES = ("manifest.json", "articles.jsonl", "chunks.jsonl", "vectors.faiss")
_DATA_FILES = _FILES[1:]
_LOAD_ATTEMPTS = 5
# Manifest fields and the JSON types they must have.
_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "format_version": int, "embedding_model": str, "dimension": int, "chunking": dict,
    "next_chunk_id": int, "generation": int, "created": (int, float), "updated": (int, float),
    "files": dict, "articles": dict, "vector_store": dict,
}
FAISS = "faiss"


def _data_files(manifest: Manifest) -> tuple[str, ...]:
    """The data files of a generation: without vectors.faiss when Milvus holds the vectors."""
    return _DATA_FILES if store_kind(manifest) == FAISS else _DATA_FILES[:2]


def store_kind(manifest: Manifest) -> str:
    """Which store holds an index's vectors: "faiss" or "milvus"."""
    return str(manifest.vector_store.get("kind", FAISS))


def _manifest_json(manifest: Manifest) -> dict:
    """The manifest as written: a FAISS index's has no `vector_store` field (the default), so
    its files are what qa wrote before Milvus was a choice."""
    data = asdict(manifest)
    if store_kind(manifest) == FAISS:
        data.pop("vector_store")
    return data


def _published_by(published: str | None, date: str) -> bool:
    return not published or published <= date


@dataclass
class Manifest:
    """What an index holds and how it was built; checked on every load."""

    format_version: int
    embedding_model: str
    dimension: int
    chunking: dict
    next_chunk_id: int = 0
    generation: int = 0
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    files: dict[str, dict] = field(default_factory=dict)
    articles: dict[str, dict] = field(default_factory=dict)
    vector_store: dict = field(default_factory=lambda: {"kind": FAISS})


@dataclass
class UpsertReport:
    """Doc ids added, replaced and left alone (same content hash) by one upsert."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks_embedded: int = 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _parse_jsonl(data: bytes) -> Iterator[dict]:
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError("a row is not a JSON object")
            yield row


def _read_verified(gen: Path, name: str, expected: dict | None,
                   damaged: Callable[[object], IndexCorruptError]) -> bytes:
    """A data file's bytes, checked against the manifest's size and sha256."""
    try:
        data = (gen / name).read_bytes()
    except FileNotFoundError as exc:
        raise damaged(f"{name} is missing") from exc
    except OSError as exc:
        raise damaged(f"{name} is unreadable ({exc.strerror or exc})") from exc
    if not isinstance(expected, dict) or "bytes" not in expected or "sha256" not in expected:
        raise damaged(f"the manifest has no size and checksum for {name}")
    if len(data) != expected["bytes"]:
        raise damaged(f"{name} is {len(data)} bytes, expected {expected['bytes']}")
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise damaged(f"{name} does not match its checksum")
    return data


def current_generation(root: Path) -> Path | None:
    """The live generation folder of an index, or None when there is no index at `root`."""
    pointer = root / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{pointer}: unreadable ({exc}); rebuild with qa index --rebuild") from exc
    if not name.startswith("gen-") or "/" in name or "\\" in name or name in ("gen-.", "gen-.."):
        raise IndexCorruptError(f"{pointer}: names no generation ({name[:40]!r})")
    return root / name


class IndexStore:
    """An index in memory: articles, passages, vectors; `save` writes it back atomically."""

    def __init__(self, root: Path, manifest: Manifest, articles: dict[str, Article],
                 chunks: dict[int, Chunk], vectors, milvus=None) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.articles = articles
        self.chunks = chunks
        self.vectors = vectors  # the FAISS index; None when Milvus holds the vectors
        self.milvus = milvus  # a qa.store.milvus.MilvusVectors, or None
        self._bm25: BM25Index | None = None
        self._write_prepared = False
        self._checkpoints: set[str] = set()  # saved blocks of large articles, dropped once committed

    # ---- creating and loading -------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, embedding_model: str, dimension: int,
               chunking: ChunkSettings | None = None,
               store: VectorStoreSettings | None = None) -> IndexStore:
        """A new, empty index in memory (nothing is written until `save`; with the Milvus
        store, an empty collection is created at once)."""
        manifest = Manifest(format_version=FORMAT_VERSION, embedding_model=embedding_model,
                            dimension=dimension, chunking=asdict(chunking or ChunkSettings()))
        kind = (store.kind if store else None) or FAISS
        if kind not in VECTOR_STORES:
            raise VectorStoreUnavailableError(f"unknown vector store {kind!r} (one of: "
                                              f"{', '.join(VECTOR_STORES)})")
        if kind == FAISS:
            return cls(Path(root), manifest, {}, {}, vector_index.new_flat(dimension))
        from qa.store.milvus import MilvusVectors, resolve_uri

        assert store is not None
        keep: set[str] = set()
        try:  # the live index's collection is never an unfinished build's
            gen = current_generation(Path(root))
            if gen is not None:
                keep.add(str(read_manifest(gen).vector_store.get("collection", "")))
        except (IndexCorruptError, IndexMismatchError):
            pass
        milvus = MilvusVectors.create(resolve_uri(store.milvus_uri, Path(root)), dimension,
                                      token=store.milvus_token, root=Path(root), keep=frozenset(keep))
        milvus.configured_uri = resolve_uri(store.milvus_uri, Path(root)) if store.milvus_uri else ""
        manifest.vector_store = milvus.manifest_entry()
        made = cls(Path(root), manifest, {}, {}, None, milvus=milvus)
        made._write_prepared = True  # a new collection: nothing of a killed writer to clean
        return made

    @classmethod
    def exists(cls, root: str | Path) -> bool:
        """Whether `root` holds an index (a CURRENT pointer)."""
        return (Path(root) / "CURRENT").exists()

    @classmethod
    def load(cls, root: str | Path, store: VectorStoreSettings | None = None) -> IndexStore:
        """Load the live generation; raises IndexMissingError, IndexCorruptError or IndexMismatchError.

        Every data file is checked against the manifest's size and sha256. When a writer
        replaces CURRENT (and prunes the generation being read) during the load, the load
        starts again from the new CURRENT; a reader never sees a half-written index.
        `store` (default: the QA_VECTOR_STORE / QA_MILVUS_* settings) says how to reach
        Milvus; a `store.kind` other than the index's own is a VectorStoreMismatchError.
        """
        store = store or VectorStoreSettings.from_env()
        root = Path(root)
        for attempt in range(_LOAD_ATTEMPTS):
            gen = current_generation(root)
            if gen is None:
                raise IndexMissingError(
                    f"no index at {root} (build one with: qa index PATH --index-dir {root})"
                )
            try:
                return cls._load_generation(root, gen, store)
            except (IndexCorruptError, IndexMismatchError):
                if attempt + 1 < _LOAD_ATTEMPTS and current_generation(root) != gen:
                    continue  # a writer swapped generations while we read: read the new one
                raise
        raise AssertionError("unreachable")

    @classmethod
    def _load_generation(cls, root: Path, gen: Path, store: VectorStoreSettings) -> IndexStore:
        def damaged(why: object) -> IndexCorruptError:
            return IndexCorruptError(
                f"index at {root} is damaged: {why} (rebuild it with qa index --rebuild PATH...)"
            )

        manifest = read_manifest(gen)
        kind = store_kind(manifest)
        if store.kind and store.kind != kind:
            raise VectorStoreMismatchError(
                f"the index at {root} keeps its vectors in {kind}, not {store.kind}; rebuild it with "
                f"`qa index --rebuild PATH --index-dir {root} --vector-store {store.kind}`, or open it "
                f"with --vector-store {kind}")
        data = {name: _read_verified(gen, name, manifest.files.get(name), damaged)
                for name in _data_files(manifest)}
        try:
            articles: dict[str, Article] = {}
            for row in _parse_jsonl(data["articles.jsonl"]):
                article = Article(**row)
                if not isinstance(article.doc_id, str) or not isinstance(article.text, str):
                    raise TypeError("article doc_id and text must be strings")
                articles[article.doc_id] = article
            chunks: dict[int, Chunk] = {}
            for row in _parse_jsonl(data["chunks.jsonl"]):
                article = articles[row["doc_id"]]
                cid, start, end = int(row["chunk_id"]), int(row["start"]), int(row["end"])
                if not 0 <= start < end <= len(article.text) or cid in chunks:
                    raise ValueError(f"passage {cid} has bad offsets or a repeated id")
                chunks[cid] = Chunk(cid, row["doc_id"], start, end, article.text[start:end])
            vectors = vector_index.from_bytes(data["vectors.faiss"]) if kind == FAISS else None
        except (ValueError, KeyError, TypeError, RuntimeError, UnicodeDecodeError, RecursionError) as exc:
            raise damaged(f"{type(exc).__name__}: {exc}") from exc
        milvus = None
        if kind == FAISS:
            try:
                vector_index.verify(vectors, manifest.dimension, set(chunks))
            except ValueError as exc:
                raise damaged(f"vectors.faiss: {exc}") from exc
        else:
            milvus = _open_milvus(root, manifest, store)
            try:
                milvus.verify(manifest.next_chunk_id, len(chunks))
            except ValueError as exc:
                raise damaged(f"Milvus collection {milvus.collection}: {exc}") from exc
        if set(articles) != set(manifest.articles) or any(
            manifest.articles[d].get("content_hash") != a.content_hash for d, a in articles.items()
        ):
            raise damaged("articles.jsonl does not match the manifest's article list")
        return cls(root, manifest, articles, chunks, vectors, milvus=milvus)

    def check_embedder(self, embedder: Embedder) -> None:
        """Raise IndexMismatchError when `embedder` is not the model the index was built with."""
        if embedder.name != self.manifest.embedding_model:
            raise IndexMismatchError(
                f"the index at {self.root} was built with embedding model "
                f"{self.manifest.embedding_model!r}, not {embedder.name!r}; rebuild it with "
                f"`qa index --rebuild PATH --index-dir {self.root}` or use that model"
            )
        if embedder.dimension and embedder.dimension != self.manifest.dimension:
            raise IndexMismatchError(
                f"the index at {self.root} holds {self.manifest.dimension}-dim vectors, "
                f"the embedder makes {embedder.dimension}-dim ones"
            )

    # ---- changing ------------------------------------------------------------------------
    def diff(self, articles: Iterable[Article]) -> tuple[list[Article], list[str]]:
        """(articles to add or replace, doc ids unchanged by content hash); a repeated doc id keeps
        its last version."""
        latest = {article.doc_id: article for article in articles}
        todo, unchanged = [], []
        for doc_id, article in latest.items():
            old = self.manifest.articles.get(doc_id)
            if old is not None and old.get("content_hash") == article.content_hash:
                unchanged.append(doc_id)
            else:
                todo.append(article)
        return todo, unchanged

    def write_passages(self, articles: Sequence[Article], chunks: Sequence[Chunk], vectors: np.ndarray,
                       checkpoints: Iterable[str] = ()) -> UpsertReport:
        """Put new or changed articles in, with their passages and vectors, in memory (`save` writes).

        `chunks` are the articles' passages numbered from `manifest.next_chunk_id` on, and `vectors`
        their rows in the same order: `qa.store.indexer.prepare_passages` makes both, so this
        store neither chunks nor embeds. Old passages of a replaced article go; `checkpoints`
        (saved embedding blocks of large articles) are dropped once the next `save` commits.
        """
        report = UpsertReport()
        if not articles:
            return report
        if len(vectors) != len(chunks):
            raise ValueError(f"{len(chunks)} passages but {len(vectors)} vectors")
        if chunks and min(c.chunk_id for c in chunks) < self.manifest.next_chunk_id:
            raise ValueError(f"passage ids must start at {self.manifest.next_chunk_id}")
        for article in articles:
            (report.updated if article.doc_id in self.manifest.articles else report.added).append(
                article.doc_id)
        self._prepare_write()
        self._remove([a.doc_id for a in articles if a.doc_id in self.manifest.articles])
        per_doc: dict[str, int] = {}
        for chunk in chunks:
            per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
        for article in articles:
            self.articles[article.doc_id] = article
            self.manifest.articles[article.doc_id] = {
                "content_hash": article.content_hash, "title": article.title,
                "published": article.published, "chars": len(article.text),
                "chunks": per_doc.get(article.doc_id, 0), "source_path": article.source_path,
            }
        if self.milvus is not None:
            self.milvus.add(list(chunks), vectors, self.articles)
        else:
            vector_index.add(self.vectors, vectors, np.array([c.chunk_id for c in chunks], np.int64))
        for chunk in chunks:
            self.chunks[chunk.chunk_id] = chunk
        if self.milvus is None:
            self.vectors = vector_index.fit(self.vectors)
        if chunks:
            self.manifest.next_chunk_id = max(c.chunk_id for c in chunks) + 1
        self._checkpoints.update(checkpoints)
        report.chunks_embedded = len(chunks)
        self._bm25 = None
        return report

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        """Delete articles and all their passages; returns the doc ids that were present.

        The vectors go at once (both index types shrink their arrays), so `vectors.ntotal`
        always equals the number of passages: there is nothing to compact later.
        """
        self._prepare_write()
        present = self._remove(doc_ids)
        if self.milvus is None:
            self.vectors = vector_index.fit(self.vectors)
        return present

    def _prepare_write(self) -> None:
        """Before the first change of a writer: clear what a killed writer left in Milvus."""
        if self.milvus is not None and not self._write_prepared:
            self.milvus.prepare_write(self.manifest.next_chunk_id)
            self.milvus.clear_pending()
        self._write_prepared = True

    def _remove(self, doc_ids: Iterable[str]) -> list[str]:
        doc_ids = set(doc_ids)
        present = [d for d in doc_ids if d in self.manifest.articles]
        gone = [cid for cid, c in self.chunks.items() if c.doc_id in doc_ids]
        if self.milvus is not None:  # the rows go after the next commit (qa.store.milvus)
            self.milvus.schedule_delete(present, below=self.manifest.next_chunk_id)
        else:
            vector_index.remove(self.vectors, np.array(gone, dtype=np.int64))
        for cid in gone:
            del self.chunks[cid]
        for doc_id in present:
            self.manifest.articles.pop(doc_id, None)
            self.articles.pop(doc_id, None)
        self._bm25 = None
        return sorted(present)

    # ---- searching -----------------------------------------------------------------------
    def search_dense(self, query_vector: np.ndarray, k: int,
                     published_on_or_before: str | None = None) -> list[tuple[int, float]]:
        """(chunk_id, cosine) of the k nearest passages; with `published_on_or_before`
        (YYYY-MM-DD), only passages of articles published by then or undated."""
        if not self.chunks or k <= 0:
            return []
        if self.milvus is not None:
            return self.milvus.search(query_vector, k, self.manifest.next_chunk_id, self.chunks,
                                      published_on_or_before)
        allowed = None
        if published_on_or_before:
            allowed = np.array([cid for cid, c in self.chunks.items()
                                if _published_by(self.articles[c.doc_id].published, published_on_or_before)],
                               dtype=np.int64)
            if not len(allowed):
                return []
        scores, ids = vector_index.search(self.vectors, query_vector,
                                          min(k, len(self.chunks) if allowed is None else len(allowed)),
                                          allowed=allowed)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def vector(self, chunk_id: int) -> np.ndarray:
        """The stored (unit) vector of a passage; KeyError for an unknown chunk id."""
        if self.milvus is not None:
            found = self.milvus.vectors_of([chunk_id]) if chunk_id in self.chunks else {}
            if chunk_id not in found:
                raise KeyError(chunk_id)
            return found[chunk_id]
        return vector_index.vector(self.vectors, chunk_id)

    def vectors_of(self, chunk_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The stored vectors of several passages at once (one request to Milvus)."""
        wanted = [int(c) for c in chunk_ids if c in self.chunks]
        if self.milvus is not None:
            return self.milvus.vectors_of(wanted)
        return {c: vector_index.vector(self.vectors, c) for c in wanted}

    def search_lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk_id, BM25 score) of up to k passages sharing a stemmed term with the query."""
        from qa.store.bm25 import BM25Index

        if not self.chunks or k <= 0:
            return []
        if self._bm25 is None:
            ordered = sorted(self.chunks)
            self._bm25 = BM25Index(ordered, [self.chunks[c].text for c in ordered])
        return self._bm25.search(query, k)

    # ---- saving --------------------------------------------------------------------------
    def save(self) -> Path:
        """Write a new generation and make it live atomically; returns its folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        previous = current_generation(self.root)
        self.manifest.generation = _next_generation(self.root)
        self.manifest.updated = time.time()
        name = f"gen-{self.manifest.generation:06d}"
        if self.milvus is not None:  # rows first, durably; the manifest that lists them after
            self.milvus.make_durable()
            self.manifest.vector_store = self.milvus.manifest_entry()
        files = _data_files(self.manifest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            _write_jsonl(tmp / "articles.jsonl", (asdict(a) for a in self.articles.values()))
            _write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                                  "start": c.start, "end": c.end}
                                                 for c in sorted(self.chunks.values(),
                                                                 key=lambda c: c.chunk_id)))
            if self.milvus is None:
                vector_index.write(self.vectors, tmp / "vectors.faiss")
            self.manifest.files = {
                f: {"bytes": (tmp / f).stat().st_size, "sha256": _sha256(tmp / f)} for f in files
            }
            with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
                json.dump(_manifest_json(self.manifest), fh, indent=1, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            for f in files:
                fsync_file(tmp / f)
            fsync_dir(tmp)
            final = self.root / name
            os.rename(tmp, final)
            fsync_dir(self.root)
            write_atomic(self.root / "CURRENT", name + "\n")  # the switch: old state or new, never half
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(self.root, keep={name, previous.name if previous else ""})
        if self._checkpoints:  # committed: the saved blocks of its large articles are done with
            embed_checkpoint.discard(self.root, self._checkpoints)
            self._checkpoints.clear()
        if self.milvus is not None:  # committed: now the old rows may go
            self.milvus.committed(self.root)
            self.milvus.apply_pending()
            self.milvus.clear_pending()
        return final


def _open_milvus(root: Path, manifest: Manifest, store: VectorStoreSettings):
    """The Milvus collection of a loaded manifest, reached through the configured URI (or the one
    the manifest records; "" is the index folder's own Milvus Lite file)."""
    from qa.store.milvus import MilvusVectors, resolve_uri

    entry = manifest.vector_store
    configured = store.milvus_uri or str(entry.get("uri", ""))
    milvus = MilvusVectors.from_manifest(entry, manifest.dimension, resolve_uri(configured, root),
                                         token=store.milvus_token)
    milvus.configured_uri = resolve_uri(configured, root) if configured else ""
    return milvus


def _next_generation(root: Path) -> int:
    numbers = [int(p.name[4:]) for p in root.glob("gen-*") if p.name[4:].isdigit()]
    return max(numbers, default=0) + 1


def _prune(root: Path, keep: set[str]) -> None:
    """Delete generations other than `keep` (the live one and its predecessor)."""
    for path in root.iterdir():
        if path.name.startswith("gen-") and path.name not in keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


# What a killed writer leaves: a temp generation folder, a temp CURRENT pointer (`write_atomic`'s
# `.CURRENT.<pid>.tmp`; `.CURRENT-<pid>` before 0.4.0).
LEFTOVER_PREFIXES = (".gen-", ".CURRENT")


def leftovers(root: Path) -> list[Path]:
    """The leftovers of killed writers in an index folder (read only)."""
    return sorted(p for p in root.iterdir() if p.name.startswith(LEFTOVER_PREFIXES)) if root.is_dir() else []


def remove_leftovers(root: Path) -> list[str]:
    """Delete what a killed writer left behind: temp generation folders and pointer files.

    Only safe while holding the write lock (no other writer can be mid-save); returns
    the names removed.
    """
    removed = []
    for path in leftovers(root):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def read_manifest(gen: Path) -> Manifest:
    """The manifest of a generation folder; raises IndexCorruptError or IndexMismatchError."""
    path = gen / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{path} is missing (rebuild the index with qa index)") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{path} is not valid JSON (rebuild the index with qa index)") from exc
    if not isinstance(data, dict) or "format_version" not in data:
        raise IndexCorruptError(f"{path} is not a qa manifest")
    if data["format_version"] != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{path}: index format {data['format_version']}, this qa reads format {FORMAT_VERSION}; "
            "rebuild with `qa index --rebuild PATH`"
        )
    unknown = sorted(set(data) - set(_MANIFEST_TYPES))
    wrong = [k for k, t in _MANIFEST_TYPES.items()
             if k in data and (not isinstance(data[k], t) or isinstance(data[k], bool))]
    if unknown or wrong:
        raise IndexCorruptError(f"{path}: unexpected fields {unknown} or wrong types {wrong} "
                                "(rebuild the index with qa index --rebuild PATH...)")
    try:
        manifest = Manifest(**data)
        ChunkSettings(**manifest.chunking)
    except TypeError as exc:
        raise IndexMismatchError(f"{path}: written by another qa version ({exc}); "
                                 "rebuild with `qa index --rebuild PATH`") from exc
    return manifest


def check_files(gen: Path, manifest: Manifest, full: bool = True) -> list[str]:
    """Damage found in a generation's data files (missing, wrong size, with `full` wrong hash)."""
    problems = []
    for name in _data_files(manifest):
        path = gen / name
        expected = manifest.files.get(name) or {}
        if not isinstance(expected, dict):
            problems.append(f"the manifest's entry for {name} is not an object")
            continue
        if not path.exists():
            problems.append(f"{name} is missing")
        elif expected and path.stat().st_size != expected.get("bytes"):
            problems.append(f"{name} is {path.stat().st_size} bytes, expected {expected.get('bytes')}")
        elif full and expected and _sha256(path) != expected.get("sha256"):
            problems.append(f"{name} does not match its checksum")
    return problems


@contextmanager
def write_lock(root: str | Path, timeout: float = LOCK_TIMEOUT_S,
               on_wait: Notify | None = None) -> Iterator[None]:
    """Hold the index's writer lock (other writers wait; readers never do), see `qa.store.lock.hold`.

    On acquiring it, leftovers of writers that were killed mid-save are removed, and so are
    saved embeddings of large articles untouched for a week.
    """
    root = Path(root)
    with hold(root, timeout=timeout, on_wait=on_wait):
        remove_leftovers(root)
        embed_checkpoint.remove_stale(root)
        yield


def require_nonempty(store: IndexStore) -> None:
    """Raise EmptyCorpusError when an index holds no passages."""
    if not store.chunks:
        raise EmptyCorpusError(f"the index at {store.root} holds no articles; add some with qa index")
