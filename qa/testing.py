"""Small deterministic stand-ins for the two models, for tests and offline demos.

`HashingEmbedder` embeds bag-of-stems into a fixed number of hashed dimensions;
`ExtractiveGenerator` answers by quoting the passage sentence that shares most
terms with the question (or says the articles don't say). Neither is a model of
language: they exist so that tests can assert exact ranks and citations.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator

import numpy as np

from qa.answer.prompt import ABSTAIN_TEXT
from qa.models.embed import Embedder
from qa.models.generate import Generator, Message
from qa.text import content_terms


class HashingEmbedder(Embedder):
    """Bag of stemmed terms hashed into `dimension` buckets (deterministic, no model)."""

    def __init__(self, dimension: int = 256, name: str = "fake-hashing") -> None:
        self.dimension = dimension
        self.name = name

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in content_terms(text):
                bucket = int(hashlib.md5(term.encode()).hexdigest()[:8], 16) % self.dimension
                rows[i, bucket] += 1.0
            if not rows[i].any():
                rows[i, 0] = 1e-3
        return rows


class ExtractiveGenerator(Generator):
    """Replies with the passage sentence sharing most terms with the question, cited `[n]`.

    Set `reply` to force a fixed reply instead, `delay` to wait that many seconds before each
    word (a slow model, for stop buttons). `calls` counts generations.
    """

    name = "fake-extractive"

    def __init__(self, reply: str | None = None, min_overlap: int = 2, delay: float = 0.0) -> None:
        self.reply = reply
        self.min_overlap = min_overlap
        self.delay = delay
        self.calls = 0

    def stream(self, messages: list[Message], max_new_tokens: int = 160) -> Iterator[str]:
        self.calls += 1
        text = self.reply if self.reply is not None else self._answer(messages[-1]["content"])
        for word in re.findall(r"\S+\s*", text):
            if self.delay:
                time.sleep(self.delay)
            yield word

    def _answer(self, prompt: str) -> str:
        if "Rewritten question:" in prompt:
            last = prompt.split("Last question:", 1)[1].split("\n")[0].strip()
            earlier = [line[5:].strip() for line in prompt.splitlines() if line.startswith("User:")]
            return f"{last} ({earlier[-1]})" if earlier else last
        question = prompt.rsplit("Question:", 1)[-1].split("\n")[0]
        wanted = set(content_terms(question))
        best, best_score = "", 0
        for n, body in re.findall(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\n>>>)", prompt, re.M | re.S):
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                score = len(wanted & set(content_terms(sentence)))
                if score > best_score:
                    best, best_score = f"{sentence.strip()} [{n}]", score
        return best if best_score >= self.min_overlap else ABSTAIN_TEXT
