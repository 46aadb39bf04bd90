"""qa: a local, private assistant that answers questions about news articles with cited passages.

    import qa
    answer = qa.ask("How many hostages were freed?")
    answer.text, answer.citations, answer.abstained


Importing qa loads no model and changes no environment variable: the entry points (`qa.ask`,
`Assistant`, the CLI, the app) apply qa's process defaults (`qa.settings.PROCESS_DEFAULTS`).
"""

from qa.api import Assistant, ask, retrieve
from qa.errors import QAError
from qa.records import Answer, Article, Citation, Hit

__all__ = ["Answer", "Article", "Assistant", "Citation", "Hit", "QAError", "ask", "retrieve"]
__version__ = "0.6.3"
