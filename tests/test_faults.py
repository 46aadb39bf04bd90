"""Faults: SIGKILL while indexing, damaged index files, resumable batched runs, no stale passages."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qa.errors import IndexCorruptError, IndexMismatchError
from qa.ingest.read import read_paths
from qa.search.retrieve import retrieve
from qa.store.index_store import IndexStore, current_generation, write_lock
from qa.store.indexer import index_paths, remove_articles
from qa.store.status import index_status
from qa.testing import HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
KILL_RUNS = int(os.environ.get("QA_TEST_KILL_RUNS", "30"))  # raise for a long soak run
WORDS = ("desert plant hostages army gas field siege border minister talks storm rescue oil attack "
         "convoy village harvest court election bridge").split()

# The indexing process the kill test SIGKILLs: imports, says "ready", then indexes with the fake
# embedder, committing a generation every BATCH articles.
WRITER = """
import sys
from qa.testing import HashingEmbedder
from qa.store.indexer import index_paths
index_dir, corpus, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
index_paths(index_dir, [corpus], HashingEmbedder(), batch_articles=batch, checkpoint_seconds=0)
print("done", flush=True)
"""


def make_corpus(folder: Path, n: int, version: int, seed: int) -> None:
    """`n` short generated articles a0000.txt..., their text depending on `version`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + f" number {i} v{version}."
                     for _ in range(rng.randint(3, 8))]
        (folder / f"a{i:04d}.txt").write_text(" ".join(sentences), encoding="utf-8")


def state_of(index_dir: Path) -> dict[str, str]:
    """doc_id -> content hash of the live index, after checking it loads and is consistent."""
    store = IndexStore.load(index_dir)
    assert store.vectors.ntotal == len(store.chunks) == store.vectors.index.ntotal
    assert {c.doc_id for c in store.chunks.values()} == set(store.articles)
    return {d: a.content_hash for d, a in store.articles.items()}


def expected_states(old: dict[str, str], corpus: Path, batch: int) -> list[dict[str, str]]:
    """Every state a batched run over `corpus` may commit, in order: old, old+batch 1, ..., new."""
    todo = [a for a in read_paths([corpus]).articles if old.get(a.doc_id) != a.content_hash]
    states, state = [dict(old)], dict(old)
    for first in range(0, len(todo), batch):
        state.update({a.doc_id: a.content_hash for a in todo[first : first + batch]})
        states.append(dict(state))
    return states


def assert_answers_exactly(index_dir: Path, embedder: HashingEmbedder) -> None:
    """The index answers, and every hit's offsets slice its article's text exactly."""
    store = IndexStore.load(index_dir)
    hits = retrieve(store, embedder, "hostages desert siege", k=5)
    assert hits
    for hit in hits:
        assert store.articles[hit.doc_id].text[hit.start : hit.end] == hit.text


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory) -> dict:
    """An old index of 120 articles, a new corpus (80 changed, 80 new, 40 same), the writer script."""
    base = tmp_path_factory.mktemp("kill")
    old_dir, new_dir = base / "old", base / "new"
    make_corpus(old_dir, 120, version=1, seed=1)
    make_corpus(new_dir, 200, version=2, seed=2)
    for i in range(80, 120):  # 40 articles identical in both: unchanged, never re-embedded
        shutil.copy(old_dir / f"a{i:04d}.txt", new_dir / f"a{i:04d}.txt")
    pristine = base / "pristine"
    index_paths(pristine, [old_dir], HashingEmbedder())
    script = base / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    return {"base": base, "new": new_dir, "pristine": pristine, "script": script,
            "old_state": state_of(pristine)}


