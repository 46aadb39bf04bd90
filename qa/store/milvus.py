"""Dense vectors in a Milvus collection (Milvus Lite for a local file, or a Milvus server/cluster).

The second vector backend of `qa.store.index_store.IndexStore`, beside FAISS (`qa.store.vector_index`). One
collection per index holds, per passage: its chunk id (the primary key), its unit vector,
its text and its article's metadata (doc_id, offsets, title, url, published date, content
hash). The index folder stays the source of truth: its committed manifest lists the
passages that exist, and this module's job is to make Milvus agree with it without ever
letting retrieval see a passage the manifest does not list.

How that holds across a crash (chunk ids only ever grow, see `qa.store.index_store`):

* new passages are written to Milvus *before* the manifest that lists them is committed,
  under chunk ids at or above the committed `next_chunk_id`; every search filters on
  `id < next_chunk_id`, so rows of an uncommitted (or killed) write are never returned,
  and the next writer deletes them (`prepare_write`);
* old passages (of a changed or removed article) are deleted from Milvus only *after* the
  manifest without them is committed (`apply_pending`); the manifest records them as
  `pending_delete` (doc ids and the chunk id below which their rows are old), so a
  writer killed between the commit and the delete leaves rows the next writer removes,
  and a search drops any row whose chunk id the loaded manifest does not list.

Milvus Lite runs inside the process that opens the file and locks it: one process at a
time (a second gets `VectorStoreUnavailableError`). A Milvus server has no such limit.
This module does not chunk, embed, or read the index folder; `qa.store.index_store` calls it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexCorruptError, VectorStoreUnavailableError
from qa.records import Article, Chunk

log = logging.getLogger(__name__)

MILVUS = "milvus"
LITE_FILE = "milvus.db"  # the default Milvus Lite file, inside the index folder
_TEXT_MAX = 65_535
_SHORT_MAX = 4_096
_WRITE_ROWS = 2_000  # rows per insert call (a gRPC message stays well under its size limit)
_FETCH_MAX = 16_384  # Milvus's cap on limit (topk)
_INTENT = ".milvus-new-"  # + collection name: a build that has not committed yet
_clients: dict[tuple[str, str], Any] = {}  # pymilvus.MilvusClient (untyped)
_clients_lock = threading.Lock()


def is_lite(uri: str) -> bool:
    """Whether a URI names a Milvus Lite file (a local path) rather than a server."""
    return "://" not in uri


def resolve_uri(uri: str | None, index_dir: Path) -> str:
    """The URI to connect to: `uri` (a file path made absolute), else the index folder's Lite file."""
    if not uri:
        return str((Path(index_dir) / LITE_FILE).resolve())
    return str(Path(uri).expanduser().resolve()) if is_lite(uri) else uri


