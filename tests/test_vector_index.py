"""The index type chosen by size: the IVF path, forced on small synthetic data by a tiny threshold.

Deterministic (seeded vectors, seeded FAISS training), no network, no models.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.ingest.read import content_hash
from qa.models.embed import Embedder
from qa.records import Article
from qa.search.retrieve import retrieve
from qa.store import vector_index
from qa.store.index_store import IndexStore, current_generation
from qa.store.indexer import upsert
from qa.store.vector_index import FLAT, IVF, Policy

DIM = 32
TINY = Policy(flat_max=200, lists_per_sqrt=2.0, points_per_list=10, nprobe_min=4,
              nprobe_fraction=1 / 4)


def clustered(n: int, seed: int, centres: int = 12, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around a few random topic centres (like real embeddings, unlike uniform noise)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, DIM))
    x = c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class TableEmbedder(Embedder):
    """Looks the vector of each text up in a table (texts it does not know get a fixed vector)."""

    name = "table"
    dimension = DIM

    def __init__(self) -> None:
        self.table: dict[str, np.ndarray] = {}

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        fallback = np.ones(DIM, np.float32)
        return np.vstack([self.table.get(t, fallback) for t in texts])


def articles(embedder: TableEmbedder, ids: range, seed: int, version: int = 1) -> list[Article]:
    """One single-sentence article (so one passage) per id, its vector registered in `embedder`."""
    out = []
    for i, vec in zip(ids, clustered(len(ids), seed), strict=True):
        text = f"Report {i} version {version} on topic {i % 7}."
        embedder.table[text] = vec
        article = Article(doc_id=f"a{i:04d}", text=text)
        article.content_hash = content_hash(article)
        out.append(article)
    return out


@pytest.fixture
def tiny_policy(monkeypatch):
    monkeypatch.setattr(vector_index, "POLICY", TINY)


def test_policy_shape():
    policy = Policy()
    assert policy.nlist(1_000_000) == 4000 and policy.nprobe(4000) == 667
    assert policy.nlist(60_000) == 979 and policy.nprobe(979) == 163
    assert policy.nlist(1000) == 25 and policy.nprobe(25) == 16


def test_store_switches_to_ivf_and_finds_the_exact_nearest(tmp_path, tiny_policy):
    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(150), seed=1), embedder)
    assert vector_index.kind(store.vectors) == FLAT
    upsert(store, articles(embedder, range(150, 400), seed=2), embedder)
    assert vector_index.kind(store.vectors) == IVF and store.vectors.ntotal == len(store.chunks) == 400
    assert store.vectors.nlist == TINY.nlist(400) and store.vectors.nprobe == TINY.nprobe(store.vectors.nlist)
    for cid in list(store.chunks)[::17]:
        vec = store.vector(cid)
        assert np.allclose(vec, embedder.table[store.chunks[cid].text], atol=1e-3)  # float16
        top = store.search_dense(vec, 5)
        assert top[0][0] == cid and top[0][1] == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(KeyError):
        store.vector(10_000)


def test_small_commits_do_not_retrain_but_growth_does(tmp_path, tiny_policy):
    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(300), seed=3), embedder)
    ivf = store.vectors
    for first in range(300, 600, 50):  # 2x growth in small commits: same index object throughout
        upsert(store, articles(embedder, range(first, first + 50), seed=first), embedder)
        assert store.vectors is ivf
    upsert(store, articles(embedder, range(600, 1300), seed=4), embedder)  # > 4x since training
    assert store.vectors is not ivf and store.vectors.nlist >= 2 * ivf.nlist
    assert store.vectors.ntotal == len(store.chunks) == 1300


def test_upsert_and_remove_in_ivf_mode(tmp_path, tiny_policy):
    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(400), seed=5), embedder)
    ivf = store.vectors
    report = upsert(store, articles(embedder, range(0, 400, 4), seed=6, version=2), embedder)
    assert len(report.updated) == 100 and store.vectors is ivf
    assert store.vectors.ntotal == len(store.chunks) == 400
    assert all(("version 2" in c.text) == (int(c.doc_id[1:]) % 4 == 0) for c in store.chunks.values())
    held = set(vector_index.ids(store.vectors).tolist())
    assert held == set(store.chunks)
    gone = [f"a{i:04d}" for i in range(1, 400, 4)]
    old_ids = [cid for cid, c in store.chunks.items() if c.doc_id in gone]
    assert store.remove(gone) == sorted(gone)
    assert store.vectors.ntotal == len(store.chunks) == 300 and vector_index.kind(store.vectors) == IVF
    for cid in old_ids:
        with pytest.raises(KeyError):
            store.vector(cid)
    for cid in list(store.chunks)[::11]:
        assert store.search_dense(store.vector(cid), 3)[0][0] == cid
    # shrinking below flat_max // 2 goes back to exact search, keeping every vector
    store.remove([f"a{i:04d}" for i in range(400) if i % 8])
    assert vector_index.kind(store.vectors) == FLAT and store.vectors.ntotal == len(store.chunks) == 50
    for cid in store.chunks:
        assert np.allclose(store.vector(cid), embedder.table[store.chunks[cid].text], atol=1e-3)


def test_ivf_round_trips_and_answers_the_same(tmp_path, tiny_policy):
    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(500), seed=7), embedder)
    store.save()
    loaded = IndexStore.load(tmp_path / "idx")
    assert vector_index.kind(loaded.vectors) == IVF
    assert (loaded.vectors.nlist, loaded.vectors.nprobe) == (store.vectors.nlist, store.vectors.nprobe)
    queries = clustered(20, seed=8)
    for q in queries:
        assert loaded.search_dense(q, 10) == store.search_dense(q, 10)
    # the hybrid path: lexical-only hits take their dense score from store.vector
    hits = retrieve(loaded, embedder, "Report 123 version 1", k=5)
    assert "a0123" in [h.doc_id for h in hits]
    assert all(h.dense_score == pytest.approx(float(loaded.vector(h.chunk_id) @ embedder.embed(
        ["Report 123 version 1"])[0]), abs=1e-5) for h in hits)
    upsert(loaded, articles(embedder, range(500, 520), seed=9), embedder)
    loaded.remove(["a0000"])
    loaded.save()
    again = IndexStore.load(tmp_path / "idx")
    assert again.vectors.ntotal == len(again.chunks) == 519 and vector_index.kind(again.vectors) == IVF


def test_ivf_recall_against_exact(tiny_policy):
    vectors = clustered(3000, seed=10, centres=40, spread=0.8)
    ids = np.arange(3000, dtype=np.int64) * 3 + 7  # ids need not be dense or start at 0
    ivf = vector_index.build_ivf(ids, vectors, Policy(flat_max=100, nprobe_fraction=1 / 8))
    flat = vector_index.new_flat(DIM)
    vector_index.add(flat, vectors, ids)
    queries = vectors[:100] + 0.3 * clustered(100, seed=11)
    _, exact = vector_index.search(flat, queries, 10)
    _, approx = vector_index.search(ivf, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95


def test_a_large_scan_split_over_threads_finds_what_one_thread_finds(monkeypatch):
    """The parallel path (one query's lists over all threads) returns the single-thread result."""
    vectors = clustered(3000, seed=12, centres=40, spread=0.8)
    ids = np.arange(3000, dtype=np.int64)
    ivf = vector_index.build_ivf(ids, vectors, Policy(flat_max=100, nprobe_fraction=1 / 4))
    queries = vectors[:40] + 0.3 * clustered(40, seed=13)
    results = {}
    for threshold in (10**9, 1):  # never parallel, then always
        monkeypatch.setattr(vector_index, "POLICY", Policy(flat_max=100, parallel_scan_min=threshold))
        results[threshold] = [vector_index.search(ivf, q, 10) for q in queries]
    assert ivf.parallel_mode == 1  # the second round took the parallel path
    for (s1, i1), (s2, i2) in zip(results[10**9], results[1], strict=True):
        assert i1.tolist() == i2.tolist() and np.allclose(s1, s2)


def _rewrite_vectors(index_dir, index) -> None:
    """Replace vectors.faiss and fix its size and checksum in the manifest (a consistent lie)."""
    gen = current_generation(index_dir)
    vector_index.write(index, gen / "vectors.faiss")
    data = (gen / "vectors.faiss").read_bytes()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["files"]["vectors.faiss"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (gen / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("lie", ["missing id", "no direct map", "plain flat", "float32 IVF",
                                 "wrong dimension"])
def test_wrong_ivf_file_is_rejected(tmp_path, tiny_policy, lie):
    import faiss

    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(300), seed=12), embedder)
    store.save()
    ids, vectors = vector_index.contents(store.vectors)
    if lie == "missing id":
        bad = vector_index.build_ivf(ids[1:], vectors[1:], TINY)
    elif lie == "no direct map":
        bad = vector_index.build_ivf(ids, vectors, TINY)
        bad.set_direct_map_type(faiss.DirectMap.NoMap)
    elif lie == "plain flat":
        bad = faiss.IndexFlatIP(DIM)
        bad.add(vectors)
    elif lie == "float32 IVF":
        bad = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 8, faiss.METRIC_INNER_PRODUCT)
        bad.train(vectors)
        bad.add_with_ids(vectors, ids)
    else:
        bad = vector_index.build_ivf(ids, np.hstack([vectors, vectors]), TINY)
    _rewrite_vectors(tmp_path / "idx", bad)
    with pytest.raises(IndexCorruptError, match="vectors"):
        IndexStore.load(tmp_path / "idx")


def test_damaged_ivf_bytes_are_rejected(tmp_path, tiny_policy):
    embedder = TableEmbedder()
    store = IndexStore.create(tmp_path / "idx", embedder.name, DIM)
    upsert(store, articles(embedder, range(300), seed=13), embedder)
    store.save()
    path = current_generation(tmp_path / "idx") / "vectors.faiss"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match=r"vectors\.faiss"):
        IndexStore.load(tmp_path / "idx")
    path.write_bytes(b"IwFl" + bytes(len(data) - 4))  # right size, wrong bytes
    with pytest.raises(IndexCorruptError, match="checksum"):
        IndexStore.load(tmp_path / "idx")
