"""The torch-free serving path without the real models: embedding-runtime setting and fallback,
which sentence-transformers folders the OpenVINO embedder takes, the conversion cache, and the
chat tokenizer on a small real `tokenizers` vocabulary. The real models are compared in
tests/test_embed_openvino_real.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa.models.embed_openvino as eov
import qa.models.generate_openvino as gov
import qa.models.model_files as mf
from qa.errors import ModelConvertError, ModelLoadError
from qa.models.chat_tokenizer import ChatTokenizer
from qa.models.embed import SentenceTransformerEmbedder
from qa.models.embed_openvino import (
    OpenVINOEmbedder,
    embed_backend,
    is_converted,
    make_local_embedder,
    resolve_openvino_embedder,
    unsupported_folder,
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QA_EMBED_BACKEND", raising=False)
    monkeypatch.setenv(mf.CACHE_ENV, str(tmp_path / "cache"))


def _st_folder(root: Path, kinds=("Transformer", "Pooling", "Normalize"), mean: bool = True) -> Path:
    folder = root / "encoder"
    (folder / "1_Pooling").mkdir(parents=True)
    modules = [{"idx": i, "name": str(i), "path": ["", "1_Pooling", "2_Normalize"][i],
                "type": f"sentence_transformers.models.{kind}"} for i, kind in enumerate(kinds)]
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": mean, "pooling_mode_cls_token": not mean}), encoding="utf-8")
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8}), encoding="utf-8")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}), encoding="utf-8")
    return folder


# ---- the setting and the choice -----------------------------------------------------------------


def test_backend_setting_and_its_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert embed_backend() == "auto"
    assert embed_backend("OV") == "openvino" and embed_backend("torch") == "sentence-transformers"
    monkeypatch.setenv("QA_EMBED_BACKEND", "sentence_transformers")
    assert embed_backend() == "sentence-transformers"
    with pytest.raises(ModelLoadError, match="unknown embedding backend 'onnx'"):
        embed_backend("onnx")


def test_auto_takes_openvino_where_it_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _st_folder(tmp_path)
    monkeypatch.setattr(mf, "resolve_embedding_model", lambda spec=None: folder)
    monkeypatch.setattr(gov, "runtime_problem", lambda: None)
    embedder = make_local_embedder()
    assert isinstance(embedder, OpenVINOEmbedder)
    assert (embedder.dimension, embedder.max_length, embedder.name) == (8, 64, "all-minilm-l6-v2")


def test_a_missing_runtime_falls_back_silently_on_auto_and_says_so_when_asked_for(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _st_folder(tmp_path)
    monkeypatch.setattr(mf, "resolve_embedding_model", lambda spec=None: folder)
    monkeypatch.setattr(gov, "runtime_problem", lambda: "openvino-genai is not installed")
    assert isinstance(make_local_embedder(), SentenceTransformerEmbedder)
    assert capsys.readouterr().err == ""
    assert isinstance(make_local_embedder(backend="openvino"), SentenceTransformerEmbedder)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["qa: openvino-genai is not installed; embedding with sentence-transformers instead"]
    assert isinstance(make_local_embedder(backend="sentence-transformers"), SentenceTransformerEmbedder)


@pytest.mark.parametrize("kinds, mean, problem", [
    (("Transformer", "Pooling", "Normalize"), True, None),
    (("Transformer", "Pooling"), True, None),
    (("Transformer", "Pooling"), False, "does not pool by the mean"),
    (("Transformer", "Pooling", "Dense"), True, "not an encoder with mean pooling"),
    (("Transformer",), True, "not an encoder with mean pooling"),
])
def test_only_plain_mean_pooled_encoders_are_converted(tmp_path: Path, kinds, mean, problem) -> None:
    found = unsupported_folder(_st_folder(tmp_path, kinds, mean))
    assert (found is None) if problem is None else (problem in (found or ""))


def test_a_folder_without_modules_or_tokenizer_is_refused(tmp_path: Path) -> None:
    folder = _st_folder(tmp_path)
    (folder / "tokenizer.json").unlink()
    assert "no tokenizer.json" in (unsupported_folder(folder) or "")
    (folder / "modules.json").write_text("{not json", encoding="utf-8")
    assert "no sentence-transformers modules.json" in (unsupported_folder(folder) or "")


# ---- the conversion cache ----------------------------------------------------------------------


def _fake_convert(calls: list[Path], fail: bool = False):
    def convert(source: Path, out: Path) -> None:
        calls.append(source)
        (out / "model.xml").write_text("<net/>", encoding="utf-8")
        if fail:
            raise OSError("No space left on device")
        (out / "model.bin").write_bytes(b"\0" * 16)
    return convert


def test_converts_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(eov, "convert_embedder", _fake_convert(calls))
    source = _st_folder(tmp_path)
    first = resolve_openvino_embedder(source)
    assert is_converted(first) and resolve_openvino_embedder(source) == first and calls == [source]


def test_a_failed_conversion_keeps_the_previous_one_and_names_the_fix(monkeypatch, tmp_path: Path) -> None:
    source = _st_folder(tmp_path)
    monkeypatch.setattr(eov, "convert_embedder", _fake_convert([]))
    done = resolve_openvino_embedder(source)
    marker = json.loads((done / eov.MARKER).read_text(encoding="utf-8"))
    (done / eov.MARKER).write_text(json.dumps({**marker, "version": 0}), encoding="utf-8")  # stale
    monkeypatch.setattr(eov, "convert_embedder", _fake_convert([], fail=True))
    with pytest.raises(ModelConvertError, match=r"No space left.*QA_EMBED_BACKEND=sentence-transformers"):
        resolve_openvino_embedder(source)
    assert (done / "model.bin").is_file()  # the older conversion is still there, untouched
    assert [p.name for p in done.parent.iterdir() if p.name.startswith(".tmp-")] == []


# ---- the chat tokenizer ------------------------------------------------------------------------

TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


@pytest.fixture
def chat_folder(tmp_path: Path) -> Path:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    words = ["<s>", "</s>", "system", "user", "assistant", "\n", "Who", "led", "the", "raid", "?", "rules",
             " ", "[UNK]"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"<s>|</s>|\n|\?| "), behavior="isolated")
    tokenizer.add_special_tokens(["<s>", "</s>"])
    folder = tmp_path / "chat"
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"eos_token": "</s>", "pad_token": {"content": "<s>"}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "chat_template.jinja").write_text(TEMPLATE, encoding="utf-8")
    return folder


def test_chat_tokenizer_renders_the_template_and_encodes_it(chat_folder: Path) -> None:
    tok = ChatTokenizer(chat_folder)
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "Who led the raid?"}]
    assert tok.render(messages) == "<s>system\nrules</s>\n<s>user\nWho led the raid?</s>\n<s>assistant\n"
    ids = tok.prompt_ids(messages)
    assert ids[:5] == [0, 2, 5, 11, 1] and ids[-3:] == [0, 4, 5] and 13 not in ids  # no unknown word
    assert tok.eos_token_id == 1 and tok.special_tokens["pad_token"] == "<s>"
    assert tok.decode([6, 12, 7, 1]).split() == ["Who", "led"]  # the special </s> left out
    assert "</s>" in tok.decode([6, 1], skip_special_tokens=False)


def test_a_folder_without_a_chat_template_is_a_load_error(chat_folder: Path) -> None:
    (chat_folder / "chat_template.jinja").unlink()
    with pytest.raises(ModelLoadError, match="no chat template"):
        ChatTokenizer(chat_folder)
    (chat_folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="cannot read the tokenizer"):
        ChatTokenizer(chat_folder)