def client(uri: str, token: str = ""):
    """One MilvusClient per (uri, token) per process (Milvus Lite allows one opener per file)."""
    key = (uri, token)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - a dependency of qa
            raise VectorStoreUnavailableError("the Milvus store needs pymilvus and milvus-lite "
                                              "(pip install pymilvus milvus-lite)") from exc
        where = f"Milvus Lite file {uri}" if is_lite(uri) else f"Milvus at {uri}"
        if is_lite(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            _check_lite_lock(uri)
            remove_torn_lite_indexes(Path(uri))
            # The in-process Lite server logs a traceback for RPCs it does not implement (pymilvus
            # probes AllocTimestamp after create_index); the client gets the error either way.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            made = MilvusClient(uri=uri, token=token, timeout=30)
        except Exception as exc:  # pymilvus raises MilvusException and plain gRPC errors
            raise VectorStoreUnavailableError(f"cannot open {where}: {_reason(exc)}") from exc
        _clients[key] = made
        return made


def remove_torn_lite_indexes(folder: Path) -> list[Path]:
    """Delete the index files a killed Milvus Lite writer can leave torn; return them.

    Lite records a new segment's data file before it writes the segment's index files, one
    after another, so a SIGKILL there leaves a zero-byte index file, or the first index file cut
    short (8 bytes were seen) with the next one missing. Either makes every later load fail
    ("File is too small: N"). Torn means: empty, or part of a segment that lacks an index kind
    another segment of its partition has. Index files are derived from the segment data, and Lite
    rebuilds a missing one when the collection loads; data files are never touched.
    Call it only while no process has the Lite file open.
    """
    torn: list[Path] = []
    for indexes in folder.glob("collections/*/partitions/*/indexes"):
        kinds: dict[str, dict[str, Path]] = {}  # segment -> index kind -> file
        for path in indexes.iterdir():
            if not path.is_file():
                continue
            if path.stat().st_size == 0:
                torn.append(path)
                continue
            segment, _, kind = path.name.partition(".")
            kinds.setdefault(segment, {})[kind] = path
        every_kind = set().union(*kinds.values())
        for files in kinds.values():
            if set(files) != every_kind:
                torn.extend(files.values())
    for path in torn:
        path.unlink()
        log.warning("removed the torn Milvus Lite index file %s (left by a killed writer; "
                    "rebuilt on load)", path)
    return torn


def _check_lite_lock(uri: str) -> None:
    """VectorStoreUnavailableError when another process has the Lite file open (it holds a flock)."""
    import fcntl

    lock = Path(uri) / "LOCK"
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError as exc:
        raise VectorStoreUnavailableError(
            f"the Milvus Lite file {uri} is open in another process (Milvus Lite serves one "
            "process at a time; use a Milvus server, QA_MILVUS_URI=http://host:19530, to share it)"
        ) from exc
    finally:
        os.close(fd)


def release(uri: str) -> None:
    """Close the process's clients of `uri` (and stop its Milvus Lite server); for tests."""
    with _clients_lock:
        for key in [k for k in _clients if k[0] == uri]:
            with contextlib.suppress(Exception):
                _clients.pop(key).close()
    if is_lite(uri):
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)
        except ImportError:  # pragma: no cover
            pass


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def date_filter(published_on_or_before: str | None) -> str:
    """The Milvus expression for 'published on or before the date, or undated' ('' for no filter)."""
    if not published_on_or_before:
        return ""
    return f'(published == "" or published <= {_quote(published_on_or_before)})'


