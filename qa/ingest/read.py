"""Read articles from .txt, .md, .html and .jsonl files into `Article`s.

Decodes text (UTF-8, UTF-16 with a BOM, else Windows-1252), rejects binary
files, keeps only the main text of HTML pages (trafilatura: no scripts, menus
or footers), and gives each article a doc_id (in its normal form, `qa.ingest.doc_ids`)
and a content hash. In folders, symbolic links that lead out of the folder are
not followed unless asked. What is left out is reported as `Skipped`, with why
and of what kind. It does not chunk, embed or store anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from qa.errors import (
    EmptyCorpusError,
    EmptyFileError,
    FileTooLargeError,
    InvalidDateError,
    InvalidDocIdError,
    InvalidRecordError,
    RecordDateError,
    UnreadableFileError,
    UnsupportedFileError,
)
from qa.ingest.dates import date_from_text, parse_date
from qa.ingest.doc_ids import MAX_DOC_ID_CHARS, doc_id_problem, normalize_doc_id, raw_doc_id_problem, shown
from qa.records import Article

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_FILE_BYTES = 50 * 1024 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")

DUPLICATE = "duplicate doc id"
LINK_NOT_FOLLOWED = "link not followed"
BROKEN_LINK = "broken link"
# Plurals of the kinds of skip, for summaries ("2 empty files"); the singular is the kind itself.
_PLURALS = {
    DUPLICATE: "duplicate doc ids", LINK_NOT_FOLLOWED: "links not followed", BROKEN_LINK: "broken links",
    FileTooLargeError.kind: "files over the size limit", InvalidDocIdError.kind: "files with unusable names",
}


class Skipped(NamedTuple):
    """A file or record left out of a run: where, why, and what kind of thing (for summaries)."""

    path: str
    reason: str
    kind: str = UnreadableFileError.kind


def skip_summary(skipped: Iterable[Skipped]) -> str:
    """'3 duplicate doc ids, 2 empty files, 1 unsupported file' ('' when nothing was skipped)."""
    counts = Counter(s.kind for s in skipped)
    return ", ".join(f"{n} {kind if n == 1 else _PLURALS.get(kind, kind + 's')}"
                     for kind, n in counts.most_common())


@dataclass
class ReadReport:
    """Articles read from some paths, and the files or records skipped with why."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def content_hash(article: Article) -> str:
    """A sha256 over everything that, when changed, means the article must be re-indexed."""
    digest = hashlib.sha256()
    for part in (article.doc_id, article.title, article.url, article.published, article.text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


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
        raise EmptyFileError(f"{path}: no article text found in the HTML")
    title = clean_text(doc.title or "")
    if title and text.startswith(title):
        text = text[len(title) :].strip() or text
    try:
        published = parse_date(clean_text(doc.date or ""), f"{path}: the page's date")
    except InvalidDateError:
        published = ""  # a page's metadata date is a hint; the text's dateline is tried next
    return Article(doc_id=doc_id, text=text, title=title, url=doc.url or "", published=published,
                   source_path=path)


def _file_doc_id(path: Path) -> str:
    """The doc id of a file: its name without extension, in normal form (`qa.ingest.doc_ids`)."""
    problem = raw_doc_id_problem(path.stem)
    if problem:
        raise InvalidDocIdError(f"{path}: the file name, used as doc id, {problem}")
    return normalize_doc_id(path.stem)


def _finish(article: Article) -> Article:
    if not article.published:
        article.published = date_from_text(article.text)
    article.content_hash = content_hash(article)
    return article


def read_file(path: str | Path, skipped: list[Skipped] | None = None) -> list[Article]:
    """Read one file into articles (one, or one per JSONL line). Raises UnreadableFileError.

    With a `skipped` list, a bad JSONL record is appended to it (with why) and the
    file's other records are kept; without one, the first bad record raises.
    """
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(
            f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read, /dev/zero never end it
            raise UnsupportedFileError(f"{name}: not a regular file (a folder, FIFO, socket or device)")
        if info.st_size > MAX_FILE_BYTES:
            raise FileTooLargeError(f"{name}: {info.st_size:,} bytes is over the {MAX_FILE_BYTES:,} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    text = decode_bytes(data, name)
    if suffix == ".jsonl":
        articles = list(parse_jsonl(text, name, skipped))
        if not text.strip():
            raise EmptyFileError(f"{name}: the file is empty (no records)")
        return articles
    doc_id = _file_doc_id(path)
    if suffix in (".html", ".htm"):
        return [_finish(_html_to_article(text, doc_id, name))]
    body = clean_text(text)
    if not body:
        raise EmptyFileError(f"{name}: the file is empty")
    title, body_text = _title_from_text(body) if suffix in (".md", ".markdown") else ("", body)
    if not body_text:
        raise EmptyFileError(f"{name}: the file has a title ({shown(title[:60])!r}) but no text")
    return [_finish(Article(doc_id=doc_id, text=body_text, title=title, source_path=name))]


def parse_jsonl(text: str, name: str = "<jsonl>",
                skipped: list[Skipped] | None = None) -> Iterator[Article]:
    """Parse JSONL article records `{"id", "text", "title"?, "url"?, "published"?}`.

    A bad record raises InvalidRecordError, or with a `skipped` list is appended to it.
    """
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{line_no}"
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidRecordError(f"{where}: not valid JSON ({exc.msg})") from exc
            except RecursionError as exc:
                raise InvalidRecordError(f"{where}: JSON nested too deeply") from exc
            article = _finish(article_from_record(record, where))
        except UnreadableFileError as exc:
            if skipped is None:
                raise
            skipped.append(Skipped(name, str(exc), exc.kind))
            continue
        yield article


def article_from_record(record: object, where: str = "record") -> Article:
    """Validate one JSONL record and turn it into an Article (without its hash)."""
    if not isinstance(record, dict):
        raise InvalidRecordError(f"{where}: a record must be a JSON object")
    doc_id, text = record.get("id"), record.get("text")
    problem = raw_doc_id_problem(doc_id)
    if problem:
        raise InvalidRecordError(f"{where}: 'id' {problem}")
    assert isinstance(doc_id, str)
    if not isinstance(text, str) or not clean_text(text):
        raise InvalidRecordError(f"{where}: 'text' must be a non-empty string")
    fields = {}
    for key in ("title", "url", "published"):
        value = record.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidRecordError(f"{where}: '{key}' must be a string")
        fields[key] = clean_text(value)
    try:
        fields["published"] = parse_date(fields["published"], f"{where}: 'published'")
    except InvalidDateError as exc:
        raise RecordDateError(str(exc)) from exc
    body = clean_text(text)
    fields["published"] = fields["published"] or date_from_text(body)
    return Article(doc_id=normalize_doc_id(doc_id), text=body, source_path=where.rsplit(":", 1)[0],
                   **fields)


def iter_files(paths: Iterable[str | Path], skipped: list[Skipped] | None = None,
               follow_links: bool = False) -> Iterator[Path]:
    """Expand files and folders (recursively) into supported files, sorted, hidden ones skipped.

    A path named here is read even when it is a link. Inside a folder, a symbolic link is
    followed only when it stays inside the folder, or with `follow_links`; links to folders
    are walked only with `follow_links` (each real folder once). Links not followed and broken
    links are appended to `skipped` with why.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk_folder(path, skipped if skipped is not None else [], follow_links)
        elif path.exists():
            yield path
        elif path.is_symlink():
            raise UnreadableFileError(f"{path}: a broken symbolic link (to {os.readlink(path)})")
        else:
            raise UnreadableFileError(f"{path}: no such file or folder")


def _walk_folder(root: Path, skipped: list[Skipped], follow_links: bool) -> list[Path]:
    """The supported files under `root`, sorted; links handled as `iter_files` says."""
    real_root = root.resolve()
    seen_folders = {real_root}
    found: list[Path] = []

    def inside(target: Path) -> bool:
        return target == real_root or real_root in target.parents

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(str(folder), f"{folder}: cannot list ({exc.strerror or exc})"))
            return
        for entry in entries:
            child = Path(entry.path)
            if entry.name.startswith("."):
                continue
            supported = child.suffix.lower() in SUPPORTED_SUFFIXES
            if entry.is_symlink():
                target = _link_target(child)
                if target is None:
                    if supported:
                        skipped.append(Skipped(str(child), f"{child}: a broken symbolic link "
                                               f"(to {os.readlink(child)})", BROKEN_LINK))
                    continue
                is_folder = target.is_dir()
                if not is_folder and not supported:
                    continue
                if not follow_links and not inside(target):
                    skipped.append(Skipped(str(child), f"{child}: a symbolic link to {target}, outside "
                                           f"{root}; not followed (use --follow-links to index it)",
                                           LINK_NOT_FOLLOWED))
                    continue
                if is_folder:
                    if not follow_links:
                        skipped.append(Skipped(str(child), f"{child}: a symbolic link to the folder "
                                               f"{target} inside {root}; not followed (its files are "
                                               "read at their own path)", LINK_NOT_FOLLOWED))
                    elif target not in seen_folders:  # a link loop, or a folder reached twice
                        seen_folders.add(target)
                        walk(child)
                    continue
                found.append(child)
            elif entry.is_dir(follow_symlinks=False):
                if child.resolve() not in seen_folders:
                    seen_folders.add(child.resolve())
                    walk(child)
            elif supported:
                found.append(child)  # read_file refuses what is not a regular file, with why

    walk(root)
    return sorted(found)


def _link_target(link: Path) -> Path | None:
    """Where a symbolic link finally leads, or None when it is broken or a loop."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target


def read_paths(paths: Iterable[str | Path], follow_links: bool = False) -> ReadReport:
    """Read every supported file under `paths`; a bad file is skipped and reported, not fatal.

    Raises EmptyCorpusError when nothing at all could be read.
    """
    report = ReadReport()
    seen: dict[str, str] = {}
    for path in iter_files(paths, report.skipped, follow_links):
        try:
            articles = read_file(path, report.skipped)
        except UnreadableFileError as exc:
            report.skipped.append(Skipped(str(path), str(exc), exc.kind))
            continue
        for article in articles:
            if article.doc_id in seen:
                earlier = seen[article.doc_id]
                report.skipped.append(Skipped(
                    str(path), f"duplicate doc_id {shown(article.doc_id)!r} (also in {earlier}); "
                               "the later one wins", DUPLICATE))
                report.articles = [a for a in report.articles if a.doc_id != article.doc_id]
            seen[article.doc_id] = str(path)
            report.articles.append(article)
    if not report.articles:
        reasons = "; ".join(s.reason for s in report.skipped[:3])
        raise EmptyCorpusError("no articles to index" + (f": {reasons}" if reasons else ""))
    return report


__all__ = ["MAX_DOC_ID_CHARS", "MAX_FILE_BYTES", "SUPPORTED_SUFFIXES", "ReadReport", "Skipped",
           "article_from_record", "clean_text", "content_hash", "decode_bytes", "doc_id_problem",
           "iter_files", "parse_jsonl", "read_file", "read_paths", "skip_summary"]
