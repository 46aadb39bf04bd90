"""The page's event handlers over one `Assistant`: answer, stop, clear, upload, remove.

They return what the page's components show (built by `qa.ui.render`) and can be called without a
running server. Library errors (`QAError`) and refused uploads reach the user as escaped `gr.Error`
messages (Gradio renders their text as HTML) and the server log as one warning line; only
unexpected exceptions are logged with their traceback. Uploads are checked here for type and size,
so a file name is never shown unescaped.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from qa.api import Assistant
from qa.errors import FileTooLargeError, QAError, UnsupportedFileError
from qa.ingest.dates import as_of_date
from qa.ingest.doc_ids import shown
from qa.ingest.read import Skipped, skip_summary
from qa.ui.render import (
    NO_PASSAGES,
    answer_message,
    article_label,
    articles_html,
    md_text,
    passages_html,
    timings_text,
)

log = logging.getLogger("qa.app")

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_UPLOAD_BYTES = 20 * 2**20
THINKING = "Searching the articles…"
STOPPED = "⏹ Stopped. An answer is shown only once its citations are checked; ask again for one."


def _error_message(exc: BaseException) -> str:
    return str(exc).strip() or exc.__class__.__name__


def user_error(message: str, title: str) -> gr.Error:
    """A routine refusal (no file chosen, no index yet, a bad upload): the message HTML-escaped
    for Gradio's toast, and one warning line in the server log, without a traceback."""
    log.warning("%s: %s", title, shown(message))
    return gr.Error(html.escape(message), title=title, print_exception=False)


# ---- handlers ----------------------------------------------------------------------------------
Chat = list[dict[str, Any]]
HistoryPairs = list[list[str]]


