"""The on-disk index: FAISS vectors, passage table, BM25, manifest; the one module that knows FAISS.

Layout of an index folder:

    index/CURRENT            name of the live generation, replaced atomically
    index/gen-000007/        manifest.json, articles.jsonl, chunks.jsonl, vectors.faiss
    index/.lock              held by a writer

A save writes a complete new generation folder, fsyncs it, then swaps CURRENT
(`os.replace`), so a reader or a crash only ever sees the old or the new state.
FAISS ids are chunk ids (IndexIDMap2), so an article's passages can be removed.
This module does not read files, chunk text or run models: callers pass
articles and an embedder in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qa.chunk import ChunkSettings, chunk_article
from qa.embed import Embedder
from qa.errors import (
    EmptyCorpusError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
)
from qa.records import Article, Chunk

FORMAT_VERSION = 1
_FILES = ("manifest.json", "articles.jsonl", "chunks.jsonl", "vectors.faiss")
_DATA_FILES = _FILES[1:]
LOCK_TIMEOUT_S = 600.0


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


@dataclass
class UpsertReport:
    """Doc ids added, replaced and left alone (same content hash) by `IndexStore.upsert`."""

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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def current_generation(root: Path) -> Path | None:
    """The live generation folder of an index, or None when there is no index at `root`."""
    pointer = root / "CURRENT"
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name.startswith("gen-") or "/" in name or "\\" in name:
        raise IndexCorruptError(f"{pointer}: names no generation ({name[:40]!r})")
    return root / name


class IndexStore:
    """An index in memory: articles, passages, vectors; `save` writes it back atomically."""

    def __init__(self, root: Path, manifest: Manifest, articles: dict[str, Article],
                 chunks: dict[int, Chunk], vectors) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.articles = articles
        self.chunks = chunks
        self.vectors = vectors
        self._bm25 = None

    # ---- creating and loading -------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, embedding_model: str, dimension: int,
               chunking: ChunkSettings | None = None) -> IndexStore:
        """A new, empty index in memory (nothing is written until `save`)."""
        import faiss

        manifest = Manifest(format_version=FORMAT_VERSION, embedding_model=embedding_model,
                            dimension=dimension, chunking=asdict(chunking or ChunkSettings()))
        vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        return cls(Path(root), manifest, {}, {}, vectors)

    @classmethod
    def exists(cls, root: str | Path) -> bool:
        """Whether `root` holds an index (a CURRENT pointer)."""
        return (Path(root) / "CURRENT").exists()

    @classmethod
    def load(cls, root: str | Path) -> IndexStore:
        """Load the live generation; raises IndexMissingError or IndexCorruptError."""
        import faiss

        root = Path(root)
        gen = current_generation(root)
        if gen is None:
            raise IndexMissingError(f"no index at {root} (build one with: qa index PATH --index-dir {root})")
        manifest = read_manifest(gen)
        problems = check_files(gen, manifest, full=False)
        if problems:
            raise IndexCorruptError(f"index at {root} is damaged: {problems[0]} (rebuild it with qa index)")
        try:
            articles = {row["doc_id"]: Article(**row) for row in _read_jsonl(gen / "articles.jsonl")}
            chunks: dict[int, Chunk] = {}
            for row in _read_jsonl(gen / "chunks.jsonl"):
                article = articles[row["doc_id"]]
                start, end = int(row["start"]), int(row["end"])
                chunks[int(row["chunk_id"])] = Chunk(int(row["chunk_id"]), row["doc_id"], start, end,
                                                     article.text[start:end])
            vectors = faiss.read_index(str(gen / "vectors.faiss"))
        except (ValueError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"index at {root} is damaged: {exc} (rebuild it with qa index)") from exc
        if vectors.ntotal != len(chunks) or vectors.d != manifest.dimension:
            raise IndexCorruptError(
                f"index at {root} is damaged: {vectors.ntotal} vectors for {len(chunks)} passages"
            )
        return cls(root, manifest, articles, chunks, vectors)

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
    def upsert(self, articles: Iterable[Article], embedder: Embedder, progress: bool = False,
               on_progress: Callable[[int, int], None] | None = None) -> UpsertReport:
        """Add new articles, replace changed ones (by content hash), skip unchanged ones."""
        settings = ChunkSettings(**self.manifest.chunking)
        report = UpsertReport()
        todo: list[Article] = []
        for article in articles:
            old = self.manifest.articles.get(article.doc_id)
            if old is not None and old.get("content_hash") == article.content_hash:
                report.unchanged.append(article.doc_id)
                continue
            (report.updated if old is not None else report.added).append(article.doc_id)
            todo.append(article)
        if not todo:
            return report
        self.remove([a.doc_id for a in todo if a.doc_id in self.manifest.articles])
        new_chunks: list[Chunk] = []
        for article in todo:
            pieces = chunk_article(article.doc_id, article.text, self.manifest.next_chunk_id, settings)
            self.manifest.next_chunk_id += len(pieces)
            new_chunks.extend(pieces)
            self.articles[article.doc_id] = article
            self.manifest.articles[article.doc_id] = {
                "content_hash": article.content_hash, "title": article.title,
                "published": article.published, "chars": len(article.text), "chunks": len(pieces),
                "source_path": article.source_path,
            }
        vectors = self._embed(new_chunks, embedder, progress, on_progress)
        ids = np.array([c.chunk_id for c in new_chunks], dtype=np.int64)
        if len(ids):
            self.vectors.add_with_ids(vectors, ids)
        for chunk in new_chunks:
            self.chunks[chunk.chunk_id] = chunk
        report.chunks_embedded = len(new_chunks)
        self._bm25 = None
        return report

    def _embed(self, chunks: list[Chunk], embedder: Embedder, progress: bool,
               on_progress: Callable[[int, int], None] | None) -> np.ndarray:
        texts = [c.text for c in chunks]
        if on_progress is None:
            return embedder.embed(texts, progress=progress)
        parts, step = [], 64
        for i in range(0, len(texts), step):
            parts.append(embedder.embed(texts[i : i + step]))
            on_progress(min(i + step, len(texts)), len(texts))
        return np.vstack(parts) if parts else np.zeros((0, self.manifest.dimension), np.float32)

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        """Delete articles and all their passages; returns the doc ids that were present."""
        doc_ids = set(doc_ids)
        present = [d for d in doc_ids if d in self.manifest.articles]
        gone = [cid for cid, c in self.chunks.items() if c.doc_id in doc_ids]
        if gone:
            self.vectors.remove_ids(np.array(gone, dtype=np.int64))
        for cid in gone:
            del self.chunks[cid]
        for doc_id in present:
            self.manifest.articles.pop(doc_id, None)
            self.articles.pop(doc_id, None)
        self._bm25 = None
        return sorted(present)

    # ---- searching -----------------------------------------------------------------------
    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk_id, cosine) of the k nearest passages."""
        if not self.chunks or k <= 0:
            return []
        scores, ids = self.vectors.search(np.asarray(query_vector, np.float32).reshape(1, -1),
                                          min(k, len(self.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def search_lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk_id, BM25 score) of up to k passages sharing a stemmed term with the query."""
        from qa.lexical import BM25Index

        if not self.chunks or k <= 0:
            return []
        if self._bm25 is None:
            ordered = sorted(self.chunks)
            self._bm25 = BM25Index(ordered, [self.chunks[c].text for c in ordered])
        return self._bm25.search(query, k)

    # ---- saving --------------------------------------------------------------------------
    def save(self) -> Path:
        """Write a new generation and make it live atomically; returns its folder."""
        import faiss

        self.root.mkdir(parents=True, exist_ok=True)
        previous = current_generation(self.root)
        self.manifest.generation = _next_generation(self.root)
        self.manifest.updated = time.time()
        name = f"gen-{self.manifest.generation:06d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            _write_jsonl(tmp / "articles.jsonl", (asdict(a) for a in self.articles.values()))
            _write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                                  "start": c.start, "end": c.end}
                                                 for c in sorted(self.chunks.values(),
                                                                 key=lambda c: c.chunk_id)))
            faiss.write_index(self.vectors, str(tmp / "vectors.faiss"))
            self.manifest.files = {
                f: {"bytes": (tmp / f).stat().st_size, "sha256": _sha256(tmp / f)} for f in _DATA_FILES
            }
            with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
                json.dump(asdict(self.manifest), fh, indent=1, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            for f in _DATA_FILES:
                with open(tmp / f, "rb") as fh:
                    os.fsync(fh.fileno())
            final = self.root / name
            os.rename(tmp, final)
            _fsync_dir(self.root)
            pointer_tmp = self.root / f".CURRENT-{os.getpid()}"
            with open(pointer_tmp, "w", encoding="utf-8") as fh:
                fh.write(name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(pointer_tmp, self.root / "CURRENT")
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(self.root, keep={name, previous.name if previous else ""})
        return final


def _next_generation(root: Path) -> int:
    numbers = [int(p.name[4:]) for p in root.glob("gen-*") if p.name[4:].isdigit()]
    return max(numbers, default=0) + 1


def _prune(root: Path, keep: set[str]) -> None:
    """Delete generations and temp folders other than `keep` (the live one and its predecessor)."""
    for path in root.iterdir():
        stale_gen = path.name.startswith("gen-") and path.name not in keep
        stale_tmp = path.name.startswith(".gen-") and time.time() - path.stat().st_mtime > 3600
        if (stale_gen or stale_tmp) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


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
    try:
        return Manifest(**data)
    except TypeError as exc:
        raise IndexCorruptError(f"{path}: unexpected fields ({exc})") from exc


def check_files(gen: Path, manifest: Manifest, full: bool = True) -> list[str]:
    """Damage found in a generation's data files (missing, wrong size, with `full` wrong hash)."""
    problems = []
    for name in _DATA_FILES:
        path = gen / name
        expected = manifest.files.get(name, {})
        if not path.exists():
            problems.append(f"{name} is missing")
        elif expected and path.stat().st_size != expected.get("bytes"):
            problems.append(f"{name} is {path.stat().st_size} bytes, expected {expected.get('bytes')}")
        elif full and expected and _sha256(path) != expected.get("sha256"):
            problems.append(f"{name} does not match its checksum")
    return problems


@contextmanager
def write_lock(root: str | Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the index's writer lock (other writers wait; readers never do)."""
    from filelock import FileLock, Timeout

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / ".lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise IndexLockedError(f"another process is writing the index at {root}") from exc
    try:
        yield
    finally:
        lock.release()


def require_nonempty(store: IndexStore) -> None:
    """Raise EmptyCorpusError when an index holds no passages."""
    if not store.chunks:
        raise EmptyCorpusError(f"the index at {store.root} holds no articles; add some with qa index")
