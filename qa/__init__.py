"""qa: a local, private assistant that answers questions about news articles with cited passages.

    import qa
    answer = qa.ask("How many hostages were freed?")
    answer.text, answer.citations, answer.abstained
"""

import os

# Idle OpenMP threads sleep instead of spinning. On a 2-core machine shared with other work, a
# spinning pool made one query embedding take 1 s instead of 20 ms and decoding 5x slower
# (benchmarks/README.md). It only takes effect before torch loads, so it is set here, first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import qa.models.model_files  # noqa: F401  (sets the offline switches before any HF import)
from qa.api import Assistant, ask, retrieve
from qa.errors import QAError
from qa.records import Answer, Article, Citation, Hit

__all__ = ["Answer", "Article", "Assistant", "Citation", "Hit", "QAError", "ask", "retrieve"]
__version__ = "0.3.0"