class StopRequests:
    """How many times each browser session pressed Stop, so an answer still streaming on the
    server can tell it was stopped and yield nothing more. Gradio's cancel reaches the server
    separately from the Stop handler; without this a token yielded between the two would put
    the draft back over the "Stopped" note. Does not cancel anything itself."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, session: str) -> int:
        with self._lock:
            return self._counts.get(session, 0)

    def press(self, session: str) -> None:
        with self._lock:
            self._counts[session] = self._counts.get(session, 0) + 1


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "")


class Handlers:
    """The page's event handlers over one Assistant (callable without a running server)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.stops = StopRequests()

    # -- asking
    def respond(self, question: str, chat: Chat | None, history: HistoryPairs | None,
                k: float | None = None, max_new_tokens: float | None = None,
                as_of: str | None = None, request: gr.Request | None = None) -> Iterator[tuple]:
        """Stream an answer: yields (question box, chat, chat state, history, passages, timings).

        Yields nothing more once Stop is pressed in the same browser session."""
        session = _session(request)
        stops_before = self.stops.count(session)
        chat = list(chat or [])
        history = [list(pair) for pair in (history or [])]
        question = (question or "").strip()
        if not question:
            raise user_error("Type a question first.", "Empty question")
        chat = [*chat, {"role": "user", "content": md_text(question)},
                {"role": "assistant", "content": f"*{THINKING}*"}]
        yield "", chat, chat, history, gr.skip(), gr.skip()
        draft = ""
        try:
            date = as_of_date((as_of or "").strip(), "the 'Answer as of' date")
            for event in self.assistant.ask_stream(
                    question, history=[(q, a) for q, a in history], k=int(k) if k else None,
                    max_new_tokens=int(max_new_tokens) if max_new_tokens else None, as_of=date):
                if self.stops.count(session) != stops_before:
                    return
                if isinstance(event, str):
                    draft += event
                    chat = [*chat[:-1], {"role": "assistant", "content": md_text(draft) + " ▍"}]
                    yield gr.skip(), chat, chat, history, gr.skip(), gr.skip()
                    continue
                answer = event
                chat = [*chat[:-1], {"role": "assistant", "content": answer_message(answer)}]
                history = [*history, [question, answer.text]]
                yield (gr.skip(), chat, chat, history, passages_html(answer, self._texts()),
                       timings_text(answer.timings))
        except QAError as exc:
            message = _error_message(exc)
            chat = [*chat[:-1], {"role": "assistant", "content": f"⚠️ {md_text(message)}"}]
            yield gr.skip(), chat, chat, history, gr.skip(), gr.skip()
            raise user_error(message, "Could not answer") from exc
        except gr.Error:
            raise
        except Exception as exc:
            log.exception("answering %r failed", question)  # a bug: the one traceback in the log
            chat = [*chat[:-1], {"role": "assistant",
                                  "content": "⚠️ Something went wrong while answering."}]
            yield gr.skip(), chat, chat, history, gr.skip(), gr.skip()
            raise gr.Error(f"Something went wrong while answering ({exc.__class__.__name__}); "
                           "the details are in the server log.", title="Could not answer",
                           print_exception=False) from exc

    def clear(self) -> tuple:
        """A new conversation: empty chat, history, passages and timings."""
        return [], [], [], NO_PASSAGES, ""

    def _texts(self) -> Mapping[str, Any]:
        try:
            return self.assistant.store.articles
        except QAError:
            return {}

    def stop(self, chat: Chat | None, request: gr.Request | None = None) -> tuple[Chat, Chat]:
        """After the user stops an answer: the unfinished, unchecked draft gives way to a note,
        and the answer still running in this session yields nothing more."""
        self.stops.press(_session(request))
        chat = list(chat or [])
        if chat and chat[-1].get("role") == "assistant" and str(chat[-1].get("content", "")).endswith(
                ("▍", f"*{THINKING}*")):
            chat = [*chat[:-1], {"role": "assistant", "content": STOPPED}]
        return chat, chat

    # -- the collection
    def articles_view(self) -> tuple[str, Any]:
        """(articles table HTML, remove-dropdown update) for the index as it is now."""
        try:
            store = self.assistant.store
        except QAError as exc:
            return (f'<div class="qa-empty">{html.escape(_error_message(exc))}</div>',
                    gr.update(choices=[], value=None))
        manifest = store.manifest.articles
        choices = []
        labels = {doc_id: article_label(str(meta.get("title") or ""),
                                        getattr(store.articles.get(doc_id), "text", ""), doc_id, 7)
                  for doc_id, meta in manifest.items()}
        for doc_id, meta in sorted(manifest.items(), key=lambda kv: labels[kv[0]].lower()):
            label = labels[doc_id] if meta.get("title") else f"{labels[doc_id]} ({doc_id})"
            if meta.get("published"):
                label += f" ({meta['published']})"
            choices.append((label, doc_id))
        return articles_html(manifest, store.articles), gr.update(choices=choices, value=None)

    def upload(self, files: Sequence[str] | str | None,
               progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
        """Index uploaded files; yields (status HTML, articles HTML, dropdown, file box)."""
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            raise user_error("Choose one or more files to add first.", "Nothing to add")
        accepted, rejected = check_uploads(paths)
        if not accepted:
            raise user_error("Nothing was added: " + "; ".join(s.reason for s in rejected), "Upload refused")

        def say(line: str) -> None:  # waiting for another writer, a huge article
            log.info("upload: %s", shown(line))
            progress(0.05, desc=shown(line))

        progress(0.05, desc=f"Reading and embedding {len(accepted)} file(s)")
        try:
            report = self.assistant.add(accepted, progress=True, notify=say)
        except QAError as exc:
            raise user_error(f"Nothing was added: {_error_message(exc)}", "Upload failed") from exc
        progress(1.0, desc="Done")
        skipped = rejected + [s._replace(path=Path(s.path).name) for s in report.skipped]
        lines = [f"Added {len(report.added)}, updated {len(report.updated)}, unchanged "
                 f"{len(report.unchanged)} ({report.chunks_embedded} passages embedded in "
                 f"{report.seconds:.1f} s). The index now holds {report.articles_total} articles."]
        if skipped:
            items = "".join(f"<li>{html.escape(s.reason)}</li>" for s in skipped)
            lines.append(f"Skipped {html.escape(skip_summary(skipped))}:<ul>{items}</ul>")
        table, dropdown = self.articles_view()
        return f'<div class="qa-status">{"<br>".join(lines)}</div>', table, dropdown, None

    def remove(self, doc_id: str | None, confirmed: str = "yes") -> tuple:
        """Delete one article; returns (status HTML, articles HTML, dropdown).

        The page asks the user to confirm first; `confirmed` is the answer ('yes' or 'no').
        """
        if confirmed == "no":
            return '<div class="qa-status">Nothing was removed.</div>', gr.skip(), gr.skip()
        if not doc_id:
            raise user_error("Pick an article to remove first.", "Nothing to remove")
        try:
            removed = self.assistant.remove([doc_id])
        except QAError as exc:
            raise user_error(_error_message(exc), "Could not remove") from exc
        status = (f"Removed <code>{html.escape(doc_id)}</code>." if removed
                  else f"<code>{html.escape(doc_id)}</code> was not in the index.")
        table, dropdown = self.articles_view()
        return f'<div class="qa-status">{status}</div>', table, dropdown


def mebibytes(size: int) -> str:
    """'20 MiB', '20.5 MiB': sizes written the way qa writes its upload limit."""
    value = size / 2**20
    return f"{value:,.0f} MiB" if value == int(value) else f"{value:,.1f} MiB"


def check_uploads(paths: Sequence[str | Path],
                  max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list[str], list[Skipped]]:
    """Split uploads into (accepted paths, refused ones by type or size, each with why).

    Reasons hold file names as uploaded; whoever shows them as HTML escapes them.
    """
    accepted: list[str] = []
    rejected: list[Skipped] = []
    for raw in paths:
        path = Path(raw)
        name = shown(path.name)
        if path.suffix.lower() not in UPLOAD_SUFFIXES:
            rejected.append(Skipped(name, f"{name}: type {shown(path.suffix) or '(none)'} is not one of "
                                          f"{', '.join(UPLOAD_SUFFIXES)}", UnsupportedFileError.kind))
            continue
        try:
            size = path.stat().st_size
        except OSError:
            rejected.append(Skipped(name, f"{name}: the upload could not be read"))
            continue
        if size > max_bytes:
            rejected.append(Skipped(name, f"{name}: {mebibytes(size)} is over the {mebibytes(max_bytes)} "
                                          "limit", FileTooLargeError.kind))
            continue
        accepted.append(str(path))
    return accepted, rejected
