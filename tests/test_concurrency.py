"""Concurrency: two writer processes serialise on the lock, readers never see a half-written index,
32 threads ask at once and all get exact citations."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qa.api import Assistant
from qa.errors import IndexLockedError
from qa.settings import SEED_DIR, Settings
from qa.store.index_store import IndexStore, write_lock
from qa.store.indexer import index_paths
from qa.testing import ExtractiveGenerator, HashingEmbedder

REPO = Path(__file__).resolve().parent.parent

WRITER = """
import sys, time
from pathlib import Path
from qa.testing import HashingEmbedder
from qa.store.indexer import index_paths
index_dir, folder, prefix, rounds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
folder.mkdir(parents=True, exist_ok=True)
for n in range(rounds):
    for i in range(5):
        (folder / f"{prefix}{i}.txt").write_text(
            f"Report {prefix} {i} round {n}. The convoy crossed the border. Talks resumed.", encoding="utf-8")
    index_paths(index_dir, [folder], HashingEmbedder(), batch_articles=2, checkpoint_seconds=0)
print("done", flush=True)
"""


def _writer(tmp_path: Path, index_dir: Path, prefix: str, rounds: int) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    return subprocess.Popen([sys.executable, str(script), str(index_dir), str(tmp_path / prefix), prefix,
                             str(rounds)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _consistent(store: IndexStore) -> None:
    assert store.vectors.ntotal == len(store.chunks)
    assert {c.doc_id for c in store.chunks.values()} <= set(store.articles)
    for chunk in store.chunks.values():
        assert store.articles[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_two_writer_processes_are_serialised(tmp_path):
    """Both writers' articles survive: without the lock one would save over the other's work."""
    index_dir = tmp_path / "idx"
    procs = [_writer(tmp_path, index_dir, prefix, rounds=4) for prefix in ("x", "y")]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = IndexStore.load(index_dir)
    assert set(store.articles) == {f"{p}{i}" for p in "xy" for i in range(5)}
    assert all("round 3" in a.text for a in store.articles.values())
    _consistent(store)


def test_a_held_lock_times_out_with_a_clear_error(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from qa.store.index_store import write_lock\n"
         "with write_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(30)", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(IndexLockedError, match="another process"), write_lock(tmp_path, timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with write_lock(tmp_path, timeout=5):  # a killed holder's lock is free again
        pass


def test_readers_never_see_a_half_written_index(tmp_path):
    """A reader loads in a loop while another process saves 30 generations (old ones pruned)."""
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], HashingEmbedder())
    writer = _writer(tmp_path, index_dir, "w", rounds=6)
    loads, generations = 0, set()
    while writer.poll() is None:
        store = IndexStore.load(index_dir)  # must never raise
        _consistent(store)
        generations.add(store.manifest.generation)
        loads += 1
    assert writer.returncode == 0, writer.communicate()[1]
    assert loads > 5 and len(generations) > 2


def test_32_concurrent_asks_get_exact_citations(seed_index, tmp_path):
    """32 threads ask at once (while a writer adds articles): every answer cites exact offsets."""
    embedder = HashingEmbedder()
    assistant = Assistant(embedder=embedder, generator=ExtractiveGenerator(),
                          settings=Settings(index_dir=seed_index, min_relevance=0.05))
    texts = {a.doc_id: a.text for a in IndexStore.load(seed_index).articles.values()}
    questions = ["How many hostages were freed?", "Where is the gas plant?",
                 "What did state media say?", "Who attacked the plant?"]
    barrier = threading.Barrier(32)
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            extra = tmp_path / "extra.txt"
            extra.write_text(f"An unrelated note about harvest number {n}.", encoding="utf-8")
            index_paths(seed_index, [extra], embedder)
            n += 1
            time.sleep(0.01)

    def ask(i: int):
        barrier.wait()
        return assistant.ask(questions[i % len(questions)])

    background = threading.Thread(target=writer)
    background.start()
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(ask, range(32)))
    finally:
        stop.set()
        background.join()
    assert len(answers) == 32
    cited = 0
    for answer in answers:
        assert answer.abstained or answer.citations
        for c in answer.citations:
            assert texts[c.doc_id][c.start : c.end] == c.text
            assert f"[{c.n}]" in answer.text
            cited += 1
    assert cited >= 16
