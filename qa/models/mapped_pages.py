"""Give back the pages of a read-only mapped weights file that a runtime no longer reads.

OpenVINO maps the model's weights file read-only and, on the first inferences, repacks the
weights into its own memory; from then on it reads the mapping only for a few embedding rows.
The mapped pages still count in the process's resident memory (about 1.6 GB for the 1.5B int8
model) until they are released. `release_mapped_file` drops this process's pages of every
read-only mapping of a file (`madvise(MADV_DONTNEED)`): a page read again afterwards comes back
from the page cache, unchanged, so nothing is lost. `PageReleaser` does it every `interval`
seconds while a block runs, so the peak stays low while the runtime repacks.

Linux only (it reads /proc/self/maps); elsewhere both are no-ops. Writable mappings are never
touched. This module knows nothing of models or runtimes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
from pathlib import Path
from types import TracebackType

MADV_DONTNEED = 4


@functools.lru_cache(maxsize=1)
def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """libc's madvise, bound once (None off Linux or without a C library)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    func = libc.madvise
    func.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    func.restype = ctypes.c_int
    return func


def read_only_mappings(path: Path | str, maps: str | None = None) -> list[tuple[int, int]]:
    """(start, end) of this process's read-only mappings of `path` (`maps`: /proc/self/maps text)."""
    target = str(Path(path).resolve())
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
    spans = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or fields[5].strip() != target or "w" in fields[1]:
            continue
        start, _, end = fields[0].partition("-")
        spans.append((int(start, 16), int(end, 16)))
    return spans


def release_mapped_file(path: Path | str) -> int:
    """Drop this process's resident pages of `path`'s read-only mappings; returns the bytes
    of mapping covered (0 where nothing is mapped or the platform has no madvise)."""
    madvise = _madvise()
    if madvise is None:
        return 0
    covered = 0
    for start, end in read_only_mappings(path):
        if madvise(start, end - start, MADV_DONTNEED) == 0:
            covered += end - start
    return covered


class PageReleaser:
    """Release `path`'s mapped pages every `interval` seconds while the `with` block runs, and
    once more when it ends."""

    def __init__(self, path: Path | str, interval: float = 0.1) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            release_mapped_file(self.path)

    def __enter__(self) -> PageReleaser:
        self._thread = threading.Thread(target=self._run, name="qa-page-releaser", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        release_mapped_file(self.path)