def _run_and_kill(setup: dict, run: int, batch: int, delay: float | None) -> tuple[Path, float]:
    """Copy the pristine index, start the writer, SIGKILL it `delay` s after it is ready
    (with None, let it finish)."""
    index_dir = setup["base"] / f"run-{run:02d}"
    shutil.copytree(setup["pristine"], index_dir)
    proc = subprocess.Popen([sys.executable, str(setup["script"]), str(index_dir), str(setup["new"]),
                             str(batch)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    ready = time.perf_counter()
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGKILL), err
    return index_dir, time.perf_counter() - ready


def test_sigkill_at_random_moments_leaves_a_committed_state(kill_setup):
    """Writers killed at random (30 by default): each index loads, answers, equals one committed state."""
    setup, embedder = kill_setup, HashingEmbedder()
    index_dir, work = _run_and_kill(setup, -1, 25, delay=None)  # one full run: how long is the work?
    assert state_of(index_dir) == expected_states(setup["old_state"], setup["new"], 25)[-1]
    rng = random.Random(20240601)
    plans = [(run, 25 if run % 3 else 10_000, rng.uniform(0, 2.0 * work)) for run in range(KILL_RUNS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: (p, *_run_and_kill(setup, *p)), plans))
    outcomes = {"old": 0, "intermediate": 0, "new": 0, "killed mid-save": 0}
    for (run, batch, _delay), index_dir, _seconds in results:
        outcomes["killed mid-save"] += any(p.name.startswith(".gen-") for p in index_dir.iterdir())
        states = expected_states(setup["old_state"], setup["new"], batch)
        state = state_of(index_dir)
        assert state in states, f"run {run}: the index holds a mix of states"
        position = states.index(state)
        outcomes["old" if position == 0 else "new" if position == len(states) - 1 else "intermediate"] += 1
        assert_answers_exactly(index_dir, embedder)
        assert index_status(index_dir).ok, index_status(index_dir).render()
        if run % 5 == 0:  # resume: the rerun skips committed articles and reaches the new state
            report = index_paths(index_dir, [setup["new"]], embedder)
            assert state_of(index_dir) == states[-1]
            assert len(report.unchanged) == sum(state.get(d) == h for d, h in states[-1].items())
            assert not [p for p in index_dir.iterdir() if p.name.startswith((".gen-", ".CURRENT"))]
    print(f"\nkill test: {KILL_RUNS} runs, outcomes {outcomes}, full run {work:.2f}s")
    assert outcomes["old"] + outcomes["intermediate"] + outcomes["new"] == KILL_RUNS


def test_batched_run_commits_generations_and_resumes(tmp_path):
    """An exception mid-run keeps earlier batches; the rerun embeds only what is left."""
    corpus = tmp_path / "c"
    make_corpus(corpus, 60, version=1, seed=3)

    class Failing(HashingEmbedder):
        calls = 0

        def _embed_batch(self, texts):
            Failing.calls += 1
            if Failing.calls > 3:
                raise KeyboardInterrupt
            return super()._embed_batch(texts)

    index_dir = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        index_paths(index_dir, [corpus], Failing(name="fake-hashing"), batch_articles=10,
                    checkpoint_seconds=0)
    kept = state_of(index_dir)
    assert 0 < len(kept) < 60 and len(kept) % 10 == 0
    report = index_paths(index_dir, [corpus], HashingEmbedder(), batch_articles=10, checkpoint_seconds=0)
    assert len(report.unchanged) == len(kept) and len(report.added) == 60 - len(kept)
    assert len(state_of(index_dir)) == 60


def test_checkpoint_interval_limits_saves(tmp_path):
    corpus = tmp_path / "c"
    make_corpus(corpus, 30, version=1, seed=4)
    report = index_paths(tmp_path / "idx", [corpus], HashingEmbedder(), batch_articles=5,
                         checkpoint_seconds=3600)
    assert report.generations_saved == 1 and report.articles_total == 30


# ---- deletion and updates: no stale passage, no compaction needed ----------------------------------
def test_remove_and_update_leave_no_stale_vectors(tmp_path):
    """IndexIDMap2 over IndexFlatIP drops removed vectors at once: ntotal tracks the passages."""
    corpus = tmp_path / "c"
    make_corpus(corpus, 40, version=1, seed=5)
    index_dir = tmp_path / "idx"
    embedder = HashingEmbedder()
    index_paths(index_dir, [corpus], embedder)
    for round_ in range(5):
        make_corpus(corpus, 40 - round_, version=round_ + 2, seed=5)
        (corpus / f"a{39 - round_:04d}.txt").unlink()
        index_paths(index_dir, [corpus], embedder)
        assert remove_articles(index_dir, [f"a{39 - round_:04d}"]) == [f"a{39 - round_:04d}"]
        store = IndexStore.load(index_dir)
        assert store.vectors.ntotal == store.vectors.index.ntotal == len(store.chunks)
        assert all(f"v{round_ + 2}." in c.text for c in store.chunks.values())
        hits = retrieve(store, embedder, f"number {39 - round_} v{round_ + 1}", k=50)
        assert hits and all(h.doc_id != f"a{39 - round_:04d}" and f"v{round_ + 1}." not in h.text
                            for h in hits)
    assert len(IndexStore.load(index_dir).articles) == 35


# ---- damaged files --------------------------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flip":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x5A]) + data[middle + 1 :])
    elif how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))


