"""No network: offline switches are set before any hub library loads; a dead network changes nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qa.api import Assistant
from qa.settings import SEED_DIR, Settings
from qa.store.indexer import index_paths
from qa.testing import ExtractiveGenerator, HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How many hostages were freed?"


def _python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose environment has no offline switches."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_building_the_embedder_sets_the_switches_before_any_hub_import():
    """The real adapters set the offline switches before sentence-transformers is imported."""
    result = _python(
        "import os, sys\n"
        "from qa.models.embed import SentenceTransformerEmbedder\n"
        "SentenceTransformerEmbedder()\n"
        "assert os.environ['HF_HUB_OFFLINE'] == os.environ['TRANSFORMERS_OFFLINE'] == '1'\n"
        "assert 'huggingface_hub' not in sys.modules and 'transformers' not in sys.modules\n")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("entry", ["qa", "qa.cli", "qa.api", "qa.eval", "qa.store.indexer", "qa.ui"])
def test_importing_qa_changes_no_environment_and_loads_no_model_library(entry):
    """Settings are applied by entry points, never as a side effect of an import."""
    result = _python("import os, sys\n"
                     "before = dict(os.environ)\n"
                     f"import {entry}\n"
                     "keys = set(before) | set(os.environ)\n"
                     "changed = {k for k in keys if before.get(k) != os.environ.get(k)}\n"
                     "assert not changed, changed\n"
                     "heavy = {'torch', 'transformers', 'sentence_transformers', 'faiss'}\n"
                     "loaded = heavy & set(sys.modules)\n"
                     "assert not loaded, loaded\n")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("entry", [
    "import qa.cli; qa.cli.main(['status', '--index-dir', 'no-such-index'])",
    "from qa.api import Assistant; from qa.testing import HashingEmbedder\n"
    "Assistant(embedder=HashingEmbedder())",
])
def test_entry_points_apply_the_process_defaults_before_any_model_loads(entry):
    result = _python("import os, sys\n"
                     f"{entry}\n"
                     "from qa.settings import PROCESS_DEFAULTS\n"
                     "assert all(os.environ.get(k) == v for k, v in PROCESS_DEFAULTS.items()), os.environ\n"
                     "assert 'torch' not in sys.modules\n")
    assert result.returncode == 0, result.stderr


def test_a_setting_the_user_made_is_kept():
    code = ("import os\nos.environ['OMP_WAIT_POLICY'] = 'ACTIVE'\n"
            "from qa.settings import apply_process_defaults\napply_process_defaults()\n"
            "assert os.environ['OMP_WAIT_POLICY'] == 'ACTIVE'\n")
    result = _python(code)
    assert result.returncode == 0, result.stderr


def test_the_ui_entry_point_imports_the_hub_offline():
    """gradio imports huggingface_hub: the UI must set the switches before importing it."""
    result = _python("import app\nimport huggingface_hub.constants as c\n"
                     "assert c.HF_HUB_OFFLINE, 'huggingface_hub is online'\n")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def dead_network(monkeypatch) -> list[object]:
    """Every way out fails with OSError (as with no network at all); attempts are recorded."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError(101, "Network is unreachable (blocked by test)")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def _index_and_ask(tmp_path: Path, embedder=None, generator=None):
    index_dir = tmp_path / "idx"
    embedder = embedder or HashingEmbedder()
    index_paths(index_dir, [SEED_DIR], embedder)
    settings = Settings(index_dir=index_dir, min_relevance=0.05 if generator else 0.25)
    assistant = Assistant(embedder=embedder, generator=generator, settings=settings)
    return assistant.ask(QUESTION)


def test_a_dead_network_changes_nothing_with_fakes(tmp_path, dead_network):
    blocked = _index_and_ask(tmp_path / "a", generator=ExtractiveGenerator())
    assert dead_network == []
    assert blocked.citations and not blocked.abstained and "650" in blocked.text


@pytest.mark.slow
def test_a_dead_network_changes_nothing_with_the_real_models(tmp_path, dead_network):
    """The packaged embedding model and answering model load and answer with every socket refused."""
    from qa.api import shared_embedder

    answer = _index_and_ask(tmp_path, embedder=shared_embedder())
    assert dead_network == []
    assert not answer.abstained and answer.citations and "650" in answer.text
