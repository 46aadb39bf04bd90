"""The index store: upsert by hash, delete, atomic generations, damage and mismatch detection."""

from __future__ import annotations

import json

import pytest

from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from qa.search.retrieve import retrieve
from qa.store.index_store import IndexStore, current_generation
from qa.store.indexer import index_paths, remove_articles
from qa.store.status import index_status
from qa.testing import HashingEmbedder


def test_reindexing_unchanged_articles_does_no_work(tmp_path, seed_index, embedder):
    from qa.settings import SEED_DIR

    before = current_generation(seed_index)
    report = index_paths(seed_index, [SEED_DIR], embedder)
    assert report.added == [] and report.updated == [] and len(report.unchanged) == 2
    assert report.chunks_embedded == 0
    assert current_generation(seed_index) == before


def test_changed_article_replaces_its_passages(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The plant is in the desert. It makes gas.", encoding="utf-8")
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [folder], embedder)
    (folder / "a.txt").write_text("Zebras graze in the savanna.", encoding="utf-8")
    report = index_paths(index_dir, [folder], embedder)
    assert report.updated == ["a"]
    store = IndexStore.load(index_dir)
    assert [c.text for c in store.chunks.values()] == ["Zebras graze in the savanna."]
    assert store.vectors.ntotal == 1
    assert all("desert" not in h.text for h in retrieve(store, embedder, "desert gas plant", k=5))


def test_remove_deletes_every_passage(seed_index, embedder):
    removed = remove_articles(seed_index, ["000_6ad931cbaa20b811", "nope"])
    assert removed == ["000_6ad931cbaa20b811"]
    store = IndexStore.load(seed_index)
    assert set(store.articles) == {"002_8e2be5257cd0af73"}
    assert {c.doc_id for c in store.chunks.values()} == {"002_8e2be5257cd0af73"}
    assert store.vectors.ntotal == len(store.chunks)
    hits = retrieve(store, embedder, "state media 650 hostages freed", k=10)
    assert hits and all(h.doc_id == "002_8e2be5257cd0af73" for h in hits)


def test_save_keeps_only_live_and_previous_generation(seed_index, embedder, tmp_path):
    extra = tmp_path / "extra.txt"
    for n in range(3):
        extra.write_text(f"Version {n} of an extra article about gas.", encoding="utf-8")
        index_paths(seed_index, [extra], embedder)
    gens = sorted(p.name for p in seed_index.glob("gen-*"))
    assert len(gens) == 2
    assert (seed_index / "CURRENT").read_text().strip() == gens[-1]


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="qa index"):
        IndexStore.load(tmp_path / "none")


@pytest.mark.parametrize("victim", ["chunks.jsonl", "vectors.faiss", "articles.jsonl"])
def test_truncated_file_is_named(seed_index, victim):
    path = current_generation(seed_index) / victim
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(IndexCorruptError, match="damaged"):
        IndexStore.load(seed_index)
    status = index_status(seed_index)
    assert not status.ok and any(victim in p for p in status.problems)
    assert "DAMAGED" in status.render()


def test_corrupt_manifest_and_pointer(seed_index):
    gen = current_generation(seed_index)
    (gen / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="not valid JSON"):
        IndexStore.load(seed_index)
    (seed_index / "CURRENT").write_text("../../etc", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="names no generation"):
        IndexStore.load(seed_index)


def test_same_size_corruption_found_by_status_checksum(seed_index):
    path = current_generation(seed_index) / "chunks.jsonl"
    data = bytearray(path.read_bytes())
    data[5] = ord("X") if data[5] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))
    status = index_status(seed_index)
    assert not status.ok and "checksum" in status.problems[0]


def test_other_embedding_model_is_a_mismatch_with_rebuild_hint(seed_index, tmp_path):
    other = HashingEmbedder(dimension=64, name="another-model")
    store = IndexStore.load(seed_index)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        store.check_embedder(other)
    extra = tmp_path / "new.txt"
    extra.write_text("An extra article.", encoding="utf-8")
    before = current_generation(seed_index)
    with pytest.raises(IndexMismatchError):
        index_paths(seed_index, [extra], other)
    assert current_generation(seed_index) == before


def test_rebuild_reembeds_from_stored_texts(seed_index, tmp_path):
    other = HashingEmbedder(dimension=64, name="another-model")
    extra = tmp_path / "new.txt"
    extra.write_text("An extra article.", encoding="utf-8")
    report = index_paths(seed_index, [extra], other, rebuild=True)
    store = IndexStore.load(seed_index)
    assert store.manifest.embedding_model == "another-model" and store.manifest.dimension == 64
    assert report.articles_total == 3 and store.vectors.d == 64


def test_older_format_is_detected(seed_index):
    gen = current_generation(seed_index)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["format_version"] = 0
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format 0"):
        IndexStore.load(seed_index)


def test_embedding_longest_first_keeps_each_vector_with_its_passage(tmp_path):
    import numpy as np

    from qa.ingest.chunk import Chunk
    from qa.store.indexer import _embed

    embedder = HashingEmbedder()
    texts = [f"passage {i} " + "word " * ((i * 7) % 13) for i in range(300)]
    chunks = [Chunk(i, "d", 0, len(t), t) for i, t in enumerate(texts)]
    seen: list[int] = []
    vectors = _embed(chunks, embedder, embedder.dimension, False, lambda done, total: seen.append(done))
    assert np.allclose(vectors, embedder.embed(texts)) and seen[-1] == 300


def test_the_store_stores_what_it_is_given_and_checks_it(tmp_path):
    """`write_passages` takes passages and vectors made elsewhere; mismatched ones are refused."""
    import numpy as np

    from qa.ingest.read import content_hash
    from qa.records import Article
    from qa.store.indexer import prepare_passages

    embedder = HashingEmbedder()
    store = IndexStore.create(tmp_path, embedder.name, embedder.dimension)
    article = Article("a", "The plant was stormed on Thursday. Forty hostages died.")
    article.content_hash = content_hash(article)
    prepared = prepare_passages(store, [article], embedder)
    assert store.chunks == {} and store.manifest.next_chunk_id == 0  # preparing changes nothing
    with pytest.raises(ValueError, match="vectors"):
        store.write_passages(prepared.articles, prepared.chunks, prepared.vectors[:0])
    report = store.write_passages(prepared.articles, prepared.chunks, prepared.vectors)
    assert report.added == ["a"] and len(store.chunks) == len(prepared.chunks)
    assert store.manifest.next_chunk_id == len(prepared.chunks)
    with pytest.raises(ValueError, match="start at"):  # ids already used
        store.write_passages(prepared.articles, prepared.chunks, np.asarray(prepared.vectors))
