"""The one temp-then-rename helper that the index and the model cache share."""

from __future__ import annotations

import pytest

from qa.atomic_files import build_folder, replace_folder, stale_temp_files, write_atomic


def test_write_atomic_replaces_a_file_whole(tmp_path):
    target = tmp_path / "deep" / "CURRENT"
    write_atomic(target, "gen-000001\n")
    write_atomic(target, b"gen-000002\n")
    assert target.read_text() == "gen-000002\n"
    assert not stale_temp_files(target.parent, target.name)


def test_a_writer_that_fails_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "block.npy"
    target.write_bytes(b"old")

    def half_then_fail(fh):
        fh.write(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_folder_is_built_aside_and_replaces_the_old_one_only_when_finished(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.bin").write_text("old")
    (tmp_path / ".tmp-model-killed").mkdir()  # a killed run's leftover
    with build_folder(tmp_path, ".tmp-model-") as tmp:
        assert not (tmp_path / ".tmp-model-killed").exists()
        out = tmp / "model"
        out.mkdir()
        (out / "new.bin").write_text("new")
        assert (final / "old.bin").exists()  # untouched while the new one is built
        replace_folder(out, final)
    assert [p.name for p in final.iterdir()] == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_build_keeps_the_previous_folder(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.bin").write_text("old")
    with pytest.raises(RuntimeError), build_folder(tmp_path, ".tmp-model-") as tmp:
        (tmp / "model").mkdir()
        raise RuntimeError("killed mid-conversion")
    assert (final / "old.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
