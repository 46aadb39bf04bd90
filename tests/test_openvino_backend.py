"""The openvino backend without OpenVINO or a model: settings, fallback, conversion cache, streaming.

The export runs as a scripted child process, the pipeline as a scripted stand-in for
`openvino_genai.LLMPipeline`; the real runtime is exercised by tests/test_openvino_real.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import qa.api
import qa.models.generate_openvino as gov
import qa.models.model_files as mf
import qa.models.openvino_files as ovf
from qa.api import shared_generator
from qa.cli import _settings, build_parser
from qa.errors import ModelConvertError, ModelLoadError
from qa.models.generate import TransformersGenerator, llm_backend
from qa.models.generate_openvino import OpenVINOGenerator, make_openvino_generator
from qa.models.openvino_files import openvino_precision, resolve_openvino


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("QA_LLM_BACKEND", "QA_LLM_MODEL", "QA_THREADS", "QA_LLM_PRECISION", "QA_OV_HINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(mf.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(qa.api, "_generators", {})


# ---- settings ---------------------------------------------------------------------------------


def test_backend_and_precision_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert llm_backend("openvino") == llm_backend("OV") == "openvino"
    assert openvino_precision() == "int8"
    assert openvino_precision(None, default="int4") == "int4"
    assert openvino_precision("float16") == "fp16" and openvino_precision("INT4") == "int4"
    monkeypatch.setenv("QA_LLM_PRECISION", "int4")
    assert openvino_precision() == "int4" and openvino_precision("fp16") == "fp16"
    with pytest.raises(ModelLoadError, match="unknown precision 'float32' for the openvino backend"):
        openvino_precision("float32")


def test_cli_takes_the_openvino_backend() -> None:
    args = build_parser().parse_args(["ask", "q", "--llm-backend", "openvino"])
    assert _settings(args).llm_backend == "openvino"


def test_generator_reads_precision_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM_PRECISION", "fp16")
    monkeypatch.setenv("QA_THREADS", "1")
    gen = OpenVINOGenerator("smollm2-135m")
    assert (gen.precision, gen.threads, gen.backend) == ("fp16", 1, "openvino")
    assert gen.name == "smollm2-135m (openvino fp16)"


# ---- fallback when the runtime cannot run -----------------------------------------------------


def test_missing_runtime_falls_back_to_transformers_with_one_line(monkeypatch, capsys) -> None:
    real = gov.importlib.util.find_spec
    monkeypatch.setattr(gov.importlib.util, "find_spec",
                        lambda name: None if name == "openvino_genai" else real(name))
    gen = shared_generator(None, backend="openvino")
    assert isinstance(gen, TransformersGenerator) and gen.precision == "float32"
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "openvino-genai is not installed" in lines[0] and "transformers backend instead" in lines[0]
    assert shared_generator(None, backend="openvino") is gen  # decided once per process


def test_a_runtime_that_crashes_is_caught_in_a_child_and_remembered(monkeypatch) -> None:
    monkeypatch.setattr(gov.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(gov, "_PROBE", "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    problem = gov.runtime_problem()
    assert problem is not None and "signal 4" in problem

    def no_child(*args, **kwargs):
        raise AssertionError("the check ran again")

    monkeypatch.setattr(gov.subprocess, "run", no_child)
    assert gov.runtime_problem() == problem
    assert isinstance(make_openvino_generator(None), TransformersGenerator)


def test_a_runtime_that_works_gives_the_openvino_generator(monkeypatch, source: Path) -> None:
    monkeypatch.setattr(gov.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(gov, "_PROBE", "print('ok')")
    monkeypatch.setattr(ovf, "exporter_problem", lambda: None)
    assert gov.runtime_problem() is None
    assert isinstance(make_openvino_generator(None, precision="int4"), OpenVINOGenerator)


def test_without_the_exporter_an_unexported_model_falls_back_in_one_line(monkeypatch, capsys,
                                                                          source: Path) -> None:
    """openvino-genai alone serves an exported model; with neither the export nor the
    exporter, the default backend answers with transformers and says why, once."""
    monkeypatch.setattr(gov.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(gov, "_PROBE", "print('ok')")
    real = ovf.importlib.util.find_spec
    monkeypatch.setattr(ovf.importlib.util, "find_spec",
                        lambda name: None if name == "optimum.intel" else real(name))
    gen = make_openvino_generator(None)
    assert isinstance(gen, TransformersGenerator)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "optimum-intel is not installed" in lines[0]
    assert "transformers backend instead" in lines[0]
    _fake_export(monkeypatch, WRITE_ALL)
    monkeypatch.setattr(ovf.importlib.util, "find_spec", real)
    monkeypatch.setattr(ovf, "check_overlay", lambda overlay=None: None)
    resolve_openvino(None, "int8")  # exported once (say, by another install sharing the cache)
    monkeypatch.setattr(ovf.importlib.util, "find_spec",
                        lambda name: None if name == "optimum.intel" else real(name))
    assert isinstance(make_openvino_generator(None), OpenVINOGenerator)


# ---- the conversion cache ---------------------------------------------------------------------


@pytest.fixture()
def source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A stand-in transformers folder inside the cache, as resolve_llm returns it."""
    folder = mf.cache_root() / "llm" / "tiny-0123456789ab"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(mf, "resolve_llm", lambda spec=None, cache_dir=None, progress=True: folder)
    return folder


