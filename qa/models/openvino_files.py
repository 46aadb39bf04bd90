"""OpenVINO model folders: converted once from the transformers folder into the model cache.

`resolve_openvino(spec, precision)` returns a folder that `openvino_genai.LLMPipeline`
loads: the OpenVINO IR (`openvino_model.xml`/`.bin`), the tokenizer and detokenizer IRs
and the generation config. It starts from `qa.models.model_files.resolve_llm` (which assembles
and sha256-checks the packaged GGUF and converts it to a transformers folder once), then
exports that folder with optimum-intel (`optimum-cli export openvino`), compressing the
weights to int4 or int8 with NNCF, or keeping them fp16.

The export runs in a child process (its peak memory, several GB for the 1.5B model, is freed
when it ends, and a crash or a kill there cannot corrupt the cache), under the cache
lock, into a temp folder that is renamed into place only when complete and checked. A
failed export leaves the previous cache as it was and raises `ModelConvertError` with
the fix. This module does not load or run the model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.atomic_files import (
    build_folder,
    is_marked,
    replace_folder,
    write_atomic,
)
from qa.errors import ModelConvertError, ModelLoadError
from qa.settings import child_environment, env

OV_PRECISIONS = ("int4", "int8", "fp16")
# Bump when the export command or its options change: older folders are redone.
OV_CONVERT_VERSION = 2
OV_MARKER = ".qa-openvino.json"
# Files LLMPipeline needs; a folder without any of them is not a finished export.
REQUIRED_FILES = ("openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml",
                  "openvino_detokenizer.xml", "config.json")
CONVERT_PACKAGES = ("optimum-intel", "nncf", "openvino", "openvino-tokenizers")
# optimum-intel 2.2 imports transformers internals that 5.6 removed, while qa runs a newer
# transformers. The export child therefore sees these versions first on its path, from a folder
# beside the venv that `./run setup` fills (`pip install --target`); qa itself never imports them.
EXPORT_OVERLAY_PINS = ("transformers==5.5.4", "huggingface-hub==1.21.0", "tokenizers==0.22.2")
EXPORT_OVERLAY = Path(sys.prefix) / "qa-openvino-export"
_ALIASES = {"int4": "int4", "4": "int4", "int8": "int8", "8": "int8", "fp16": "fp16",
            "float16": "fp16", "f16": "fp16"}


def openvino_precision(value: str | None = None, default: str = "int8") -> str:
    """The OpenVINO weight precision: argument, else env QA_LLM_PRECISION, else `default`.

    Raises ModelLoadError for a name that is not one of `OV_PRECISIONS`.
    """
    name = (value or env("QA_LLM_PRECISION")).strip().lower() or default
    if name not in _ALIASES:
        raise ModelLoadError(f"unknown precision {name!r} for the openvino backend: use one of "
                             f"{', '.join(OV_PRECISIONS)}")
    return _ALIASES[name]


def export_args(source: Path, out: Path, precision: str) -> list[str]:
    """The optimum-cli arguments that export `source` to OpenVINO at `precision`."""
    args = ["export", "openvino", "--model", str(source), "--task", "text-generation-with-past",
            "--weight-format", precision]
    if precision == "int4":  # every layer in int4 (no int8 backup share), groups of 128
        args += ["--ratio", "1.0", "--group-size", "128"]
    return [*args, str(out)]


def export_command(source: Path, out: Path, precision: str) -> list[str]:
    """The child process that runs the export (optimum-intel's CLI under this Python).

    Raises ModelConvertError when the export overlay is needed and missing (`check_overlay`).
    """
    check_overlay()
    return [sys.executable, "-m", "optimum.commands.optimum_cli", *export_args(source, out, precision)]


def overlay_install_command(target: Path = EXPORT_OVERLAY) -> str:
    """The command that fills the export overlay folder (what the error for a missing one says)."""
    return (f"{sys.executable} -m pip install --no-deps --target {target} "
            + " ".join(EXPORT_OVERLAY_PINS))


def has_overlay(overlay: Path = EXPORT_OVERLAY) -> bool:
    """Whether the export overlay folder holds its transformers."""
    return (overlay / "transformers").is_dir()


def check_overlay(overlay: Path = EXPORT_OVERLAY) -> None:
    """Raise ModelConvertError, with the command that fixes it, when qa's transformers is 5.6 or
    newer (too new for optimum-intel) and the export overlay folder is missing."""
    if has_overlay(overlay):
        return
    try:
        version = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        return
    major_minor = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if major_minor >= (5, 6):
        raise ModelConvertError(
            f"the OpenVINO export needs transformers <5.6 beside qa's transformers {version}, and "
            f"{overlay} is missing: run ./run setup, or {overlay_install_command(overlay)}")


def export_env(overlay: Path = EXPORT_OVERLAY) -> dict[str, str]:
    """The export child's environment: offline, with the overlay folder (when there is one)
    first on its path."""
    env = child_environment(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if has_overlay(overlay):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(overlay), env.get("PYTHONPATH", "")) if p)
    return env


def exporter_problem(overlay: Path = EXPORT_OVERLAY) -> str | None:
    """Why this install cannot export a model to OpenVINO (optimum-intel missing, or qa's
    transformers too new for it and no overlay folder), else None. Runs nothing."""
    missing = "the OpenVINO exporter optimum-intel is not installed (./run setup installs it)"
    try:
        if importlib.util.find_spec("optimum.intel") is None:
            return missing
    except (ImportError, ValueError):
        return missing
    try:
        check_overlay(overlay)
    except ModelConvertError as exc:
        return str(exc)
    return None


def cached_export(spec: str | None = None, precision: str = "int8", cache_dir: Path | None = None,
                  progress: bool = True) -> Path | None:
    """The finished export folder for `spec` at `precision` if the cache holds one, else None.

    Resolves (and, once, converts) the transformers folder it starts from; exports nothing.
    """
    from qa.models.model_files import resolve_llm

    source = resolve_llm(spec, cache_dir=cache_dir, progress=progress)
    if not isinstance(source, Path):
        return None
    final = export_folder(source, precision, cache_dir)
    return final if is_complete(final) else None


def export_folder(source: Path, precision: str, cache_dir: Path | None = None) -> Path:
    """Where the export of the transformers folder `source` at `precision` lives in the cache."""
    from qa.models.model_files import cache_root

    root = cache_root(cache_dir) / "llm"
    return root / _slug(Path(source), precision, root)


def is_complete(folder: Path) -> bool:
    """True if `folder` holds a finished export of the current version with every file."""
    return is_marked(folder, OV_MARKER, OV_CONVERT_VERSION, REQUIRED_FILES)


def _versions() -> dict[str, str]:
    """The exporter's package versions (the overlay's transformers when there is one)."""
    paths = [str(EXPORT_OVERLAY), *sys.path] if has_overlay() else sys.path
    out = {}
    for name in (*CONVERT_PACKAGES, "transformers"):
        found = next(iter(importlib.metadata.distributions(name=name, path=paths)), None)
        out[name] = found.version if found else ""
    return out


def _slug(source: Path, precision: str, root: Path) -> str:
    """The cache name: the source folder's own name when it is in the cache `root`, else a path hash."""
    if source.parent.resolve() == root.resolve():
        return f"{source.name}-openvino-{precision}"
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    return f"{source.name[:60]}-{key}-openvino-{precision}"


