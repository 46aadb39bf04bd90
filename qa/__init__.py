"""qa: a local, private assistant that answers questions about news articles with cited passages.

    import qa
    answer = qa.ask("How many hostages were freed?")
    answer.text, answer.citations, answer.abstained
"""

import qa.model_files  # noqa: F401  (first: sets the offline switches before any HF import)
from qa.api import Assistant, ask, retrieve
from qa.errors import QAError
from qa.records import Answer, Article, Citation, Hit

__all__ = ["Answer", "Article", "Assistant", "Citation", "Hit", "QAError", "ask", "retrieve"]
__version__ = "0.1.0"