def _fake_export(monkeypatch, script: str) -> list[list[str]]:
    """Replace the export child by `python -c script out precision`; return the calls made."""
    calls: list[list[str]] = []

    def command(src: Path, out: Path, precision: str) -> list[str]:
        calls.append([str(src), str(out), precision])
        return [sys.executable, "-c", script, str(out), precision]

    monkeypatch.setattr(ovf, "export_command", command)
    return calls


WRITE_ALL = ("import sys, pathlib\nout = pathlib.Path(sys.argv[1]); out.mkdir(parents=True)\n"
             f"for n in {ovf.REQUIRED_FILES!r}: (out / n).write_text(sys.argv[2])\n")


def test_export_once_into_the_cache_then_reuse(monkeypatch, source: Path) -> None:
    calls = _fake_export(monkeypatch, WRITE_ALL)
    path = resolve_openvino(None, "int4", progress=False)
    assert path == source.parent / "tiny-0123456789ab-openvino-int4"
    assert (path / "openvino_model.xml").read_text() == "int4"
    assert json.loads((path / ovf.OV_MARKER).read_text())["precision"] == "int4"
    assert resolve_openvino(None, "int4", progress=False) == path and len(calls) == 1
    assert resolve_openvino(None, "int8", progress=False) != path and len(calls) == 2
    assert not list(source.parent.glob(".tmp-*"))


def test_a_killed_export_leaves_the_previous_cache_and_names_the_fix(monkeypatch, source: Path) -> None:
    _fake_export(monkeypatch, WRITE_ALL)
    old = resolve_openvino(None, "int8", progress=False)
    marker = json.loads((old / ovf.OV_MARKER).read_text())
    marker["version"] = ovf.OV_CONVERT_VERSION - 1  # an older export: redone on the next call
    (old / ovf.OV_MARKER).write_text(json.dumps(marker))
    _fake_export(monkeypatch, "import os, pathlib, sys\npathlib.Path(sys.argv[1]).mkdir()\n"
                 "(pathlib.Path(sys.argv[1]) / 'openvino_model.bin').write_text('half')\n"
                 "os.kill(os.getpid(), 9)\n")
    with pytest.raises(ModelConvertError, match=r"killed .*previous cache is unchanged"):
        resolve_openvino(None, "int8", progress=False)
    assert (old / "openvino_model.xml").read_text() == "int8"  # the previous folder, untouched
    assert not list(source.parent.glob(".tmp-*"))


