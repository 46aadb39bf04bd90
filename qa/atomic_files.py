"""Files that are either whole or absent: temp-then-rename writes, shared by the index and the model cache.

`write_atomic` writes a file next to its target, fsyncs it and renames it into place, so a reader
or a crash sees the old file or the new one, never half of one. `build_folder` gives a temp folder
inside the destination's parent (clearing leftovers of killed runs) that `replace_folder` moves
into place only when the caller has finished it, and `is_marked` tells a finished folder (its
marker file, written last, names the current version) from a half-built or outdated one. They
neither lock nor retry: callers hold their
own lock (`qa.store.lock`, or the model cache's file lock) around them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable; a no-op where folders can't be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file already written (and closed) to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_atomic(path: Path, content: str | bytes | Callable[[IO[bytes]], object]) -> None:
    """Write `path` whole or not at all: text (UTF-8), bytes, or a function that writes to the
    open binary file. A temp file beside it is fsynced, then renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            if isinstance(content, str):
                fh.write(content.encode("utf-8"))
            elif isinstance(content, bytes):
                fh.write(content)
            else:
                content(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def stale_temp_files(folder: Path, name: str) -> list[Path]:
    """Temp files `write_atomic` left for `folder/name` when a writer was killed mid-write."""
    return sorted(folder.glob(f".{name}.*.tmp"))


@contextmanager
def build_folder(root: Path, prefix: str) -> Iterator[Path]:
    """A new temp folder `root/<prefix>…` for building something; removed on exit whatever happens.
    Leftovers of earlier killed runs with the same prefix are removed first."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(built: Path, final: Path) -> None:
    """Move a finished folder to `final`, replacing an older one (which goes only now)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(built, final)
    fsync_dir(final.parent)


def is_marked(folder: Path, marker: str, version: int, files: tuple[str, ...] = ()) -> bool:
    """True when `folder/marker` is a JSON object naming `version` and every one of `files` is
    in the folder: a finished build of the current format, not a leftover or an older one."""
    try:
        info = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and info.get("version") == version
            and all((folder / name).is_file() for name in files))
