"""The Milvus vector store (through Milvus Lite): the same index behaviour as FAISS, the store
recorded in the manifest, the date filter, and what a crash mid-write leaves in Milvus."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.cli import main as cli_main
from qa.errors import IndexCorruptError, VectorStoreMismatchError, VectorStoreUnavailableError
from qa.ingest.read import read_paths
from qa.records import Article
from qa.search.retrieve import retrieve
from qa.settings import SEED_DIR, VectorStoreSettings
from qa.store import milvus as milvus_store
from qa.store.index_store import IndexStore, current_generation
from qa.store.indexer import index_paths, open_or_create, remove_articles, upsert
from qa.store.status import index_status
from qa.testing import HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
MILVUS = VectorStoreSettings(kind="milvus")
FAISS = VectorStoreSettings(kind="faiss")
WORDS = ("desert plant hostages army gas field siege border minister talks storm rescue oil attack "
         "convoy village harvest court election bridge").split()


@pytest.fixture(autouse=True)
def _close_lite_files():
    """Each test's Milvus Lite files are closed after it (a file serves one process at a time)."""
    yield
    for uri in {key[0] for key in list(milvus_store._clients)}:
        milvus_store.release(uri)


def lite_file(index_dir: Path) -> str:
    return str((index_dir / milvus_store.LITE_FILE).resolve())


def rows_in_milvus(store: IndexStore) -> set[int]:
    """Every chunk id the store's collection holds, committed or not."""
    rows = store.milvus.client.query(store.milvus.collection, filter="id >= 0", output_fields=["id"],
                                     limit=16_384)
    return {int(r["id"]) for r in rows}


def make_corpus(folder: Path, n: int, version: int, seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + f" number {i} v{version}."
                     for _ in range(rng.randint(3, 8))]
        (folder / f"a{i:04d}.txt").write_text(" ".join(sentences), encoding="utf-8")


