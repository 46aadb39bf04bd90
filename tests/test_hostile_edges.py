"""Edges a hostile user finds: closed pipes, a held lock, huge articles, look-alike ids, symbolic
links, upload names and sizes, skip counts, routine errors in the log, asking too early.

Rows of docs/robustness.md ("Hostile input tried") name these tests.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

import qa.api
import qa.ui.handlers as ui_handlers
import qa.ui.page as ui_page
from qa.api import Assistant, check_question
from qa.cli import main
from qa.errors import (
    EmptyFileError,
    IndexingInProgressError,
    IndexLockedError,
    IndexMissingError,
    InvalidRecordError,
    UnreadableFileError,
    UnsupportedFileError,
)
from qa.ingest.read import parse_jsonl, read_file, read_paths, skip_summary
from qa.search.retrieve import retrieve
from qa.settings import SEED_DIR, Settings
from qa.store import embed_checkpoint, indexer
from qa.store.index_store import IndexStore, write_lock
from qa.store.indexer import embedding_estimate, index_paths
from qa.store.lock import HOLDER_FILE
from qa.store.status import index_status
from qa.testing import ExtractiveGenerator, HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
# The `qa` entry point with the fake models (a subprocess, so that its stdout can be a closed pipe).
CLI_WITH_FAKES = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even from a background job
import qa.api
from qa.testing import ExtractiveGenerator, HashingEmbedder
qa.api.shared_embedder = lambda *a, **k: HashingEmbedder()
qa.api.shared_generator = lambda *a, **k: ExtractiveGenerator()
from qa.cli import main
sys.exit(main(sys.argv[1:]))
"""
HOLD_LOCK = ("import sys, time; from qa.store.index_store import write_lock\n"
             "with write_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)")


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "QA_MIN_RELEVANCE": "0.05", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CLI_WITH_FAKES, *args], cwd=REPO, env=env, **kw)


@pytest.fixture
def lock_holder(tmp_path):
    """Another process holding the write lock of tmp_path/idx (killed afterwards)."""
    index_dir = tmp_path / "idx"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield index_dir, proc
    proc.kill()
    proc.wait()


