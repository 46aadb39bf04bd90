"""The `qa` command in-process with fake models: index, ask (--json), remove, status, errors."""

from __future__ import annotations

import json

import pytest

import qa.api
from qa.cli import main
from qa.settings import SEED_DIR
from qa.testing import ExtractiveGenerator, HashingEmbedder


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    embedder, generator = HashingEmbedder(), ExtractiveGenerator()
    monkeypatch.setattr(qa.api, "shared_embedder", lambda model=None: embedder)
    monkeypatch.setattr(qa.api, "shared_generator", lambda model=None: generator)
    monkeypatch.setenv("QA_MIN_RELEVANCE", "0.05")


def test_index_then_ask_json(tmp_path, capsys):
    index_dir = str(tmp_path / "idx")
    assert main(["index", str(SEED_DIR), "--index-dir", index_dir, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 added, 0 updated, 0 unchanged" in out and "now 2 articles" in out
    assert main(["index", str(SEED_DIR), "--index-dir", index_dir, "--no-progress"]) == 0
    assert "0 added, 0 updated, 2 unchanged; 0 passages embedded" in capsys.readouterr().out
    assert main(["ask", "Who masterminded the raid?", "--index-dir", index_dir, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["abstained"] is False and "Belmokhtar" in data["text"]
    cite = data["citations"][0]
    article = (SEED_DIR / f"{cite['doc_id']}.txt").read_text(encoding="utf-8").strip()
    assert article[cite["start"] : cite["end"]] == cite["text"]


def test_ask_plain_prints_answer_and_sources(tmp_path, capsys):
    index_dir = str(tmp_path / "idx")
    main(["index", str(SEED_DIR), "--index-dir", index_dir, "--no-progress"])
    capsys.readouterr()
    assert main(["ask", "Who masterminded the raid?", "--index-dir", index_dir]) == 0
    out = capsys.readouterr().out
    assert "[1] " in out and "000_6ad931cbaa20b811" in out


def test_remove_and_status(tmp_path, capsys):
    index_dir = str(tmp_path / "idx")
    main(["index", str(SEED_DIR), "--index-dir", index_dir, "--no-progress"])
    assert main(["remove", "002_8e2be5257cd0af73", "--index-dir", index_dir]) == 0
    assert main(["remove", "nope", "--index-dir", index_dir]) == 1
    capsys.readouterr()
    assert main(["status", "--index-dir", index_dir]) == 0
    out = capsys.readouterr().out
    assert "1 articles" in out and "state:      OK" in out and "fake-hashing" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["ask", "   "], "the question is empty"),
    (["ask", "x" * 5000], "characters; the limit is 2,000"),
    (["index", "/nonexistent/file.txt"], "no such file or folder"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main([*argv, "--index-dir", str(tmp_path / "idx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qa: error:") and message in err and "\n" not in err


def test_missing_index_is_one_line(tmp_path, capsys):
    assert main(["ask", "Who?", "--index-dir", str(tmp_path / "none")]) == 1
    assert "no index at" in capsys.readouterr().err


def test_binary_upload_leaves_index_as_it_was(tmp_path, capsys):
    index_dir = str(tmp_path / "idx")
    main(["index", str(SEED_DIR), "--index-dir", index_dir, "--no-progress"])
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02")
    assert main(["index", str(bad), "--index-dir", index_dir, "--no-progress"]) == 1
    assert "binary" in capsys.readouterr().err
    assert main(["status", "--index-dir", index_dir]) == 0
    assert "2 articles" in capsys.readouterr().out


def test_python_dash_m_qa_is_the_qa_command(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "qa", "status", "--index-dir", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr  # what `qa status` returns for a missing index
    assert "no index yet" in result.stdout