def resolve_openvino(spec: str | None = None, precision: str = "int8", cache_dir: Path | None = None,
                     progress: bool = True) -> Path:
    """An OpenVINO folder for the LLM setting `spec` at `precision`, exported once into the cache.

    The transformers folder comes from `resolve_llm` (converted and checked there); the export
    goes to `<cache>/llm/<source>-openvino-<precision>`. Later calls return it at once.
    Raises ModelLoadError for a hub id or a bad setting, ModelConvertError when the export fails
    (the previous cache folder, if any, is kept).
    """
    from qa.models.model_files import cache_lock, resolve_llm

    if precision not in OV_PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}: use one of {', '.join(OV_PRECISIONS)}")
    source = resolve_llm(spec, cache_dir=cache_dir, progress=progress)
    if not isinstance(source, Path):
        raise ModelLoadError(f"the openvino backend converts local models only, not the hub id {source!r}")
    final = export_folder(source, precision, cache_dir)
    root = final.parent
    if is_complete(final):
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelConvertError(f"cannot create model cache {root}: {exc}") from exc
    try:
        with cache_lock(root / f"{final.name}.lock", f"converting {final.name}", ModelConvertError):
            if is_complete(final):  # another process finished while we waited
                return final
            with build_folder(root, f".tmp-{final.name}-") as tmp:  # clears a killed run's leftovers
                out = tmp / "model"
                started = time.monotonic()
                run_export(Path(source), out, precision, progress)
                missing = [name for name in REQUIRED_FILES if not (out / name).is_file()]
                if missing:
                    raise ModelConvertError(
                        f"the OpenVINO export of {source.name} is missing {', '.join(missing)}; "
                        f"check that {', '.join(CONVERT_PACKAGES)} are installed (./run setup) "
                        "and try again")
                info = {"version": OV_CONVERT_VERSION, "source": str(source), "precision": precision,
                        "seconds": round(time.monotonic() - started, 1), "packages": _versions()}
                write_atomic(out / OV_MARKER, json.dumps(info, indent=1))
                replace_folder(out, final)  # an older version or an unmarked leftover goes only now
    except OSError as exc:
        raise ModelConvertError(f"could not write the OpenVINO model {final}: {exc}; free disk space "
                                f"in {root} (or set QA_CACHE_DIR) and try again") from exc
    if progress:
        print(f"converted {source.name} to OpenVINO {precision}: {final}", file=sys.stderr, flush=True)
    return final


def run_export(source: Path, out: Path, precision: str, progress: bool = True) -> None:
    """Run the optimum-intel export in a child process; raise ModelConvertError if it fails.

    A bar with the elapsed time shows while it runs. The child's own output (optimum-intel's
    and torch's tracing warnings, NNCF's bars) goes to a log, whose last lines the error quotes.
    """
    cmd = export_command(source, out, precision)
    if progress:
        print(f"converting {source.name} to OpenVINO {precision} (once: 1 to 3 minutes) ...",
              file=sys.stderr, flush=True)
    env = export_env()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        try:
            code = _wait_with_bar(proc, f"OpenVINO {precision}", progress)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            why = ("it was killed (out of memory?)" if code < 0 else f"exit status {code}")
            raise ModelConvertError(
                f"converting {source.name} to OpenVINO {precision} failed ({why}): "
                f"{' | '.join(tail) or 'no output'}. The previous cache is unchanged; check free disk "
                f"space and memory, and that {', '.join(CONVERT_PACKAGES)} are installed "
                "(./run setup), then try again, or use --llm-backend transformers")


def _wait_with_bar(proc: subprocess.Popen, label: str, progress: bool) -> int:
    """Wait for `proc`, showing an elapsed-time bar; return its exit status."""
    if not progress or not sys.stderr.isatty():
        return proc.wait()
    from tqdm.auto import tqdm

    with tqdm(desc=f"exporting {label}", unit="s", file=sys.stderr,
              bar_format="{desc}: {elapsed} elapsed") as bar:
        while True:
            try:
                return proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                bar.update(1)