def test_an_export_held_by_another_process_times_out_naming_the_lock(monkeypatch, source: Path) -> None:
    from filelock import FileLock

    calls = _fake_export(monkeypatch, WRITE_ALL)
    monkeypatch.setattr(mf, "_LOCK_TIMEOUT_S", 0.2)
    root = mf.cache_root() / "llm"
    lock_file = root / f"{ovf._slug(source, 'int8', root)}.lock"
    with FileLock(str(lock_file)), pytest.raises(ModelConvertError) as caught:
        resolve_openvino(None, "int8")
    assert "waiting for another process converting" in str(caught.value)
    assert str(lock_file) in str(caught.value) and calls == []


def test_an_export_missing_files_is_never_used(monkeypatch, source: Path) -> None:
    _fake_export(monkeypatch, "import sys, pathlib\nout = pathlib.Path(sys.argv[1]); out.mkdir()\n"
                 "(out / 'openvino_model.xml').write_text('x')\n")
    with pytest.raises(ModelConvertError, match=r"missing openvino_model\.bin"):
        resolve_openvino(None, "fp16", progress=False)
    assert not (source.parent / "tiny-0123456789ab-openvino-fp16").exists()


def test_a_failing_export_reports_its_last_lines(monkeypatch, source: Path) -> None:
    _fake_export(monkeypatch, "import sys\nprint('No space left on device', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(ModelConvertError, match=r"exit status 3.*No space left on device"):
        resolve_openvino(None, "int4", progress=False)


def test_hub_ids_and_bad_precisions_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(mf, "resolve_llm", lambda spec=None, cache_dir=None, progress=True: "org/model")
    with pytest.raises(ModelLoadError, match="local models only"):
        resolve_openvino("org/model", "int8", progress=False)
    with pytest.raises(ModelLoadError, match="unknown precision"):
        resolve_openvino(None, "int3", progress=False)


# ---- streaming against a scripted pipeline ----------------------------------------------------

VOCAB = {1: "The", 2: " raid", 3: " was", 4: " led", 5: ".", 9: "<eos>", 7: " la", 8: " di"}


class FakeTokenizer:
    eos_token_id = 9

    def prompt_ids(self, messages):
        return [100 + len(m["content"]) % 50 for m in messages]

    def decode(self, ids, skip_special_tokens=True):
        return "".join(VOCAB[i] for i in ids if not (skip_special_tokens and i == 9))


class FakePipe:
    def __init__(self, script: list[int], pause: float = 0.0) -> None:
        self.script = script
        self.pause = pause
        self.statuses: list[str] = []

    def get_generation_config(self):
        return type("Config", (), {"eos_token_id": 9, "stop_token_ids": set()})()

    def generate(self, inputs, config, streamer):
        self.max_new = config.max_new_tokens
        for token in self.script:
            status = streamer.write(token)
            self.statuses.append(status)
            if status != "running" or token == 9:
                break
            time.sleep(self.pause)
        streamer.end()


class FakeGenai:
    StreamerBase = object
    StreamingStatus = type("Status", (), {"RUNNING": "running", "STOP": "stop", "CANCEL": "cancel"})

    @staticmethod
    def TokenizedInputs(ids, mask):
        return ids


class FakeOV:
    @staticmethod
    def Tensor(array):
        return array


def _generator(script: list[int], pause: float = 0.0) -> tuple[OpenVINOGenerator, FakePipe]:
    gen = OpenVINOGenerator("smollm2-135m", precision="int8")
    pipe = FakePipe(script, pause)
    gen._pipe, gen._tokenizer, gen._ov = pipe, FakeTokenizer(), (FakeOV, FakeGenai)
    return gen, pipe


MESSAGES = [{"role": "system", "content": "rules"}, {"role": "user", "content": "Who led the raid?"}]


def test_streams_the_pieces_until_eos_and_counts_tokens() -> None:
    gen, pipe = _generator([1, 2, 3, 4, 5, 9, 1])
    pieces = list(gen.stream(MESSAGES, 20))
    assert pieces == ["The", " raid", " was", " led", "."]
    assert gen.last_usage == {"prompt_tokens": 2, "new_tokens": 5}
    assert pipe.max_new == 20


def test_closing_the_stream_stops_the_generation() -> None:
    gen, pipe = _generator([1, 2, 3, 4, 5] * 40, pause=0.01)  # 2 s if nothing stops it
    stream = gen.stream(MESSAGES, 500)
    assert next(stream) == "The"
    stream.close()  # the UI's Stop
    assert pipe.statuses[-1] == "stop" and len(pipe.statuses) < 200
    assert gen.last_usage["new_tokens"] == len(pipe.statuses)


def test_a_looping_reply_is_cut_by_the_loop_rule() -> None:
    gen, pipe = _generator([1] + [7, 8] * 40)
    text = gen.generate(MESSAGES, 200)
    assert pipe.statuses[-1] == "stop" and len(pipe.statuses) < 20
    assert text.startswith("The la di")


def test_a_pipeline_error_is_a_model_load_error() -> None:
    gen, pipe = _generator([1])

    def broken(*args):
        raise RuntimeError("bad tensor")

    pipe.generate = broken
    with pytest.raises(ModelLoadError, match="generation failed: bad tensor"):
        list(gen.stream(MESSAGES, 5))


def test_a_local_folder_outside_the_cache_gets_its_own_cache_name(monkeypatch, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    monkeypatch.setattr(mf, "resolve_llm", lambda spec=None, cache_dir=None, progress=True: folder)
    _fake_export(monkeypatch, WRITE_ALL)
    path = resolve_openvino(str(folder), "int4", progress=False)
    assert path.parent == mf.cache_root() / "llm"
    assert path.name.startswith("my-model-") and path.name.endswith("-openvino-int4")
    other = tmp_path / "elsewhere" / "my-model"
    other.mkdir(parents=True)
    monkeypatch.setattr(mf, "resolve_llm", lambda spec=None, cache_dir=None, progress=True: other)
    assert resolve_openvino(str(other), "int4", progress=False) != path


def test_the_export_child_reads_the_overlay_first(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    assert str(overlay) not in ovf.export_env(overlay).get("PYTHONPATH", "")
    (overlay / "transformers").mkdir(parents=True)
    env = ovf.export_env(overlay)
    assert env["PYTHONPATH"].split(":")[0] == str(overlay) and env["HF_HUB_OFFLINE"] == "1"
    ovf.check_overlay(overlay)  # present: no error


def test_a_missing_overlay_with_a_new_transformers_names_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(ovf.importlib.metadata, "version", lambda name: "5.24.0")
    with pytest.raises(ModelConvertError, match=r"transformers <5\.6.*pip install --no-deps --target"):
        ovf.check_overlay(tmp_path / "missing")
    monkeypatch.setattr(ovf.importlib.metadata, "version", lambda name: "5.5.4")
    ovf.check_overlay(tmp_path / "missing")  # an old enough transformers needs no overlay


def test_the_repacked_weights_pages_are_given_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The first generations run under the page releaser; every generation ends with one release."""
    gen, _ = _generator([1, 2, 9])
    gen.path = tmp_path
    watched: list[Path] = []
    released: list[Path] = []

    class Releaser:
        def __init__(self, path):
            watched.append(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(gov, "PageReleaser", Releaser)
    monkeypatch.setattr(gov, "release_mapped_file", released.append)
    for _ in range(gov.WARM_UP_GENERATIONS + 2):
        assert gen.generate(MESSAGES, 10) == "The raid"
    weights = tmp_path / "openvino_model.bin"
    assert watched == [weights] * gov.WARM_UP_GENERATIONS
    assert released == [weights] * (gov.WARM_UP_GENERATIONS + 2)
