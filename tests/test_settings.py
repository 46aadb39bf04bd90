"""Settings in one place: every QA_* variable registered, read only in qa/settings.py, listed in README."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from qa import settings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from settings_table import settings_table  # noqa: E402


def _package_modules() -> list[Path]:
    return sorted((REPO / "qa").rglob("*.py"))


def test_no_module_but_settings_reads_the_environment():
    readers = [p.relative_to(REPO).as_posix() for p in _package_modules()
               if p.name != "settings.py" and re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text())]
    assert readers == []


def test_every_qa_variable_the_code_names_is_registered():
    named = set()
    for path in [*_package_modules(), REPO / "app.py"]:
        named |= set(re.findall(r"\bQA_[A-Z][A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    registered = {var.name for var in settings.ENVIRONMENT}
    assert named - registered == set()


def test_readme_lists_every_setting_with_its_flag_and_default():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README's settings table is stale: run scripts/settings_table.py"


def test_the_flags_the_table_names_exist():
    from qa.cli import build_parser

    parser = build_parser()
    help_text = parser.format_help()
    subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    help_text += " ".join(p.format_help() for a in subparsers for p in a.choices.values())
    for var in settings.ENVIRONMENT:
        if var.flag:
            assert var.flag in help_text, var


def test_env_refuses_a_name_nobody_registered(monkeypatch):
    monkeypatch.setenv("QA_NO_SUCH_THING", "1")
    with pytest.raises(KeyError, match="not a registered setting"):
        settings.env("QA_NO_SUCH_THING")
    monkeypatch.setenv("QA_PASSAGES", "  6 ")
    assert settings.env("QA_PASSAGES") == "6"
    assert settings.Settings.from_env().passages == 6


def test_the_documented_model_defaults_are_the_ones_the_code_uses():
    from qa.models.generate import DEFAULT_LLM_BACKEND
    from qa.models.model_files import DEFAULT_EMBEDDING_MODEL, DEFAULT_LLM

    documented = {var.name: var.default for var in settings.ENVIRONMENT}
    assert documented["QA_LLM_MODEL"] == DEFAULT_LLM
    assert documented["QA_EMBED_MODEL"] == DEFAULT_EMBEDDING_MODEL
    assert documented["QA_LLM_BACKEND"].split()[0] == DEFAULT_LLM_BACKEND
