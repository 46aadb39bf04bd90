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
    """An input file is binary, undecodable, malformed, or of an unsupported type.

    `kind` names what was left out, for a run's summary ("2 empty files").
    """

    kind = "unreadable file"


class EmptyFileError(UnreadableFileError):
    """An input file holds no article text (empty, only a title, no records, no HTML body)."""

    kind = "empty file"


class UnsupportedFileError(UnreadableFileError):
    """An input file is of a type qa does not read, or is not a regular file (a FIFO, a device)."""

    kind = "unsupported file"


class FileTooLargeError(UnreadableFileError):
    """An input file is over the size limit."""

    kind = "file over the size limit"


class InvalidDocIdError(UnreadableFileError):
    """A file's name cannot serve as its doc id (control characters, too long, only invisible)."""

    kind = "file with an unusable name"


class InvalidRecordError(UnreadableFileError):
    """One JSONL record is not valid JSON or not a valid article record."""

    kind = "invalid record"


class EmptyCorpusError(QAError):
    """There is nothing to index or nothing indexed to answer from."""


class IndexMissingError(QAError):
    """No index exists at the given folder."""


class IndexingInProgressError(IndexMissingError):
    """No index exists yet, but a writer holds the lock: the first articles are being indexed."""


class IndexCorruptError(QAError):
    """An index folder exists but its files are damaged or inconsistent."""


class IndexMismatchError(QAError):
    """The index was built with another embedding model, dimension or format version."""


class IndexLockedError(QAError):
    """Another process holds the index's write lock for too long."""


class LockWaitInterruptedError(IndexLockedError):
    """Ctrl-C while waiting for another writer's lock; nothing was changed."""


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


class RecordDateError(InvalidDateError, InvalidRecordError):
    """An article's `published` date cannot be read or does not exist (names the record)."""


class ModelConvertError(ModelLoadError):
    """Converting a model for a runtime failed; the previous cache is unchanged."""


class VectorStoreMismatchError(IndexMismatchError):
    """The index keeps its vectors in another store (FAISS or Milvus) than the one asked for."""


class VectorStoreUnavailableError(QAError):
    """The vector store (a Milvus server or Milvus Lite file) cannot be reached or refused a request."""
