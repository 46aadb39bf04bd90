"""Eight users at once through the real Gradio queue (fake models): all answered, citations right."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import qa.ui.page as ui_page
from qa.api import Assistant
from qa.settings import Settings
from qa.testing import ExtractiveGenerator

QUESTIONS = [
    ("Who masterminded the raid?", "Belmokhtar", "000_6ad931cbaa20b811"),
    ("How many hostages did state media say were freed?", "650", "000_6ad931cbaa20b811"),
    ("How many militants were killed?", "11", "002_8e2be5257cd0af73"),
]


class SlowGenerator(ExtractiveGenerator):
    """The extractive fake, slowed down so that the eight requests overlap in the queue."""

    def stream(self, messages, max_new_tokens=160):
        for piece in super().stream(messages, max_new_tokens):
            time.sleep(0.02)
            yield piece


@pytest.fixture
def running_app(seed_index, embedder):
    assistant = Assistant(embedder=embedder, generator=SlowGenerator(),
                          settings=Settings(index_dir=seed_index, min_relevance=0.05))
    demo = ui_page.build_app(assistant)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                show_error=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_eight_concurrent_users_all_get_correctly_cited_answers(running_app):
    from gradio_client import Client

    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(8)]
    users = [Client(running_app, verbose=False) for _ in asked]  # one session each, as 8 browsers
    started = time.perf_counter()
    jobs = [user.submit(q, 4, 96, api_name="/respond") for user, (q, _, _) in zip(users, asked, strict=True)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: job.result(timeout=120), jobs))
    assert time.perf_counter() - started < 120
    for (question, expected, doc_id), (_box, chat, passages, _timings) in zip(asked, results, strict=True):
        answer = chat[-1]["content"][0]["text"]
        assert chat[-2]["content"][0]["text"] == question
        assert expected in answer and "#cite-1" in answer, answer
        assert 'id="cite-1"' in passages and doc_id in passages
