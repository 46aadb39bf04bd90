"""Named exceptions of `qa`.

The library raises only these (all under `QAError`); the CLI turns them into a
one-line message and the UI into `gr.Error`. Nothing here prints or exits.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error `qa` raises on purpose."""


class InvalidQuestionError(QAError, ValueError):
    """The question is empty, whitespace only, or otherwise unusable."""


class QuestionTooLongError(InvalidQuestionError):
    """The question is longer than the configured limit."""


class UnreadableFileError(QAError):
    """An input file is binary, undecodable, malformed, or of an unsupported type."""


class EmptyCorpusError(QAError):
    """There is nothing to index or nothing indexed to answer from."""


class IndexMissingError(QAError):
    """No index exists at the given folder."""


class IndexCorruptError(QAError):
    """An index folder exists but its files are damaged or inconsistent."""


class IndexMismatchError(QAError):
    """The index was built with another embedding model, dimension or format version."""


class IndexLockedError(QAError):
    """Another process holds the index's write lock for too long."""


class ModelLoadError(QAError):
    """A model could not be found, verified, converted or loaded."""


class ServerError(QAError):
    """A served model (an OpenAI-compatible server) failed or refused a request."""


class ServerUnreachableError(ServerError):
    """The server could not be reached, or did not answer within the timeout."""


class ServerAuthError(ServerError):
    """The server refused the API key (401 or 403)."""


class UnknownServedModelError(ServerError):
    """The server does not serve the model that was asked for."""


class ContextTooLongError(ServerError):
    """The prompt does not fit the served model's context window."""


class EmptyReplyError(ServerError):
    """The server's reply had no content, or its stream ended before the reply did."""


class InvalidDateError(QAError, ValueError):
    """A date (an article's `published`, or `as_of`) cannot be read or does not exist."""


class RecordDateError(InvalidDateError, UnreadableFileError):
    """An article's `published` date cannot be read or does not exist (names the record)."""


class ModelConvertError(ModelLoadError):
    """Converting a model for a runtime failed; the previous cache is unchanged."""


class VectorStoreMismatchError(IndexMismatchError):
    """The index keeps its vectors in another store (FAISS or Milvus) than the one asked for."""


class VectorStoreUnavailableError(QAError):
    """The vector store (a Milvus server or Milvus Lite file) cannot be reached or refused a request."""
