"""Reading articles: formats, cleaning, ids, hashes, and every bad input named."""

from __future__ import annotations

import json

import pytest

from qa.errors import EmptyCorpusError, UnreadableFileError
from qa.ingest.read import read_file, read_paths
from qa.settings import SEED_DIR


def test_seed_files_keep_their_names_as_doc_ids():
    report = read_paths([SEED_DIR])
    assert sorted(a.doc_id for a in report.articles) == ["000_6ad931cbaa20b811", "002_8e2be5257cd0af73"]
    assert all(len(a.content_hash) == 64 for a in report.articles)
    assert report.skipped == []


def test_txt_md_html_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text body.\r\nSecond line.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# A title\n\nMarkdown body here.", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Siege ends</title><script>alert('x')</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/world'>World news menu</a></nav>"
        "<article><h1>Siege ends</h1><p>Forces stormed the plant on Thursday after a long standoff "
        "with the kidnappers in the desert.</p><p>Officials said the operation lasted eight hours "
        "and that many hostages escaped.</p></article><footer>Copyright 2013 Example</footer>"
        "</body></html>", encoding="utf-8")
    records = [{"id": "j1", "text": "First record.", "title": "T1", "published": "2013-01-17"},
               {"id": "j2", "text": "Second record.", "url": "https://example.org/2"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    by_id = {a.doc_id: a for a in read_paths([tmp_path]).articles}
    assert by_id["a"].text == "Plain text body.\nSecond line."
    assert (by_id["b"].title, by_id["b"].text) == ("A title", "Markdown body here.")
    html = by_id["c"]
    assert html.title == "Siege ends"
    assert "stormed the plant" in html.text and "eight hours" in html.text
    assert "alert" not in html.text and "Home" not in html.text and "Copyright" not in html.text
    assert (by_id["j1"].title, by_id["j1"].published) == ("T1", "2013-01-17")
    assert by_id["j2"].url == "https://example.org/2"


def test_encodings_latin1_and_utf16(tmp_path):
    (tmp_path / "l.txt").write_bytes("Café in Algérie".encode("latin-1"))
    (tmp_path / "u.txt").write_bytes("Hostages in Amenas".encode("utf-16"))
    assert read_file(tmp_path / "l.txt")[0].text == "Café in Algérie"
    assert read_file(tmp_path / "u.txt")[0].text == "Hostages in Amenas"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bin.txt", b"\x00\x01\x02binary\x00", "binary"),
        ("empty.txt", b"   \n ", "empty"),
        ("x.pdf", b"%PDF-1.4", "unsupported file type"),
        ("bad.jsonl", b'{"id": "a", "text": "ok"}\nnot json\n', ":2: not valid JSON"),
        ("noid.jsonl", b'{"text": "no id"}\n', "'id' must be a non-empty string"),
        ("typed.jsonl", b'{"id": "a", "text": 5}\n', "'text' must be a non-empty string"),
        ("date.jsonl", b'{"id": "a", "text": "t", "published": "17/01/2013"}\n', "YYYY-MM-DD"),
    ],
)
def test_bad_files_raise_named_errors(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFileError, match=message.replace("(", r"\(")):
        read_file(path)


def test_bad_file_is_skipped_with_reason_when_others_are_good(tmp_path):
    (tmp_path / "good.txt").write_text("A good article.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x00\x00")
    report = read_paths([tmp_path])
    assert [a.doc_id for a in report.articles] == ["good"]
    assert len(report.skipped) == 1 and "binary" in report.skipped[0][1]


def test_nothing_readable_is_an_empty_corpus(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"\x00\x00")
    with pytest.raises(EmptyCorpusError, match="binary"):
        read_paths([tmp_path])
    with pytest.raises(UnreadableFileError, match="no such file"):
        read_paths([tmp_path / "missing"])


def test_content_hash_changes_with_text_only(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("One.", encoding="utf-8")
    first = read_file(path)[0].content_hash
    assert read_file(path)[0].content_hash == first
    path.write_text("Two.", encoding="utf-8")
    assert read_file(path)[0].content_hash != first