# ---- 1. a closed stdout ------------------------------------------------------------------------
@pytest.mark.parametrize("verb", ["status", "ask"])
def test_a_closed_stdout_ends_quietly_with_status_141(seed_index, verb):
    """`qa status | true`, `qa ask ... | true`: no BrokenPipeError traceback, exit 141 (128 + SIGPIPE)."""
    args = ["status"] if verb == "status" else ["ask", "Who masterminded the raid?"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before qa writes a byte
    try:
        proc = _cli(*args, "--index-dir", str(seed_index), stdout=write_end, stderr=subprocess.PIPE,
                    text=True)
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert err == "" and proc.returncode == 141


# ---- 2. waiting for another writer's lock ------------------------------------------------------
def test_a_waiting_writer_says_for_whom_it_waits(lock_holder):
    index_dir, proc = lock_holder
    holder = json.loads((index_dir / HOLDER_FILE).read_text())
    assert holder["pid"] == proc.pid and holder["since"] <= time.time()
    lines: list[str] = []
    with pytest.raises(IndexLockedError, match=f"another process \\(pid {proc.pid}\\b"), \
            write_lock(index_dir, timeout=1.5, on_wait=lines.append):
        pass
    assert len(lines) == 1, lines  # said at once, not repeated while the holder stays the same
    assert f"pid {proc.pid}" in lines[0] and "since" in lines[0] and "Ctrl-C" in lines[0]
    assert "waiting for the index lock at" in lines[0]


def test_ctrl_c_while_waiting_for_the_lock_is_one_line(lock_holder):
    """`qa remove` waits for the holder; Ctrl-C gives one line, exit 130, no traceback."""
    index_dir, holder = lock_holder
    proc = _cli("remove", "x", "--index-dir", str(index_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert "waiting for the index lock" in first and f"pid {holder.pid}" in first, first
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in rest, rest
    assert rest.strip().splitlines() == [rest.strip()]
    assert rest.startswith("qa: stopped waiting for the index lock") and "nothing was changed" in rest
    assert not (index_dir / "CURRENT").exists()


def test_the_holder_file_goes_with_the_lock(tmp_path):
    with write_lock(tmp_path):
        assert json.loads((tmp_path / HOLDER_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / HOLDER_FILE).exists()


# ---- 3. huge single articles -------------------------------------------------------------------
class FailingEmbedder(HashingEmbedder):
    """The hashing fake that dies (as a killed run would) after `calls` embed calls."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.left = calls

    def embed(self, texts, progress=False):
        if self.left <= 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().embed(texts, progress)


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts, progress=False):
        self.texts += len(texts)
        return super().embed(texts, progress)


@pytest.fixture
def small_blocks(monkeypatch):
    """Articles of 40+ passages are embedded in saved blocks of 16 (instead of 2,048 and 1,024)."""
    monkeypatch.setattr(embed_checkpoint, "LARGE_ARTICLE_PASSAGES", 40)
    monkeypatch.setattr(embed_checkpoint, "BLOCK_PASSAGES", 16)


def _big_article(folder: Path, sentences: int = 1200) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "big.txt"
    text = " ".join(f"Report {i} says the convoy {i % 7} crossed gate {i}." for i in range(sentences))
    path.write_text(text, encoding="utf-8")
    return path


def test_a_killed_run_resumes_inside_a_large_article_never_showing_half_of_it(tmp_path, small_blocks):
    big = _big_article(tmp_path / "docs")
    index_dir = tmp_path / "idx"
    index_paths(index_dir, [SEED_DIR], HashingEmbedder())
    with pytest.raises(KeyboardInterrupt):
        index_paths(index_dir, [big], FailingEmbedder(calls=5))
    store = IndexStore.load(index_dir)
    assert "big" not in store.articles  # not half of it: nothing of it is searchable
    assert all(h.doc_id != "big" for h in retrieve(store, HashingEmbedder(), "convoy crossed gate 17", k=10))
    assert len(list((index_dir / embed_checkpoint.PARTIAL_DIR).glob("*/block-*.npy"))) == 5
    assert "saved embeddings of 1 large article" in index_status(index_dir).render()

    counting = CountingEmbedder()
    report = index_paths(index_dir, [big], counting)
    fresh = tmp_path / "fresh"
    index_paths(fresh, [SEED_DIR], HashingEmbedder())
    index_paths(fresh, [big], HashingEmbedder())
    assert counting.texts == report.chunks_embedded - 5 * 16  # the saved blocks were not embedded again
    resumed, clean = IndexStore.load(index_dir), IndexStore.load(fresh)
    assert resumed.chunks.keys() == clean.chunks.keys()
    for chunk_id in clean.chunks:
        assert np.allclose(resumed.vector(chunk_id), clean.vector(chunk_id))
    assert not (index_dir / embed_checkpoint.PARTIAL_DIR).exists()  # removed once committed


def test_a_damaged_saved_block_is_embedded_again(tmp_path, small_blocks):
    big = _big_article(tmp_path / "docs")
    index_dir = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        index_paths(index_dir, [big], FailingEmbedder(calls=4))
    blocks = sorted((index_dir / embed_checkpoint.PARTIAL_DIR).glob("*/block-*.npy"))
    blocks[1].write_bytes(blocks[1].read_bytes()[:100])  # torn by hand (renames never tear one)
    counting = CountingEmbedder()
    report = index_paths(index_dir, [big], counting)
    assert counting.texts == report.chunks_embedded - 16  # only block 0 was reused
    clean = tmp_path / "clean"
    index_paths(clean, [big], HashingEmbedder())
    a, b = IndexStore.load(index_dir), IndexStore.load(clean)
    assert all(np.allclose(a.vector(c), b.vector(c)) for c in b.chunks)


def test_a_huge_article_is_announced_and_the_bar_shows_the_time_left(tmp_path, monkeypatch, capsys):
    assert embedding_estimate(30_000_000) == (76_923, pytest.approx(1493.6, abs=1))  # ~25 min
    monkeypatch.setattr(indexer, "ANNOUNCE_SECONDS", 1.0)
    big = _big_article(tmp_path / "docs", sentences=1500)  # ~70,000 chars: ~180 passages, ~3.5 s
    lines: list[str] = []
    index_paths(tmp_path / "idx", [big], HashingEmbedder(), progress=True, notify=lines.append)
    assert len(lines) == 1 and "big.txt" in lines[0] and "characters, about" in lines[0]
    assert "51.5 passages/s" in lines[0] and "docs/scale-out.md" in lines[0]
    err = capsys.readouterr().err
    assert "characters [" in err and "<" in err  # [elapsed<remaining]
    small = tmp_path / "small.txt"
    small.write_text("A short note.", encoding="utf-8")
    index_paths(tmp_path / "idx", [small], HashingEmbedder(), notify=lines.append)
    assert len(lines) == 1  # small articles are not announced


# ---- 4. look-alike ids -------------------------------------------------------------------------
def test_look_alike_ids_are_one_id(tmp_path):
    rows = [{"id": "zero\u200bwidth", "text": "First."}, {"id": "zerowidth", "text": "Second."},
            {"id": "\u202etxt.exe", "text": "Reversed."}, {"id": "cafe\u0301", "text": "Decomposed."},
            {"id": "caf\u00e9", "text": "Composed."}]
    (tmp_path / "ids.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "zero\u2060width.txt").write_text("Third.", encoding="utf-8")
    report = read_paths([tmp_path])
    by_id = {a.doc_id: a.text for a in report.articles}
    assert by_id == {"txt.exe": "Reversed.", "café": "Composed.", "zerowidth": "Third."}
    assert [s.kind for s in report.skipped] == ["duplicate doc id"] * 3


def test_an_id_of_only_invisible_characters_is_refused():
    with pytest.raises(InvalidRecordError, match="'id' is only invisible format characters"):
        list(parse_jsonl(json.dumps({"id": "\u200b\u202e", "text": "t"}), "f.jsonl"))


def test_remove_finds_ids_by_their_normal_form_and_echoes_them_escaped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(qa.api, "shared_embedder", lambda model=None: HashingEmbedder())
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "abc", "text": "Talks resumed."}), encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    assert main(["index", str(feed), "--index-dir", index_dir, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["remove", "\u202eabc", "--index-dir", index_dir]) == 0
    assert capsys.readouterr().out.strip() == "removed 1: abc"
    assert main(["remove", "\u202egone", "--index-dir", index_dir]) == 1
    out, err = capsys.readouterr()
    assert "\u202e" not in out + err and "not in the index: \\u202egone" in err


# ---- 5. symbolic links -------------------------------------------------------------------------
@pytest.fixture
def linked_folder(tmp_path) -> Path:
    """docs/ with a link out (passwd.txt), a broken link, a link inside, a link loop, a FIFO."""
    (tmp_path / "secret.txt").write_text("Outside the folder: root:x:0:0.", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Forces stormed the plant.", encoding="utf-8")
    (docs / "passwd.txt").symlink_to(tmp_path / "secret.txt")
    (docs / "broken.txt").symlink_to(tmp_path / "missing.txt")
    (docs / "inside.txt").symlink_to(docs / "good.txt")
    (docs / "loop").symlink_to(docs)
    os.mkfifo(docs / "fifo.txt")
    return docs


def test_links_out_of_a_folder_are_not_followed_and_are_reported(linked_folder):
    report = read_paths([linked_folder])
    assert sorted(a.doc_id for a in report.articles) == ["good", "inside"]
    reasons = {Path(s.path).name: s for s in report.skipped}
    assert reasons["passwd.txt"].kind == "link not followed"
    assert "outside" in reasons["passwd.txt"].reason and "--follow-links" in reasons["passwd.txt"].reason
    assert reasons["broken.txt"].kind == "broken link" and "missing.txt" in reasons["broken.txt"].reason
    assert reasons["loop"].kind == "link not followed"
    assert reasons["fifo.txt"].kind == "unsupported file"
    assert "not a regular file" in reasons["fifo.txt"].reason


def test_follow_links_follows_them_and_a_loop_ends(linked_folder, tmp_path, monkeypatch, capsys):
    report = read_paths([linked_folder], follow_links=True)
    assert sorted(a.doc_id for a in report.articles) == ["good", "inside", "passwd"]
    assert {s.kind for s in report.skipped} == {"broken link", "unsupported file"}
    monkeypatch.setattr(qa.api, "shared_embedder", lambda model=None: HashingEmbedder())
    index_dir = str(tmp_path / "idx")
    assert main(["index", str(linked_folder), "--index-dir", index_dir, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "now 2 articles" in out and "skipped: " in err and "passwd.txt: a symbolic link to" in err
    assert main(["index", str(linked_folder), "--follow-links", "--index-dir", index_dir,
                 "--no-progress"]) == 0
    assert "now 3 articles" in capsys.readouterr().out


def test_special_files_are_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    with pytest.raises(UnsupportedFileError, match="not a regular file"):
        read_file(tmp_path / "pipe.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(UnsupportedFileError, match="not a regular file"):
        read_file(tmp_path / "zero.txt")


# ---- 6, 7, 8, 10: uploads in the UI ------------------------------------------------------------
@pytest.fixture
def handlers(assistant) -> ui_handlers.Handlers:
    return ui_handlers.Handlers(assistant)


def test_the_upload_limit_is_written_as_20_mib_everywhere(tmp_path, assistant):
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(ui_handlers.MAX_UPLOAD_BYTES + 1)
    _, (refused,) = ui_handlers.check_uploads([big])
    assert refused.reason == "big.txt: 20.0 MiB is over the 20 MiB limit"
    config = ui_page.build_app(assistant).get_config_file()
    (upload,) = [c["props"] for c in config["components"] if c["props"].get("elem_id") == "upload"]
    assert "up to 20 MiB each" in upload["label"]
    for module in Path(ui_page.__file__).parent.glob("*.py"):
        assert " MB" not in module.read_text(encoding="utf-8"), module.name


def test_an_html_file_name_is_refused_by_qa_escaped(handlers, assistant, tmp_path):
    """Gradio's own type check would toast the name as HTML; the box accepts any type, qa refuses it."""
    evil = tmp_path / "<img src=x onerror=alert(1)>.exe"
    evil.write_bytes(b"MZ")
    with pytest.raises(gr.Error) as caught:
        handlers.upload([str(evil)])
    message = caught.value.message
    assert "<img" not in message and "&lt;img src=x onerror=alert(1)&gt;.exe" in message
    config = ui_page.build_app(assistant).get_config_file()
    (upload,) = [c["props"] for c in config["components"] if c["props"].get("elem_id") == "upload"]
    assert not upload.get("file_types")
    empty = tmp_path / "<i onmouseover=alert(2)>.txt"
    empty.write_text("", encoding="utf-8")
    ok = tmp_path / "ok.txt"
    ok.write_text("The plant reopened in February.", encoding="utf-8")
    status, *_ = handlers.upload([str(empty), str(ok), str(evil)])
    assert "Added 1" in status and "<i " not in status and "<img" not in status
    assert "&lt;i onmouseover=alert(2)&gt;.txt" in status
    assert "&lt;img src=x onerror=alert(1)&gt;.exe" in status


def test_skips_are_counted_by_kind(handlers, tmp_path, monkeypatch, capsys):
    rows = [{"id": "a", "text": "One."}, {"id": "a", "text": "Two."}, {"id": "b"}]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "empty.txt").write_text(" ", encoding="utf-8")
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    files = [str(feed), str(tmp_path / "empty.txt"), str(tmp_path / "tool.exe")]
    status, *_ = handlers.upload(files)
    assert "Skipped 1 unsupported file, 1 invalid record, 1 duplicate doc id, 1 empty file:" in status
    monkeypatch.setattr(qa.api, "shared_embedder", lambda model=None: HashingEmbedder())
    assert main(["index", *files[:2], "--index-dir", str(tmp_path / "idx"), "--no-progress"]) == 0
    assert "; skipped 1 invalid record, 1 duplicate doc id, 1 empty file" in capsys.readouterr().out
    assert skip_summary([]) == ""


def test_routine_errors_are_one_log_line_and_bugs_keep_their_traceback(handlers, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="qa.app")
    with pytest.raises(gr.Error) as caught:
        handlers.upload(None)
    assert caught.value.print_exception is False  # Gradio prints no traceback for it either
    missing = ui_handlers.Handlers(Assistant(embedder=HashingEmbedder(), generator=ExtractiveGenerator(),
                                    settings=Settings(index_dir=tmp_path / "none")))
    with pytest.raises(gr.Error) as caught:
        list(missing.respond("Who?", [], []))
    assert caught.value.print_exception is False and "no index at" in caught.value.message
    routine = [r for r in caplog.records if r.name == "qa.app"]
    assert [r.levelname for r in routine] == ["WARNING", "WARNING"]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in routine)
    assert "Choose one or more files" in routine[0].getMessage() and "no index at" in routine[1].getMessage()
    caplog.clear()

    class Broken(ExtractiveGenerator):
        def stream(self, messages, max_new_tokens=160):
            raise RuntimeError("a bug")
            yield ""

    handlers.assistant._generator = Broken()
    with pytest.raises(gr.Error):
        list(handlers.respond("How many hostages were freed according to state media?", [], []))
    (bug,) = [r for r in caplog.records if r.name == "qa.app"]
    assert bug.levelname == "ERROR" and bug.exc_info is not None


# ---- 9. asking while the first articles are indexed --------------------------------------------
def test_asking_during_the_first_indexing_says_it_is_in_progress(tmp_path):
    index_dir = tmp_path / "idx"
    assistant = Assistant(embedder=HashingEmbedder(), generator=ExtractiveGenerator(),
                          settings=Settings(index_dir=index_dir))
    with pytest.raises(IndexMissingError, match="no index at") as caught:
        assistant.ask("Who?")
    assert not isinstance(caught.value, IndexingInProgressError)
    held, release = threading.Event(), threading.Event()

    def first_upload() -> None:
        with write_lock(index_dir):
            held.set()
            release.wait(30)

    writer = threading.Thread(target=first_upload)
    writer.start()
    try:
        assert held.wait(30)
        with pytest.raises(IndexingInProgressError, match=f"still being indexed .*pid {os.getpid()}"):
            assistant.ask("Who?")
        with pytest.raises(gr.Error, match="still being indexed"):
            list(ui_handlers.Handlers(assistant).respond("Who?", [], []))
    finally:
        release.set()
        writer.join()
    with pytest.raises(IndexMissingError, match="no index at"):
        assistant.ask("Who?")


# ---- more hostile input ------------------------------------------------------------------------
def test_empty_jsonl_and_title_only_markdown_are_empty_files(tmp_path):
    (tmp_path / "blank.jsonl").write_text("\n \n", encoding="utf-8")
    (tmp_path / "title.md").write_text("# Only a title\n", encoding="utf-8")
    for name, reason in (("blank.jsonl", "the file is empty (no records)"),
                         ("title.md", "has a title ('Only a title') but no text")):
        with pytest.raises(EmptyFileError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            read_file(tmp_path / name)


def test_invisible_characters_in_a_question_are_removed(assistant):
    cleaned = check_question("How many hos\u200btages were\u202e freed?", 2000)
    assert cleaned == "How many hostages were freed?"
    answer = assistant.ask("How many hos\u200btages were freed according to state\u2060 media?")
    assert not answer.abstained and "650" in answer.text


def test_an_html_parser_failure_is_a_named_error(tmp_path, monkeypatch):
    import trafilatura

    def explode(*args, **kwargs):
        raise ValueError("lxml gave up")

    monkeypatch.setattr(trafilatura, "bare_extraction", explode)
    (tmp_path / "page.html").write_text("<html><body><p>Text.</p></body></html>", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match=r"page\.html: the HTML could not be parsed \(ValueError\)"):
        read_file(tmp_path / "page.html")


def test_a_url_that_is_not_a_string_skips_the_record():
    with pytest.raises(InvalidRecordError, match=r"f\.jsonl:1: 'url' must be a string"):
        list(parse_jsonl(json.dumps({"id": "a", "text": "t", "url": ["http://x"]}), "f.jsonl"))