@dataclass
class MilvusVectors:
    """The Milvus side of one index: where it is, and what waits to be deleted after the commit."""

    uri: str
    collection: str
    dimension: int
    token: str = field(default="", repr=False)
    pending_delete: list[dict] = field(default_factory=list)  # [{"doc_ids": [...], "below": N}]
    pending_drop: list[str] = field(default_factory=list)  # collections of a replaced build
    configured_uri: str = ""  # what the manifest records: "" for the index folder's own Lite file
    _client: object = field(default=None, repr=False)

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, uri: str, dimension: int, token: str = "", root: Path | None = None,
               keep: frozenset[str] = frozenset(), index: dict | None = None) -> MilvusVectors:
        """A new, empty collection with a fresh name.

        With `root` (the index folder, under its write lock), the name is first written to
        `root/.milvus-new-<name>` until a manifest naming the collection is committed
        (`committed`), and collections of earlier builds that never committed (intent files
        naming a collection not in `keep`) are dropped first. `index` replaces the vector
        index (`{"index_type": ..., "params": {...}}`; benchmarks/bench_milvus.py compares them).
        """
        vectors = cls(uri=uri, collection=f"qa_{uuid.uuid4().hex[:16]}", dimension=dimension, token=token)
        if root is not None:
            for intent in Path(root).glob(_INTENT + "*"):
                name = intent.name[len(_INTENT):]
                if name not in keep and name.startswith("qa_"):
                    vectors._call("drop", vectors.client.drop_collection, name)
                intent.unlink(missing_ok=True)
            Path(root).mkdir(parents=True, exist_ok=True)
            with open(Path(root) / (_INTENT + vectors.collection), "w", encoding="utf-8") as fh:
                fh.write(uri + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        vectors._create_collection(index)
        return vectors

    def committed(self, root: Path) -> None:
        """A manifest naming this collection is live: its intent file is no longer needed."""
        (Path(root) / (_INTENT + self.collection)).unlink(missing_ok=True)

    @classmethod
    def from_manifest(cls, entry: dict, dimension: int, uri: str, token: str = "") -> MilvusVectors:
        """The collection a manifest's `vector_store` entry names; IndexCorruptError when it is gone."""
        vectors = cls(uri=uri, collection=str(entry.get("collection", "")), dimension=dimension,
                      token=token, pending_delete=list(entry.get("pending_delete", [])),
                      pending_drop=list(entry.get("pending_drop", [])))
        try:
            exists = vectors.client.has_collection(vectors.collection)
        except Exception as exc:
            raise VectorStoreUnavailableError(f"cannot reach Milvus at {uri}: {_reason(exc)}") from exc
        if not exists:
            raise IndexCorruptError(
                f"the Milvus collection {vectors.collection!r} at {uri} is missing "
                "(rebuild it with qa index --rebuild PATH... --vector-store milvus)")
        vectors._call("load", vectors.client.load_collection, vectors.collection)  # a no-op when loaded
        return vectors

    def manifest_entry(self) -> dict:
        """What the manifest records (never the token)."""
        return {"kind": MILVUS, "uri": self.configured_uri, "collection": self.collection,
                "pending_delete": self.pending_delete, "pending_drop": self.pending_drop}

    @property
    def client(self):
        if self._client is None:
            self._client = client(self.uri, self.token)
        return self._client

    def _create_collection(self, vector_index: dict | None = None) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=_SHORT_MAX)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=_TEXT_MAX)
        schema.add_field("title", DataType.VARCHAR, max_length=_SHORT_MAX)
        schema.add_field("url", DataType.VARCHAR, max_length=_SHORT_MAX)
        schema.add_field("published", DataType.VARCHAR, max_length=32)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
        index = MilvusClient.prepare_index_params()
        if vector_index:
            index.add_index("vector", metric_type="IP", **vector_index)
        elif is_lite(self.uri):
            # Lite: exact search (FAISS flat inside each segment); see benchmarks/bench_milvus.py.
            index.add_index("vector", index_type="FLAT", metric_type="IP")
        else:
            index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        index.add_index("doc_id", index_type="INVERTED")
        try:
            self.client.create_collection(self.collection, schema=schema, index_params=index)
            self.client.load_collection(self.collection)
        except Exception as exc:
            raise VectorStoreUnavailableError(
                f"cannot create the Milvus collection {self.collection} at {self.uri}: {_reason(exc)}"
            ) from exc

    # ---- writing (under the index's write lock) ----------------------------------------------
    def prepare_write(self, next_chunk_id: int) -> None:
        """Before a writer changes anything: remove what a killed writer left (rows at or above
        the committed `next_chunk_id`), finish the committed manifest's deletes and drops."""
        self._call("delete", self.client.delete, self.collection, filter=f"id >= {int(next_chunk_id)}")
        self.apply_pending()

    def add(self, chunks: list[Chunk], vectors: np.ndarray, articles: dict[str, Article]) -> None:
        """Write passages with their vectors and metadata (upsert by chunk id: a retried write
        replaces its own rows)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        for first in range(0, len(chunks), _WRITE_ROWS):
            rows = []
            for chunk, vec in zip(chunks[first:first + _WRITE_ROWS], vectors[first:first + _WRITE_ROWS],
                                  strict=True):
                article = articles[chunk.doc_id]
                rows.append({"id": chunk.chunk_id, "vector": vec.tolist(), "doc_id": chunk.doc_id,
                             "start": chunk.start, "end": chunk.end, "text": chunk.text[:_TEXT_MAX],
                             "title": (article.title or "")[:_SHORT_MAX],
                             "url": (article.url or "")[:_SHORT_MAX],
                             "published": article.published or "",
                             "content_hash": article.content_hash or ""})
            self._call("upsert", self.client.upsert, self.collection, rows)

    def schedule_delete(self, doc_ids: list[str], below: int) -> None:
        """Delete these articles' rows with chunk ids below `below`, once the next manifest is committed."""
        if doc_ids:
            self.pending_delete.append({"doc_ids": sorted(doc_ids), "below": int(below)})

    def schedule_drop(self, collection: str) -> None:
        """Drop another collection (a replaced build) once the next manifest is committed."""
        if collection and collection != self.collection and collection not in self.pending_drop:
            self.pending_drop.append(collection)

    def make_durable(self) -> None:
        """Before the manifest commit: make the written rows survive a crash. Milvus Lite keeps
        recent rows in a buffered log, so its memtable is flushed to a segment; a server's
        acknowledged writes are already durable (its log), and flush there is rate-limited."""
        if is_lite(self.uri):
            self._call("flush", self.client.flush, self.collection)

    def apply_pending(self) -> None:
        """After the commit: run the deletes and drops the committed manifest records (idempotent;
        they stay listed until the next commit, so a crash here is finished by the next writer)."""
        for item in self.pending_delete:
            ids = ", ".join(_quote(d) for d in item["doc_ids"])
            self._call("delete", self.client.delete, self.collection,
                       filter=f"doc_id in [{ids}] and id < {int(item['below'])}")
        for name in self.pending_drop:
            if name != self.collection:
                self._call("drop", self.client.drop_collection, name)

    def clear_pending(self) -> None:
        """Forget the deletes already run (called when a new manifest is being written)."""
        self.pending_delete, self.pending_drop = [], []

    def drop(self) -> None:
        """Drop this collection (a build that never committed)."""
        self._call("drop", self.client.drop_collection, self.collection)

    # ---- reading ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, next_chunk_id: int, live: set[int] | dict,
               published_on_or_before: str | None = None) -> list[tuple[int, float]]:
        """(chunk_id, inner product) of the k nearest live passages, best first."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        expr = f"id < {int(next_chunk_id)}"
        dated = date_filter(published_on_or_before)
        if dated:
            expr += f" and {dated}"
        limit = min(_FETCH_MAX, k + 8 if not self.pending_delete else 2 * k + 16)
        while True:
            found = self._call("search", self.client.search, self.collection, data=[query.tolist()],
                               filter=expr, limit=limit, output_fields=["id"],
                               search_params={"metric_type": "IP"})
            row = found[0] if found else []
            hits = [(int(h["id"]), float(h["distance"])) for h in row if int(h["id"]) in live]
            if len(hits) >= k or len(row) < limit or limit >= _FETCH_MAX:
                return hits[:k]
            limit = min(_FETCH_MAX, limit * 4)

    def vectors_of(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these passages (absent ids are left out)."""
        if not chunk_ids:
            return {}
        rows = self._call("get", self.client.get, self.collection, ids=[int(c) for c in chunk_ids],
                          output_fields=["vector"])
        return {int(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def count_below(self, next_chunk_id: int) -> int:
        """Rows with a committed chunk id (live passages plus any not yet deleted)."""
        rows = self._call("count", self.client.query, self.collection,
                          filter=f"id < {int(next_chunk_id)}", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def verify(self, next_chunk_id: int, passages: int) -> None:
        """ValueError unless the collection has this dimension and a row for every passage."""
        try:
            info = self.client.describe_collection(self.collection)
        except Exception as exc:
            raise VectorStoreUnavailableError(f"cannot reach Milvus at {self.uri}: {_reason(exc)}") from exc
        dims = [int(f.get("params", {}).get("dim", 0)) for f in info.get("fields", [])
                if f.get("name") == "vector"]
        if dims != [self.dimension]:
            raise ValueError(f"the collection holds {dims} -dim vectors, the manifest says {self.dimension}")
        held = self.count_below(next_chunk_id)
        if held < passages:
            raise ValueError(f"the collection holds {held} rows for {passages} passages")

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise VectorStoreUnavailableError(
                f"Milvus {what} on {self.collection} at {self.uri} failed: {_reason(exc)}") from exc
