"""Shared fixtures: deterministic fake models, a temp index of the seed articles, no network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from qa.api import Assistant
from qa.settings import SEED_DIR, Settings
from qa.store.indexer import index_paths
from qa.testing import ExtractiveGenerator, HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
EVAL_DATA = REPO.parent / "shared" / "eval-data"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """State goes to temp folders; the real index/ and model cache are never written by tests."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path_factory.mktemp("default-index")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_fitted_gate(monkeypatch, request):
    """The shipped answer gate is fitted on the real models' signals (log-probabilities, MiniLM
    similarities), which the fake models do not give; tests with fakes run without it
    (tests/test_gate.py gives its own), the slow tier with it."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setattr("qa.answer.gate.GATE_FILE", Path("/nonexistent/answer_gate.json"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, request):
    """Any attempt to open a non-loopback connection fails the test."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
            raise AssertionError(f"test tried the network: {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def generator() -> ExtractiveGenerator:
    return ExtractiveGenerator()


@pytest.fixture
def seed_index(tmp_path, embedder) -> Path:
    """A fresh index of the two seed articles built with the fake embedder."""
    index_dir = tmp_path / "index"
    index_paths(index_dir, [SEED_DIR], embedder)
    return index_dir


@pytest.fixture
def assistant(seed_index, embedder, generator) -> Assistant:
    """An assistant over the seed index with both fake models."""
    settings = Settings(index_dir=seed_index, min_relevance=0.05)
    return Assistant(embedder=embedder, generator=generator, settings=settings)
