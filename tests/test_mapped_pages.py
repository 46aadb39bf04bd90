"""Giving back the pages of a read-only mapped file: real mmaps of a temp file, this process's
/proc/self/smaps as the witness (Linux only)."""

from __future__ import annotations

import mmap
import sys
import time
from pathlib import Path

import pytest

from qa.models.mapped_pages import PageReleaser, read_only_mappings, release_mapped_file

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/maps")
SIZE = 8 * 2**20


def _resident_kb(path: Path) -> int:
    """Rss of this process's mappings of `path`, from /proc/self/smaps."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
            inside = len(fields) >= 6 and fields[5] == str(path.resolve())
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "openvino_model.bin"
    path.write_bytes(bytes(range(256)) * (SIZE // 256))
    return path


def _touch(view: mmap.mmap) -> int:
    return sum(view[i] for i in range(0, len(view), 4096))


def test_the_pages_go_and_come_back_unchanged(weights: Path) -> None:
    with weights.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        before = _touch(view)
        assert _resident_kb(weights) >= SIZE // 1024 - 64
        assert release_mapped_file(weights) == SIZE
        assert _resident_kb(weights) < 64
        assert _touch(view) == before and view[SIZE - 1] == 255  # read again from the file
        assert _resident_kb(weights) >= SIZE // 1024 - 64


def test_a_writable_mapping_is_never_released(weights: Path) -> None:
    with weights.open("r+b") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) as view:
        view[0] = 7  # a private change that MADV_DONTNEED would throw away
        assert release_mapped_file(weights) == 0
        assert view[0] == 7


def test_nothing_mapped_releases_nothing(tmp_path: Path) -> None:
    assert release_mapped_file(tmp_path / "absent.bin") == 0


def test_only_read_only_mappings_of_that_file_are_found() -> None:
    maps = ("7f00-7f10 r--s 00000000 08:01 12 /models/openvino_model.bin\n"
            "7f10-7f20 rw-p 00000000 08:01 12 /models/openvino_model.bin\n"
            "7f20-7f30 r--p 00000000 08:01 13 /models/other.bin\n"
            "7f30-7f40 r--p 00000000 00:00 0 \n")
    assert read_only_mappings("/models/openvino_model.bin", maps) == [(0x7F00, 0x7F10)]


def test_the_releaser_keeps_the_mapping_small_while_its_block_runs(weights: Path) -> None:
    with weights.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        with PageReleaser(weights, interval=0.01):
            _touch(view)
            deadline = time.monotonic() + 5
            while _resident_kb(weights) > 64 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _resident_kb(weights) <= 64
        _touch(view)
        assert _resident_kb(weights) >= SIZE // 1024 - 64  # nothing releases after the block