@pytest.mark.parametrize("how", ["truncate", "empty", "flip", "delete", "garbage"])
@pytest.mark.parametrize("victim", ["manifest.json", "articles.jsonl", "chunks.jsonl", "vectors.faiss"])
def test_every_damaged_file_is_a_clear_error_named_by_status(seed_index, victim, how):
    _damage(current_generation(seed_index) / victim, how)
    with pytest.raises(IndexCorruptError, match="rebuild") as err:
        IndexStore.load(seed_index)
    # A damaged manifest may show as a data file failing the manifest's (now wrong) checksum.
    names = (victim,) if victim != "manifest.json" else ("manifest.json", ".jsonl", ".faiss")
    assert any(n in str(err.value) for n in names)
    status = index_status(seed_index)
    assert not status.ok and any(n in p for p in status.problems for n in names)
    assert "DAMAGED" in status.render()


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00", b"gen-999999\n", b"gen-..\n"])
def test_damaged_current_pointer(seed_index, content):
    (seed_index / "CURRENT").write_bytes(content)
    with pytest.raises(IndexCorruptError):
        IndexStore.load(seed_index)
    assert not index_status(seed_index).ok


@pytest.mark.parametrize(("field", "value"), [("dimension", "384"), ("files", []), ("articles", None),
                                               ("chunking", {"max_chars": 480, "new_knob": 1})])
def test_manifest_with_wrong_fields(seed_index, field, value):
    path = current_generation(seed_index) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises((IndexCorruptError, IndexMismatchError), match="rebuild"):
        IndexStore.load(seed_index)


def test_consistent_files_that_disagree_are_caught(seed_index):
    """A hand-edited chunks.jsonl with a matching checksum still fails the id cross-check."""
    gen = current_generation(seed_index)
    rows = (gen / "chunks.jsonl").read_text().splitlines()[:-1]
    (gen / "chunks.jsonl").write_text("\n".join(rows) + "\n")
    manifest = json.loads((gen / "manifest.json").read_text())
    import hashlib

    data = (gen / "chunks.jsonl").read_bytes()
    manifest["files"]["chunks.jsonl"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="vectors"):
        IndexStore.load(seed_index)
    assert not index_status(seed_index).ok


def test_rebuild_repairs_a_damaged_or_foreign_index_in_one_command(seed_index, tmp_path):
    from qa.settings import SEED_DIR

    _damage(current_generation(seed_index) / "vectors.faiss", "garbage")
    report = index_paths(seed_index, [SEED_DIR], HashingEmbedder(), rebuild=True)
    assert report.notes and "started afresh" in report.notes[0]
    assert index_status(seed_index).ok and len(state_of(seed_index)) == 2
    manifest_path = current_generation(seed_index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        index_paths(seed_index, [SEED_DIR], HashingEmbedder())
    index_paths(seed_index, [SEED_DIR], HashingEmbedder(), rebuild=True)
    assert index_status(seed_index).ok


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_writer(seed_index):
    (seed_index / ".gen-000009-abc").mkdir()
    (seed_index / ".CURRENT-12345").write_text("gen-000009\n")
    assert "leftovers" in index_status(seed_index).render()
    with write_lock(seed_index):
        pass
    assert not [p for p in seed_index.iterdir() if p.name.startswith((".gen-", ".CURRENT"))]
    assert index_status(seed_index).ok


def test_status_prints_the_manifest(seed_index):
    text = index_status(seed_index).render()
    for needle in ("format:     1", "fake-hashing (256 dims)", "max_chars=480", "2 articles",
                   "'000_6ad931cbaa20b811'", "state:      OK"):
        assert needle in text
    store = IndexStore.load(seed_index)
    assert store.manifest.articles["000_6ad931cbaa20b811"]["content_hash"][:12] in text
