"""Read articles from .txt, .md, .html and .jsonl files into `Article`s.

Decodes text (UTF-8, UTF-16 with a BOM, else Windows-1252), rejects binary
files, keeps only the main text of HTML pages (trafilatura: no scripts, menus
or footers), and gives each article a doc_id and a content hash. It does not
chunk, embed or store anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.dates import date_from_text, parse_date
from qa.errors import EmptyCorpusError, InvalidDateError, RecordDateError, UnreadableFileError
from qa.records import Article

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_DOC_ID_CHARS = 200
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


@dataclass
class ReadReport:
    """Articles read from some paths, and the files or records skipped with why."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def content_hash(article: Article) -> str:
    """A sha256 over everything that, when changed, means the article must be re-indexed."""
    digest = hashlib.sha256()
    for part in (article.doc_id, article.title, article.url, article.published, article.text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def doc_id_problem(doc_id: object) -> str:
    """Why `doc_id` cannot name an article ('' when it can).

    Doc ids are data, never paths: '../x' is a valid id. Rejected are non-strings, empty
    ids, ids over MAX_DOC_ID_CHARS characters and ids with control, separator or
    surrogate characters (they break one-line output and JSON round trips).
    """
    if not isinstance(doc_id, str) or not doc_id.strip():
        return "must be a non-empty string"
    if len(doc_id) > MAX_DOC_ID_CHARS:
        return f"is {len(doc_id)} characters; the limit is {MAX_DOC_ID_CHARS}"
    bad = next((ch for ch in doc_id if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")), None)
    if bad is not None:
        return f"contains the control character U+{ord(bad):04X}"
    return ""


def clean_text(text: str) -> str:
    """Normalise newlines and Unicode (NFC), drop control characters and lone surrogates, trim."""
    text = _SURROGATES.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL_CHARS.sub("", text)
    return text.strip()


def decode_bytes(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8, UTF-16 (with BOM), else Windows-1252; binary is rejected."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(f"{name}: invalid UTF-16 text ({exc.reason})") from exc
    bom_less = _utf16_without_bom(data)
    if bom_less is not None:
        return bom_less
    if b"\x00" in data[:8192]:
        raise UnreadableFileError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    if printable < 0.95 * max(len(text), 1):
        raise UnreadableFileError(f"{name}: not valid UTF-8 and not readable as Latin text")
    return text


def _utf16_without_bom(data: bytes) -> str | None:
    """Text of BOM-less UTF-16 (every other byte NUL, as in mostly-Latin text), else None."""
    if len(data) < 4 or len(data) % 2:
        return None
    head = data[:8192]
    even, odd = head[0::2], head[1::2]
    for encoding, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and other.count(0) == 0:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            return text if all(ch.isprintable() or ch.isspace() for ch in text[:4096]) else None
    return None


def _title_from_text(text: str) -> tuple[str, str]:
    """Split a leading title line ('# Title' or a short line without a full stop) off the body."""
    first, _, rest = text.partition("\n")
    line = first.strip()
    if line.startswith("#"):
        return line.lstrip("#").strip(), rest.strip()
    if rest.strip() and 0 < len(line) <= 120 and not line.endswith((".", "?", "!", ":", '"', "”")):
        return line, rest.strip()
    return "", text


def _html_to_article(html: str, doc_id: str, path: str) -> Article:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(html, with_metadata=True, favor_precision=True)
    except Exception as exc:  # the parser's own failures on malformed pages
        raise UnreadableFileError(f"{path}: the HTML could not be parsed ({type(exc).__name__})") from exc
    if isinstance(doc, dict):  # only with as_dict=True, which is not asked for
        doc = None
    text = clean_text(doc.text or "") if doc is not None else ""
    if doc is None or not text:
        raise UnreadableFileError(f"{path}: no article text found in the HTML")
    title = clean_text(doc.title or "")
    if title and text.startswith(title):
        text = text[len(title) :].strip() or text
    try:
        published = parse_date(clean_text(doc.date or ""), f"{path}: the page's date")
    except InvalidDateError:
        published = ""  # a page's metadata date is a hint; the text's dateline is tried next
    return Article(doc_id=doc_id, text=text, title=title, url=doc.url or "", published=published,
                   source_path=path)


def _check_file_doc_id(doc_id: str, name: str) -> None:
    problem = doc_id_problem(doc_id)
    if problem:
        raise UnreadableFileError(f"{name}: the file name, used as doc id, {problem}")


def _finish(article: Article) -> Article:
    if not article.published:
        article.published = date_from_text(article.text)
    article.content_hash = content_hash(article)
    return article


def read_file(path: str | Path, skipped: list[tuple[str, str]] | None = None) -> list[Article]:
    """Read one file into articles (one, or one per JSONL line). Raises UnreadableFileError.

    With a `skipped` list, a bad JSONL record is appended to it (with why) and the
    file's other records are kept; without one, the first bad record raises.
    """
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(
            f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnreadableFileError(f"{name}: {size:,} bytes is over the {MAX_FILE_BYTES:,} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    text = decode_bytes(data, name)
    if suffix == ".jsonl":
        return list(parse_jsonl(text, name, skipped))
    doc_id = path.stem
    _check_file_doc_id(doc_id, name)
    if suffix in (".html", ".htm"):
        return [_finish(_html_to_article(text, doc_id, name))]
    body = clean_text(text)
    if not body:
        raise UnreadableFileError(f"{name}: the file is empty")
    title, body_text = _title_from_text(body) if suffix in (".md", ".markdown") else ("", body)
    return [_finish(Article(doc_id=doc_id, text=body_text, title=title, source_path=name))]


def parse_jsonl(text: str, name: str = "<jsonl>",
                skipped: list[tuple[str, str]] | None = None) -> Iterator[Article]:
    """Parse JSONL article records `{"id", "text", "title"?, "url"?, "published"?}`.

    A bad record raises UnreadableFileError, or with a `skipped` list is appended to it.
    """
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{line_no}"
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UnreadableFileError(f"{where}: not valid JSON ({exc.msg})") from exc
            except RecursionError as exc:
                raise UnreadableFileError(f"{where}: JSON nested too deeply") from exc
            article = _finish(article_from_record(record, where))
        except UnreadableFileError as exc:
            if skipped is None:
                raise
            skipped.append((name, str(exc)))
            continue
        yield article


def article_from_record(record: object, where: str = "record") -> Article:
    """Validate one JSONL record and turn it into an Article (without its hash)."""
    if not isinstance(record, dict):
        raise UnreadableFileError(f"{where}: a record must be a JSON object")
    doc_id, text = record.get("id"), record.get("text")
    problem = doc_id_problem(doc_id.strip() if isinstance(doc_id, str) else doc_id)
    if problem:
        raise UnreadableFileError(f"{where}: 'id' {problem}")
    assert isinstance(doc_id, str)
    if not isinstance(text, str) or not clean_text(text):
        raise UnreadableFileError(f"{where}: 'text' must be a non-empty string")
    fields = {}
    for key in ("title", "url", "published"):
        value = record.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise UnreadableFileError(f"{where}: '{key}' must be a string")
        fields[key] = clean_text(value)
    try:
        fields["published"] = parse_date(fields["published"], f"{where}: 'published'")
    except InvalidDateError as exc:
        raise RecordDateError(str(exc)) from exc
    body = clean_text(text)
    fields["published"] = fields["published"] or date_from_text(body)
    return Article(doc_id=doc_id.strip(), text=body, source_path=where.rsplit(":", 1)[0], **fields)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders (recursively) into supported files, sorted, hidden ones skipped."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and child.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield child
        elif path.exists():
            yield path
        else:
            raise UnreadableFileError(f"{path}: no such file or folder")


def read_paths(paths: Iterable[str | Path]) -> ReadReport:
    """Read every supported file under `paths`; a bad file is skipped and reported, not fatal.

    Raises EmptyCorpusError when nothing at all could be read.
    """
    report = ReadReport()
    seen: dict[str, str] = {}
    for path in iter_files(paths):
        try:
            articles = read_file(path, report.skipped)
        except UnreadableFileError as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        for article in articles:
            if article.doc_id in seen:
                report.skipped.append(
                    (str(path), f"duplicate doc_id {article.doc_id!r} (also in {seen[article.doc_id]}); "
                                "the later one wins")
                )
                report.articles = [a for a in report.articles if a.doc_id != article.doc_id]
            seen[article.doc_id] = str(path)
            report.articles.append(article)
    if not report.articles:
        reasons = "; ".join(reason for _, reason in report.skipped[:3])
        raise EmptyCorpusError("no articles to index" + (f": {reasons}" if reasons else ""))
    return report