def test_milvus_index_answers_like_faiss_and_records_its_store(tmp_path, embedder):
    faiss_dir, milvus_dir = tmp_path / "faiss", tmp_path / "milvus"
    index_paths(faiss_dir, [SEED_DIR], embedder, store_settings=FAISS)
    report = index_paths(milvus_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    assert report.passages_total == 17
    gen = current_generation(milvus_dir)
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["vector_store"]["kind"] == "milvus" and manifest["vector_store"]["uri"] == ""
    assert "vectors.faiss" not in manifest["files"] and not (gen / "vectors.faiss").exists()
    assert "vector_store" not in json.loads((current_generation(faiss_dir) / "manifest.json").read_text())
    a, b = IndexStore.load(faiss_dir), IndexStore.load(milvus_dir)  # kind None: the index's own store
    assert b.milvus is not None and a.milvus is None
    for question in ("Who masterminded the raid?", "How many hostages were freed?", "gas plant operators"):
        vec = embedder.embed([question])[0]
        dense_a, dense_b = a.search_dense(vec, 10), b.search_dense(vec, 10)
        assert np.allclose([s for _, s in dense_a], [s for _, s in dense_b], atol=1e-5)
        scored = [c for c, s in dense_a if s > 1e-4]  # (the fake embedder ties many passages at 0)
        assert len(scored) >= 3 and [c for c, _ in dense_b[:len(scored)]] == scored
        hits_a, hits_b = retrieve(a, embedder, question, k=3), retrieve(b, embedder, question, k=3)
        assert [(h.chunk_id, h.text) for h in hits_a] == [(h.chunk_id, h.text) for h in hits_b]
        assert np.allclose([h.dense_score for h in hits_a], [h.dense_score for h in hits_b], atol=1e-5)
        for hit in hits_b:
            assert b.articles[hit.doc_id].text[hit.start:hit.end] == hit.text
    status = index_status(milvus_dir, MILVUS)
    assert status.ok and "milvus collection qa_" in status.render()


def test_update_and_remove_leave_no_stale_rows(tmp_path, embedder):
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    folder.mkdir()
    (folder / "a.txt").write_text("The plant is in the desert. It makes gas.", encoding="utf-8")
    (folder / "b.txt").write_text("The court met on Monday about the bridge.", encoding="utf-8")
    index_paths(index_dir, [folder], embedder, store_settings=MILVUS)
    (folder / "a.txt").write_text("Zebras graze in the savanna.", encoding="utf-8")
    report = index_paths(index_dir, [folder], embedder, store_settings=MILVUS)
    assert report.updated == ["a"] and report.unchanged == ["b"]
    store = IndexStore.load(index_dir, MILVUS)
    assert sorted(c.text for c in store.chunks.values()) == ["The court met on Monday about the bridge.",
                                                             "Zebras graze in the savanna."]
    assert rows_in_milvus(store) == set(store.chunks)  # the old version's rows are gone from Milvus
    assert all("desert" not in h.text for h in retrieve(store, embedder, "desert gas plant", k=5))
    assert remove_articles(index_dir, ["a"], MILVUS) == ["a"]
    store = IndexStore.load(index_dir, MILVUS)
    assert rows_in_milvus(store) == set(store.chunks) and {c.doc_id for c in store.chunks.values()} == {"b"}
    assert all(h.doc_id == "b" for h in retrieve(store, embedder, "zebras savanna", k=5))


@pytest.mark.parametrize("settings", [FAISS, MILVUS], ids=["faiss", "milvus"])
def test_dense_search_filters_by_publication_date(tmp_path, embedder, settings):
    docs = tmp_path / "news.jsonl"
    text = "Talks on the border resumed after the storm."
    records = [{"id": "early", "text": text + " Early.", "published": "2013-01-16"},
               {"id": "late", "text": text + " Late.", "published": "2013-01-20"},
               {"id": "undated", "text": text + " Undated."}]
    docs.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    index_paths(tmp_path / "idx", [docs], embedder, store_settings=settings)
    store = IndexStore.load(tmp_path / "idx", settings)
    vec = embedder.embed([text])[0]
    doc_of = {c.chunk_id: c.doc_id for c in store.chunks.values()}
    assert {doc_of[c] for c, _ in store.search_dense(vec, 10)} == {"early", "late", "undated"}
    assert {doc_of[c] for c, _ in store.search_dense(vec, 10, published_on_or_before="2013-01-18")} == \
        {"early", "undated"}
    assert {doc_of[c] for c, _ in store.search_dense(vec, 10, published_on_or_before="2013-01-20")} == \
        {"early", "late", "undated"}
    assert {doc_of[c] for c, _ in store.search_dense(vec, 10, published_on_or_before="2000-01-01")} == \
        {"undated"}


def test_the_other_store_is_a_named_error_and_rebuild_moves_the_index(tmp_path, embedder, capsys,
                                                                      monkeypatch):
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], embedder, store_settings=FAISS)
    with pytest.raises(VectorStoreMismatchError, match=r"keeps its vectors in faiss, not milvus.*"
                       r"qa index --rebuild PATH --index-dir .* --vector-store milvus"):
        IndexStore.load(index_dir, MILVUS)
    with pytest.raises(VectorStoreMismatchError):
        index_paths(index_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    monkeypatch.setattr("qa.api.shared_embedder", lambda model=None: embedder)
    assert cli_main(["status", "--index-dir", str(index_dir), "--vector-store", "milvus"]) == 0
    assert cli_main(["remove", "x", "--index-dir", str(index_dir), "--vector-store", "milvus"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qa: error: the index at")
    assert "--vector-store milvus" in err[0]
    before = IndexStore.load(index_dir)
    report = index_paths(index_dir, [SEED_DIR], embedder, rebuild=True, store_settings=MILVUS)
    assert any("into milvus" in note for note in report.notes) and report.unchanged
    moved = IndexStore.load(index_dir, MILVUS)
    assert moved.milvus is not None
    assert {d: a.content_hash for d, a in moved.articles.items()} == \
        {d: a.content_hash for d, a in before.articles.items()}
    assert rows_in_milvus(moved) == set(moved.chunks)
    with pytest.raises(VectorStoreMismatchError, match="keeps its vectors in milvus, not faiss"):
        IndexStore.load(index_dir, FAISS)
    index_paths(index_dir, [SEED_DIR], embedder, rebuild=True, store_settings=FAISS)  # and back
    assert IndexStore.load(index_dir).milvus is None


def test_rebuild_with_another_model_replaces_the_collection(tmp_path, embedder):
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    old = IndexStore.load(index_dir, MILVUS)
    other = HashingEmbedder(dimension=128)
    other.name = "fake-hashing-128"
    fresh = open_or_create(index_dir, other, rebuild=True)
    assert fresh.milvus.collection != old.milvus.collection
    assert old.milvus.client.has_collection(old.milvus.collection)  # kept until the rebuild commits
    assert IndexStore.load(index_dir).manifest.dimension == 256
    fresh.save()
    new = IndexStore.load(index_dir)
    assert new.milvus is not None and new.milvus.collection != old.milvus.collection
    assert new.manifest.dimension == 128
    assert not old.milvus.client.has_collection(old.milvus.collection)  # dropped after the commit
    assert retrieve(new, other, "Who masterminded the raid?", k=3)
    assert not list(index_dir.glob(".milvus-new-*"))


def test_a_first_build_killed_before_its_commit_leaves_a_collection_the_next_build_drops(tmp_path,
                                                                                       embedder):
    index_dir = tmp_path / "idx"
    killed = IndexStore.create(index_dir, embedder.name, embedder.dimension, store=MILVUS)
    upsert(killed, read_paths([SEED_DIR]).articles, embedder)  # rows in Milvus, never saved
    intents = [p.name for p in index_dir.glob(".milvus-new-*")]
    assert intents == [f".milvus-new-{killed.milvus.collection}"]
    index_paths(index_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    live = IndexStore.load(index_dir, MILVUS)
    assert live.milvus.collection != killed.milvus.collection
    assert not live.milvus.client.has_collection(killed.milvus.collection)
    assert not list(index_dir.glob(".milvus-new-*"))


def test_an_uncommitted_write_is_never_retrieved_and_is_cleaned_by_the_next_writer(tmp_path, embedder):
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    secret = "The zeppelin carried seventy crates of marmalade across the fjord."
    writer = IndexStore.load(index_dir, MILVUS)
    committed = dict(writer.chunks)
    article = Article(doc_id="ghost", text=secret)
    from qa.ingest.read import content_hash

    article.content_hash = content_hash(article)
    upsert(writer, [article], embedder)  # rows reach Milvus; the manifest is never saved (a crash)
    ghost_ids = set(writer.chunks) - set(committed)
    assert ghost_ids <= rows_in_milvus(writer)
    reader = IndexStore.load(index_dir, MILVUS)
    assert set(reader.chunks) == set(committed)
    vec = embedder.embed([secret])[0]
    assert not {c for c, _ in reader.search_dense(vec, 50)} & ghost_ids
    assert all(h.doc_id != "ghost" for h in retrieve(reader, embedder, secret, k=10))
    (tmp_path / "extra.txt").write_text("Oil prices rose on Tuesday.", encoding="utf-8")
    index_paths(index_dir, [tmp_path / "extra.txt"], embedder, store_settings=MILVUS)  # a real write
    after = IndexStore.load(index_dir, MILVUS)
    assert rows_in_milvus(after) == set(after.chunks)  # the ghost rows were deleted first


def test_a_crash_between_commit_and_delete_hides_old_rows_until_the_next_writer(tmp_path, embedder,
                                                                                 monkeypatch):
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    folder.mkdir()
    (folder / "a.txt").write_text("The convoy crossed the bridge at dawn.", encoding="utf-8")
    index_paths(index_dir, [folder], embedder, store_settings=MILVUS)
    old_ids = set(IndexStore.load(index_dir, MILVUS).chunks)
    (folder / "a.txt").write_text("The harvest failed in the village.", encoding="utf-8")
    monkeypatch.setattr(milvus_store.MilvusVectors, "apply_pending", lambda self: None)  # killed here
    index_paths(index_dir, [folder], embedder, store_settings=MILVUS)
    monkeypatch.undo()
    store = IndexStore.load(index_dir, MILVUS)
    assert store.milvus.pending_delete and old_ids <= rows_in_milvus(store)  # recorded, not yet done
    vec = embedder.embed(["The convoy crossed the bridge at dawn."])[0]
    assert not {c for c, _ in store.search_dense(vec, 10)} & old_ids
    assert all("convoy" not in h.text for h in retrieve(store, embedder, "convoy bridge dawn", k=5))
    remove_articles(index_dir, ["nothing"], MILVUS)  # opens for writing but changes nothing
    (folder / "b.txt").write_text("Another article about the storm.", encoding="utf-8")
    index_paths(index_dir, [folder], embedder, store_settings=MILVUS)
    store = IndexStore.load(index_dir, MILVUS)
    assert rows_in_milvus(store) == set(store.chunks) and not store.milvus.pending_delete


def test_a_missing_collection_is_damage_and_a_second_process_is_a_clear_error(tmp_path, embedder):
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], embedder, store_settings=MILVUS)
    script = ("import sys, time\nfrom pymilvus import MilvusClient\nMilvusClient(sys.argv[1])\n"
              "print('open', flush=True)\ntime.sleep(60)\n")
    milvus_store.release(lite_file(index_dir))
    holder = subprocess.Popen([sys.executable, "-c", script, lite_file(index_dir)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(VectorStoreUnavailableError, match=r"open in another process.*Milvus server"):
            IndexStore.load(index_dir, MILVUS)
    finally:
        holder.kill()
        holder.wait()
    store = IndexStore.load(index_dir, MILVUS)
    store.milvus.client.drop_collection(store.milvus.collection)
    with pytest.raises(IndexCorruptError, match=r"collection .* is missing.*--rebuild"):
        IndexStore.load(index_dir, MILVUS)
    assert not index_status(index_dir, MILVUS).ok


# ---- SIGKILL mid-upsert ---------------------------------------------------------------------
WRITER = """
import sys
from qa.testing import HashingEmbedder
from qa.store.indexer import index_paths
from qa.settings import VectorStoreSettings
index_dir, corpus, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pymilvus, milvus_lite  # imports first, so the kill falls in the work
print("ready", flush=True)
index_paths(index_dir, [corpus], HashingEmbedder(), batch_articles=batch, checkpoint_seconds=0,
            store_settings=VectorStoreSettings(kind="milvus"))
print("done", flush=True)
"""


def _state(index_dir: Path) -> dict[str, str]:
    store = IndexStore.load(index_dir, MILVUS)
    assert {c.doc_id for c in store.chunks.values()} == set(store.articles)
    return {d: a.content_hash for d, a in store.articles.items()}


def _states(old: dict[str, str], corpus: Path, batch: int) -> list[dict[str, str]]:
    todo = [a for a in read_paths([corpus]).articles if old.get(a.doc_id) != a.content_hash]
    states, state = [dict(old)], dict(old)
    for first in range(0, len(todo), batch):
        state.update({a.doc_id: a.content_hash for a in todo[first:first + batch]})
        states.append(dict(state))
    return states


def test_sigkill_mid_upsert_leaves_a_committed_state_and_resumes(tmp_path):
    """Writers killed at random: the index loads, equals one committed state, retrieval returns only
    passages of committed article versions (exact offsets), and a rerun finishes with no stale rows."""
    runs = int(__import__("os").environ.get("QA_TEST_MILVUS_KILL_RUNS", "6"))
    embedder = HashingEmbedder()
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    make_corpus(old_dir, 40, version=1, seed=1)
    make_corpus(new_dir, 80, version=2, seed=2)
    for i in range(30, 40):
        shutil.copy(old_dir / f"a{i:04d}.txt", new_dir / f"a{i:04d}.txt")
    pristine = tmp_path / "pristine"
    index_paths(pristine, [old_dir], embedder, store_settings=MILVUS)
    old_state = _state(pristine)
    milvus_store.release(lite_file(pristine))
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    new_texts = {a.doc_id: a.text for a in read_paths([new_dir]).articles}

    def run(name: str, delay: float | None) -> tuple[Path, float]:
        index_dir = tmp_path / name
        shutil.copytree(pristine, index_dir)
        proc = subprocess.Popen([sys.executable, str(script), str(index_dir), str(new_dir), "10"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        ready = time.perf_counter()
        if delay is not None:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, -signal.SIGKILL), err
        return index_dir, time.perf_counter() - ready

    full_dir, work = run("full", None)
    states = _states(old_state, new_dir, 10)
    assert _state(full_dir) == states[-1]
    milvus_store.release(lite_file(full_dir))
    rng = random.Random(7)
    outcomes = []
    for i in range(runs):
        index_dir, _ = run(f"run-{i}", rng.uniform(0.05, 1.1) * work)
        state = _state(index_dir)
        assert state in states, f"run {i}: a mix of states"
        outcomes.append(states.index(state))
        store = IndexStore.load(index_dir, MILVUS)
        for text in list(new_texts.values())[::4]:  # query with (maybe uncommitted) articles' own text
            for hit in retrieve(store, embedder, text, k=8):
                assert hit.chunk_id in store.chunks
                assert store.articles[hit.doc_id].text[hit.start:hit.end] == hit.text
                assert store.articles[hit.doc_id].content_hash == state[hit.doc_id]
        assert index_status(index_dir, MILVUS).ok
        if i % 2 == 0:
            report = index_paths(index_dir, [new_dir], embedder, store_settings=MILVUS)
            assert _state(index_dir) == states[-1]
            assert len(report.unchanged) == sum(state.get(d) == h for d, h in states[-1].items())
            resumed = IndexStore.load(index_dir, MILVUS)
            assert rows_in_milvus(resumed) == set(resumed.chunks)
        milvus_store.release(lite_file(index_dir))
    print(f"\nmilvus kill test: {runs} runs, committed batches reached {outcomes} of {len(states) - 1}, "
          f"full run {work:.2f}s")


def test_a_segment_killed_between_its_index_files_is_rebuilt_on_load(tmp_path):
    """Seen in the kill test: the first index file of the newest segment cut to 8 bytes and the
    next one never written. The next open removes the segment's index files, Milvus Lite
    rebuilds them, and nothing is lost; the other segments' index files are kept."""
    index_dir = tmp_path / "index"
    make_corpus(tmp_path / "a", 12, version=1, seed=3)
    make_corpus(tmp_path / "b", 6, version=2, seed=4)
    index_paths(index_dir, [tmp_path / "a"], HashingEmbedder(), store_settings=MILVUS)
    milvus_store.release(lite_file(index_dir))
    index_paths(index_dir, [tmp_path / "b"], HashingEmbedder(), store_settings=MILVUS)
    before = _state(index_dir)
    milvus_store.release(lite_file(index_dir))
    indexes = sorted(Path(lite_file(index_dir)).glob("collections/*/partitions/*/indexes/*"))
    segments = sorted({p.name.partition(".")[0] for p in indexes})
    assert len(segments) >= 2, f"expected two segments, Lite wrote {indexes}"
    newest = [p for p in indexes if p.name.startswith(segments[-1] + ".")]
    assert len(newest) >= 2, f"expected two index kinds, Lite wrote {newest}"
    newest[0].write_bytes(newest[0].read_bytes()[:8])
    for path in newest[1:]:
        path.unlink()
    kept = [p for p in indexes if p not in newest]
    assert _state(index_dir) == before
    assert all(p.is_file() for p in newest) and all(p.is_file() for p in kept)
    assert newest[0].stat().st_size > 8


def test_an_empty_index_file_left_by_a_killed_writer_is_rebuilt_on_load(tmp_path):
    """A SIGKILL between a segment's data file and its index files leaves a zero-byte index file
    (seen in the kill test); the next open removes it, Milvus Lite rebuilds it, nothing is lost."""
    index_dir = tmp_path / "index"
    make_corpus(tmp_path / "a", 12, version=1, seed=3)
    index_paths(index_dir, [tmp_path / "a"], HashingEmbedder(), store_settings=MILVUS)
    before = _state(index_dir)
    milvus_store.release(lite_file(index_dir))
    indexes = sorted(Path(lite_file(index_dir)).glob("collections/*/partitions/*/indexes/*"))
    assert indexes, "Milvus Lite wrote no index files to tear"
    indexes[0].write_bytes(b"")
    assert milvus_store.remove_torn_lite_indexes(Path(lite_file(index_dir))) == [indexes[0]]
    indexes[0].write_bytes(b"")  # torn again: now the normal open path must repair it
    assert _state(index_dir) == before
    assert indexes[0].stat().st_size > 0
