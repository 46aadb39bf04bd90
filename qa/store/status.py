"""`qa status`: what an index holds, how it was built, and any damage found in its files.

Reads the index folder only; it never repairs or rewrites anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.errors import QAError
from qa.settings import VectorStoreSettings
from qa.store.embed_checkpoint import saved_articles
from qa.store.index_store import (
    IndexStore,
    check_files,
    current_generation,
    leftovers,
    read_manifest,
    store_kind,
)


@dataclass
class IndexStatus:
    """The state of one index folder; `ok` is False when it is missing or damaged."""

    index_dir: str
    ok: bool
    generation: str = ""
    format_version: int = 0
    embedding_model: str = ""
    dimension: int = 0
    chunking: dict = field(default_factory=dict)
    articles: int = 0
    passages: int = 0
    updated: float = 0.0
    problems: list[str] = field(default_factory=list)
    titles: list[tuple[str, str]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)
    vector_store: str = ""
    partial_articles: int = 0

    def render(self) -> str:
        """Human-readable lines for the terminal."""
        if not self.generation and not self.problems:
            return f"{self.index_dir}: no index yet (build one with: qa index PATH)"
        lines = [f"index:      {self.index_dir} ({self.generation or '?'})"]
        if self.format_version:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.updated))
            lines += [
                f"format:     {self.format_version}",
                f"embedding:  {self.embedding_model} ({self.dimension} dims)",
                f"vectors:    {self.vector_store}",
                f"chunking:   {', '.join(f'{k}={v}' for k, v in self.chunking.items())}",
                f"contents:   {self.articles} articles, {self.passages} passages",
                f"updated:    {when}",
            ]
        if self.titles:
            lines.append("articles:   doc id, content hash (sha256, first 12), title")
        for doc_id, title in self.titles[:20]:
            digest = self.hashes.get(doc_id, "")[:12]
            lines.append(f"  - {doc_id!r} {digest}" + (f" {title}" if title else ""))
        if len(self.titles) > 20:
            lines.append(f"  … and {len(self.titles) - 20} more")
        if self.leftovers:
            lines.append(f"leftovers:  {len(self.leftovers)} from an interrupted write "
                         "(removed by the next qa index)")
        if self.partial_articles:
            lines.append(f"partial:    saved embeddings of {self.partial_articles} large article(s) from an "
                         "interrupted run (the next qa index of them resumes there)")
        lines.append("state:      OK" if self.ok else "state:      DAMAGED")
        lines += [f"  ! {p}" for p in self.problems]
        if not self.ok:
            lines.append("  fix: qa index --rebuild PATH... (or delete the folder and index again)")
        return "\n".join(lines)


def index_status(index_dir: str | Path, store: VectorStoreSettings | None = None) -> IndexStatus:
    """Inspect an index folder: every data file against its checksum, then a full load
    (which, for the Milvus store, checks the collection: present, dimension, row count)."""
    root = Path(index_dir)
    status = IndexStatus(index_dir=str(root), ok=False)
    try:
        gen = current_generation(root)
        if gen is None:
            return status
        status.generation = gen.name
        manifest = read_manifest(gen)
    except QAError as exc:
        status.problems.append(str(exc))
        return status
    status.format_version = manifest.format_version
    status.embedding_model = manifest.embedding_model
    status.dimension = manifest.dimension
    status.chunking = manifest.chunking
    entry = manifest.vector_store
    status.vector_store = ("faiss (vectors.faiss)" if store_kind(manifest) == "faiss" else
                           f"{store_kind(manifest)} collection {entry.get('collection', '?')} at "
                           f"{entry.get('uri') or 'the index folder (Milvus Lite)'}")
    status.articles = len(manifest.articles)
    status.passages = sum(int(a.get("chunks", 0)) for a in manifest.articles.values())
    status.updated = manifest.updated
    status.titles = sorted((d, str(a.get("title", ""))) for d, a in manifest.articles.items())
    status.hashes = {d: str(a.get("content_hash", "")) for d, a in manifest.articles.items()}
    status.leftovers = [p.name for p in leftovers(root)]
    status.partial_articles = len(saved_articles(root))
    status.problems = check_files(gen, manifest, full=True)
    if not status.problems:
        try:  # files intact: also check they agree with each other (ids, offsets, counts)
            IndexStore.load(root, replace(store or VectorStoreSettings.from_env(), kind=None))
        except QAError as exc:
            status.problems.append(str(exc))
    status.ok = not status.problems
    return status
