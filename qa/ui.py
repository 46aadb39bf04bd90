"""The chat UI of `qa`: a Gradio page over `qa.api.Assistant`.

Thin by design: it asks `Assistant.ask_stream`, adds and removes articles with
`Assistant.add`/`remove`, and renders the results. Everything shown that comes
from articles or from the model is HTML-escaped (and markdown-escaped in the
chat), so a passage holding <script>, HTML or links is shown as text. Library
errors (`QAError`) and refused uploads reach the user as escaped `gr.Error` messages
(Gradio renders their text as HTML) and the server log as one warning line; only
unexpected exceptions are logged with their traceback. The upload box accepts any file:
qa checks type and size itself, so a file name is never shown unescaped.

Started by `app.py` (`python app.py [--host H] [--port N] [--index-dir DIR]`) and `qa serve`.
It binds 127.0.0.1 unless told otherwise (flag or QA_HOST). No other qa module imports this one.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import gradio as gr

from qa.answer.highlight import answer_highlight_html, answer_sentences, highlight_html, shared_terms
from qa.api import Assistant
from qa.errors import FileTooLargeError, QAError, UnsupportedFileError
from qa.ingest.dates import as_of_date
from qa.ingest.doc_ids import shown
from qa.ingest.read import Skipped, skip_summary
from qa.records import Answer, Citation, Hit
from qa.settings import Settings

log = logging.getLogger("qa.app")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_UPLOAD_BYTES = 20 * 2**20
ANSWER_CONCURRENCY = 2  # answers at once (the model itself runs one generation at a time)
QUEUE_CONCURRENCY = 4  # default for the other events
CONTEXT_CHARS = 360  # article text shown around a passage in "Show in the article"

EXAMPLES = [
    "How many hostages were freed according to state media?",
    "How many hostages were killed when Algerian forces stormed the gas plant?",
    "Which foreigners were among those killed?",
    "Who captured the hostages at the gas plant?",
    "Who won the 2014 World Cup?",
]

THINKING = "Searching the articles…"
STOPPED = "⏹ Stopped. An answer is shown only once its citations are checked; ask again for one."
# Runs in the browser before `remove`: a native confirmation dialog; its answer is the second input.
CONFIRM_REMOVE_JS = ("(choice, _) => [choice, !choice || window.confirm('Remove this article and its "
                     "passages from the index? This cannot be undone.') ? 'yes' : 'no']")
NO_PASSAGES = ('<div class="qa-empty">Ask a question: the passages an answer cites appear here, '
               'with the words that support it highlighted.</div>')

CSS = """
#qa-header h1 { margin-bottom: 0; }
#qa-header p { margin-top: 4px; opacity: .8; }
.qa-empty { padding: 24px 12px; opacity: .7; font-style: italic; }
#passages { max-height: 640px; overflow-y: auto; }
.qa-panel-head { font-weight: 600; margin: 2px 0 10px; }
.qa-panel-head.abstained { color: var(--body-text-color-subdued); }
.cite-card { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 8px; padding: 10px 12px; margin: 0 0 12px; background: var(--background-fill-primary);
  transition: box-shadow .3s; scroll-margin: 12px; }
.cite-card.closest { border-left-color: var(--border-color-primary); }
.cite-card.flash { box-shadow: 0 0 0 3px var(--color-accent-soft, #fde68a); }
.cite-head { display: flex; gap: 8px; align-items: baseline; }
.cite-n { font-weight: 700; color: var(--color-accent); }
.cite-title { font-weight: 600; word-break: break-word; }
.cite-meta { font-size: .85em; opacity: .75; margin: 2px 0 6px; word-break: break-all; }
.cite-by { font-size: .88em; margin: 4px 0 6px; }
.cite-by q { font-style: italic; }
.cite-text { margin: 0; padding: 6px 10px; border-left: 2px solid var(--border-color-primary);
  white-space: pre-wrap; line-height: 1.5; }
.cite-text mark, .cite-context mark { background: #fde68a; color: inherit; padding: 0 1px;
  border-radius: 2px; }
.cite-card details { margin-top: 6px; font-size: .9em; }
.cite-card summary { cursor: pointer; opacity: .8; }
.cite-context { white-space: pre-wrap; line-height: 1.5; margin-top: 4px; opacity: .9; }
.cite-context .in-passage { background: var(--background-fill-secondary);
  outline: 1px dashed var(--border-color-primary); }
a.cite-ref { text-decoration: none; font-weight: 700; font-size: .85em; vertical-align: super;
  padding: 0 1px; }
.qa-articles table { width: 100%; border-collapse: collapse; font-size: .9em; border: none !important; }
.qa-articles th, .qa-articles td { text-align: left; padding: 4px 8px; vertical-align: top;
  border: none !important; border-bottom: 1px solid var(--border-color-primary) !important; }
.qa-articles .preview { opacity: .7; font-size: .9em; }
.qa-articles-box { max-height: 320px; overflow-y: auto; }
.qa-status ul { margin: 4px 0; }
#timings { font-size: .9em; opacity: .85; }
"""

# Markers in the chat are links to #cite-n; this makes them scroll the passage panel
# (and flash the card) instead of navigating, whatever the chat's own link handling does.
JS = r"""
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.cite-ref');
    if (!link) return;
    const target = (link.getAttribute('href') || '').split('#')[1] || '';
    if (!/^cite-\d+$/.test(target)) return;
    const card = document.getElementById(target);
    event.preventDefault();
    event.stopPropagation();
    if (!card) return;
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('flash');
    void card.offsetWidth;
    card.classList.add('flash');
    setTimeout(() => card.classList.remove('flash'), 1600);
  }, true);
}
"""


def _theme() -> gr.themes.Base:
    """A theme with system fonts only (the default one fetches web fonts)."""
    return gr.themes.Soft(primary_hue="amber", font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


# ---- rendering (pure functions: article and model text in, escaped HTML/markdown out) ----------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$<])")
_MARKER = re.compile(r"\[(\d+)\]")
_MARKERS_RUN = re.compile(r"\s*\[\d+\]")


def md_text(text: str) -> str:
    """Text for the chat's markdown renderer: HTML-escaped and markdown punctuation backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str) -> str:
    """A checked answer for the chat: escaped text, each [n] a link to its passage card."""
    parts = _MARKER.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f'<a class="cite-ref" href="#cite-{part}" title="Show passage {part}">'
                       f"&#91;{part}&#93;</a>")
        else:
            out.append(md_text(part))
    return "".join(out)


def answer_message(answer: Answer) -> str:
    """The whole assistant message for a finished answer (markdown with escaped content)."""
    lines = []
    if answer.standalone_question:
        lines.append(f"*Understood as:* “{md_text(answer.standalone_question)}”")
    if answer.abstained:
        lines.append(f"**{md_text(answer.text)}**")
        if answer.passages:
            lines.append("The closest passages are beside the chat, if you want to read them.")
    else:
        lines.append(answer_markdown(answer.text))
    return "\n\n".join(lines)


def _source_html(url: str) -> str:
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return html.escape(url) if url else ""
    return (f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">'
            f"{html.escape(parsed.netloc)}</a>")


def _meta_html(doc_id: str, published: str, url: str, title: str) -> str:
    bits = [html.escape(published or "undated")]
    if url:
        bits.append(_source_html(url))
    if title:  # the title is the heading; keep the id findable
        bits.append(f"<code>{html.escape(doc_id)}</code>")
    return " · ".join(bits)


def _context_html(article_text: str, start: int, end: int, terms: set[str]) -> str:
    """The passage in its article: some text before and after, the passage outlined."""
    before = article_text[max(0, start - CONTEXT_CHARS):start]
    after = article_text[end:end + CONTEXT_CHARS]
    if start > CONTEXT_CHARS and " " in before:
        before = "…" + before[before.index(" ") + 1:]
    if end + CONTEXT_CHARS < len(article_text) and " " in after:
        after = after[:after.rindex(" ")] + "…"
    passage = article_text[start:end]
    return (f"{html.escape(before)}<span class=\"in-passage\">{highlight_html(passage, terms)}</span>"
            f"{html.escape(after)}")


def article_label(title: str, text: str | None, doc_id: str, words: int = 9) -> str:
    """What to call an article: its title, else its opening words ('The Algerian government is …'),
    else its doc id."""
    if title:
        return title
    opening = (text or "").split()
    if not opening:
        return doc_id
    return " ".join(opening[:words]) + (" …" if len(opening) > words else "")


def _card(element_id: str, label: str, passage: Hit | Citation, terms: set[str], extra: str,
          article_text: str | None, closest: bool = False, marked: str | None = None) -> str:
    title = article_label(passage.title, article_text or passage.text, passage.doc_id)
    meta = _meta_html(passage.doc_id, passage.published, passage.url,
                      title if title != passage.doc_id else "")
    context = ""
    if article_text and article_text[passage.start:passage.end] == passage.text:
        context = ("<details><summary>Show in the article</summary><div class=\"cite-context\">"
                   f"{_context_html(article_text, passage.start, passage.end, terms)}</div></details>")
    return (f'<div class="cite-card{" closest" if closest else ""}" id="{element_id}">'
            f'<div class="cite-head"><span class="cite-n">{label}</span>'
            f'<span class="cite-title">{html.escape(title)}</span></div>'
            + (f'<div class="cite-meta">{meta}</div>' if meta else "")
            + extra + _copies_html(passage.copies)
            + f'<blockquote class="cite-text">{marked or highlight_html(passage.text, terms)}</blockquote>'
            + context + "</div>")


def _copies_html(copies: list[dict[str, str]]) -> str:
    """'Also published as: …' for the syndicated copies of a passage's article."""
    if not copies:
        return ""
    items = [f"{html.escape(c.get('title') or c.get('doc_id', ''))} "
             f"({html.escape(c.get('published') or 'undated')})"
             + (f" {_source_html(c['url'])}" if c.get("url") else "") for c in copies]
    return f'<div class="cite-copies">Also published as: {"; ".join(items)}</div>'


def timeline_html(answer: Answer) -> str:
    """The reported figures by date (`Answer.accounts`), when they come from more than one day."""
    dated = sorted((a for a in answer.accounts if a.date), key=lambda a: a.date)
    if len({a.date for a in dated}) < 2:
        return ""
    rows = "".join(f"<tr><td>{html.escape(a.date)}</td><td>{html.escape(a.figure)}</td>"
                   f"<td>{html.escape(a.source or '–')}</td><td>[{a.citation}]</td></tr>" for a in dated)
    return ('<div class="qa-timeline"><div class="qa-panel-head">Reported figures by date</div>'
            "<table><tr><th>date</th><th>figure</th><th>source</th><th>cited</th></tr>"
            f"{rows}</table></div>")


def _short(text: str, limit: int = 180) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def passages_html(answer: Answer, articles: Mapping[str, Any] | None = None) -> str:
    """The passage panel for an answer: cited passages (or, when abstaining, the closest ones)."""
    articles = articles or {}

    def text_of(doc_id: str) -> str | None:
        article = articles.get(doc_id)
        return getattr(article, "text", None) if article is not None else None

    if answer.abstained or not answer.citations:
        if not answer.passages:
            return '<div class="qa-empty">No passages to show.</div>'
        terms = shared_terms([answer.standalone_question or answer.question])
        cards = [_card(f"passage-{i}", f"{i}.", hit, terms, "", text_of(hit.doc_id), closest=True)
                 for i, hit in enumerate(answer.passages, start=1)]
        return ('<div class="qa-panel-head abstained">The articles don\'t answer this. '
                'Closest passages (words from the question highlighted):</div>' + "".join(cards))
    sentences = answer_sentences(answer.text)
    cards = []
    for citation in answer.citations:
        citing = [sentences[i] for i in citation.cited_by if 0 <= i < len(sentences)]
        terms = shared_terms(citing) if citing else shared_terms([answer.text])
        if citing:
            which = ", ".join(str(i + 1) for i in citation.cited_by)
            quotes = " ".join(f"<q>{html.escape(_short(_MARKERS_RUN.sub('', s).strip()))}</q>"
                              for s in citing)
            noun = "sentence" if len(citing) == 1 else "sentences"
            extra = f'<div class="cite-by">Supports answer {noun} {which}: {quotes}</div>'
        else:
            extra = ""
        marked = answer_highlight_html(citation.text, [_MARKERS_RUN.sub("", s) for s in citing],
                                       answer.standalone_question or answer.question) if citing else None
        cards.append(_card(f"cite-{citation.n}", f"[{citation.n}]", citation, terms, extra,
                           text_of(citation.doc_id), marked=marked))
    noun = "passage" if len(cards) == 1 else "passages"
    timeline = timeline_html(answer)
    return (f'<div class="qa-panel-head">{len(cards)} cited {noun}</div>' + timeline + "".join(cards)
            + ("" if timeline else other_reports_html(answer)))


def other_reports_html(answer: Answer) -> str:
    """"Other reports": the figures sources give for the count asked about that the answer's text
    does not state, each with its source, date and passage; '' when there are none."""
    rows = [a for a in answer.accounts if not a.in_text]
    if not rows:
        return ""
    items = []
    for account in rows:
        where = f"[{account.citation}]" if account.citation else html.escape(account.doc_id)
        when = html.escape(account.date) if account.date else "undated"
        who = html.escape(account.source) if account.source else "unnamed source"
        items.append(f"<li><b>{html.escape(account.figure)}</b> {html.escape(account.counts)} — "
                     f"{who}, {when}, {where}: <q>{html.escape(_short(account.sentence))}</q></li>")
    return ('<div class="qa-panel-head other-reports">Other reports</div>'
            f'<ul class="other-reports">{"".join(items)}</ul>')


def timings_text(timings: Mapping[str, float]) -> str:
    """'retrieve 0.02 s · first token 1.20 s · total 3.40 s' for the last answer."""
    def fmt(key: str) -> str:
        value = timings.get(key)
        return f"{value:.2f} s" if isinstance(value, int | float) else "–"

    return (f"Last answer: retrieve {fmt('retrieve')} · first token {fmt('first_token')} · "
            f"total {fmt('total')}")


def articles_html(manifest_articles: Mapping[str, Mapping[str, Any]],
                  texts: Mapping[str, Any] | None = None) -> str:
    """The table of indexed articles: title (or doc id and a preview), date, passages."""
    texts = texts or {}
    count = len(manifest_articles)
    if not count:
        return '<div class="qa-empty">The index is empty: add articles below.</div>'
    rows = []
    for doc_id, meta in sorted(manifest_articles.items(),
                               key=lambda kv: (str(kv[1].get("published") or ""), kv[0]), reverse=True):
        title = str(meta.get("title") or "")
        head = html.escape(title) if title else f"<code>{html.escape(doc_id)}</code>"
        preview = ""
        article = texts.get(doc_id)
        if not title and article is not None and getattr(article, "text", None):
            preview = f'<div class="preview">{html.escape(_short(article.text, 110))}</div>'
        elif title:
            preview = f'<div class="preview"><code>{html.escape(doc_id)}</code></div>'
        rows.append(f"<tr><td>{head}{preview}</td><td>{html.escape(str(meta.get('published') or '–'))}</td>"
                    f"<td>{int(meta.get('chunks') or 0)}</td></tr>")
    noun = "article" if count == 1 else "articles"
    return (f'<div class="qa-articles"><div class="qa-panel-head">{count} {noun} indexed</div>'
            '<div class="qa-articles-box"><table><thead><tr><th>Article</th><th>Date</th>'
            f'<th>Passages</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div></div>')


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


class Handlers:
    """The page's event handlers over one Assistant (callable without a running server)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    # -- asking
    def respond(self, question: str, chat: Chat | None, history: HistoryPairs | None,
                k: float | None = None, max_new_tokens: float | None = None,
                as_of: str | None = None) -> Iterator[tuple]:
        """Stream an answer: yields (question box, chat, chat state, history, passages, timings)."""
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

    def stop(self, chat: Chat | None) -> tuple[Chat, Chat]:
        """After the user stops an answer: the unfinished, unchecked draft gives way to a note."""
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


# ---- the page ----------------------------------------------------------------------------------
def build_app(assistant: Assistant | None = None, settings: Settings | None = None) -> gr.Blocks:
    """The Gradio page (queued, not launched) over `assistant` (default: one from `settings`)."""
    settings = settings or (assistant.settings if assistant is not None else Settings.from_env())
    assistant = assistant or Assistant(settings=settings)
    h = Handlers(assistant)
    with gr.Blocks(title="qa · ask the news", analytics_enabled=False) as demo:
        gr.Markdown("# Ask the news\nAnswers come only from the indexed articles, each sentence "
                    "cited. Nothing leaves this machine.", elem_id="qa-header")
        chat_state = gr.State([])
        history_state = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="chat", height=460, latex_delimiters=[],
                    feedback_options=None, buttons=["copy"], group_consecutive_messages=False,
                    placeholder="Ask a question about the articles. Follow-up questions work too.")
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question about the articles…",
                                          show_label=False, scale=5, max_lines=4, autofocus=True,
                                          elem_id="question", container=False)
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="ask")
                    stop = gr.Button("Stop", variant="secondary", scale=0, min_width=70, elem_id="stop")
                with gr.Row(equal_height=True):
                    timings = gr.Markdown("", elem_id="timings")
                    new_chat = gr.Button("New conversation", size="sm", scale=0, min_width=160)
                gr.Examples(EXAMPLES, inputs=question, label="Example questions (seed articles)")
            with gr.Column(scale=2, min_width=340):
                passages = gr.HTML(NO_PASSAGES, label="Passages", elem_id="passages", js_on_load=None)
        with (gr.Accordion("Articles in the index", open=False, elem_id="articles-panel"),
              gr.Row(equal_height=False)):
            with gr.Column(scale=3):
                articles = gr.HTML("", elem_id="articles", js_on_load=None)
            with gr.Column(scale=2):
                # No file_types: Gradio's own type check would show the file name as HTML.
                files = gr.File(label="Add articles (.txt .md .html .jsonl, up to "
                                f"{mebibytes(MAX_UPLOAD_BYTES)} each)", file_count="multiple",
                                type="filepath", elem_id="upload")
                add = gr.Button("Add to the index", variant="primary", elem_id="add")
                doc_choice = gr.Dropdown(label="Remove an article", choices=[], value=None,
                                         elem_id="remove-choice")
                remove = gr.Button("Remove", variant="stop", elem_id="remove")
                remove_confirmed = gr.Textbox("yes", visible=False)
                status = gr.HTML("", elem_id="index-status", js_on_load=None)
        with gr.Accordion("Settings", open=False, elem_id="settings-panel"):
            with gr.Row():
                k = gr.Slider(1, 10, value=settings.passages, step=1, label="Passages given to the model (k)")
                max_new = gr.Slider(32, 512, value=settings.max_new_tokens, step=16,
                                    label="Answer length limit (tokens)")
                as_of = gr.Textbox("", label="Answer as of (YYYY-MM-DD; empty: today)", max_lines=1,
                                   placeholder="YYYY-MM-DD", elem_id="as-of")
            gr.Markdown(f"Index: `{settings.index_dir}` · embedding model: "
                        f"`{settings.embed_model or 'default'}` · language model: "
                        f"`{settings.llm_model or 'default'}`")

        ask_io: dict[str, Any] = {
            "fn": h.respond, "inputs": [question, chat_state, history_state, k, max_new, as_of],
            "outputs": [question, chatbot, chat_state, history_state, passages, timings],
            "concurrency_limit": ANSWER_CONCURRENCY, "concurrency_id": "answer",
            "show_progress": "hidden",
        }
        asked: list[dict[str, Any]] = [question.submit(**ask_io), ask.click(**ask_io)]  # Dependency: a dict
        stop.click(h.stop, [chat_state], [chatbot, chat_state], cancels=asked, queue=False)
        cleared = [chatbot, chat_state, history_state, passages, timings]
        new_chat.click(h.clear, None, cleared, queue=False)
        chatbot.clear(h.clear, None, cleared, queue=False)
        add.click(h.upload, [files], [status, articles, doc_choice, files], concurrency_limit=1,
                  concurrency_id="index")
        remove.click(h.remove, [doc_choice, remove_confirmed], [status, articles, doc_choice],
                     concurrency_limit=1,
                     concurrency_id="index", js=CONFIRM_REMOVE_JS)
        demo.load(h.articles_view, None, [articles, doc_choice])
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    return demo


def _warm_up(assistant: Assistant) -> None:
    """Open the index and load the language model before the first question needs them."""
    try:
        _ = assistant.store
        assistant.embedder.embed(["warm up the embedding model"])
        load: Callable[[], object] | None = getattr(assistant.generator, "load", None)
        if callable(load):
            load()
        assistant.generator.generate([{"role": "user", "content": "Say OK."}], 2)  # first-call costs
        log.info("models and index ready")
    except QAError as exc:
        log.warning("warm-up: %s", exc)


def resolve_address(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """(host, port): the arguments, else QA_HOST / GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host = host or os.environ.get("QA_HOST", "").strip() or DEFAULT_HOST
    if port is None:
        env_port = os.environ.get("GRADIO_SERVER_PORT", "").strip()
        port = int(env_port) if env_port.isdigit() else DEFAULT_PORT
    return host, port


def launch(settings: Settings | None = None, host: str | None = None, port: int | None = None,
           assistant: Assistant | None = None) -> None:
    """Serve the chat UI (blocks until stopped). Binds 127.0.0.1 unless told otherwise."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "httpx", "httpcore"):  # CPU-probe and request chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = settings or (assistant.settings if assistant is not None else Settings.from_env())
    host, port = resolve_address(host, port)
    assistant = assistant or Assistant(settings=settings)
    demo = build_app(assistant, settings)
    threading.Thread(target=_warm_up, args=(assistant,), name="qa-warm-up", daemon=True).start()
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: anyone who can reach this address can use the assistant", host)
    try:
        demo.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD_BYTES, theme=_theme(),
                    css=CSS, js=JS, ssr_mode=False, show_error=False, mcp_server=False,
                    footer_links=["settings"])
    except OSError as exc:
        raise QAError(f"cannot serve on {host}:{port}: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """`python app.py [--host H] [--port N] [--index-dir DIR] [--llm-model M] [--llm-backend B]`."""
    from qa.models.generate import DEFAULT_LLM_BACKEND, LLM_BACKENDS

    parser = argparse.ArgumentParser(description="The qa chat UI.")
    parser.add_argument("--host", default=None, help="address to bind ($QA_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port ($GRADIO_SERVER_PORT; default 7860)")
    parser.add_argument("--index-dir", default=None, help="index folder ($QA_INDEX_DIR)")
    parser.add_argument("--embed-model", default=None, help="embedding model ($QA_EMBED_MODEL)")
    parser.add_argument("--llm-model", default=None, help="answering model ($QA_LLM_MODEL)")
    parser.add_argument("--llm-backend", choices=LLM_BACKENDS, default=None,
                        help="runtime for the answering model ($QA_LLM_BACKEND; default "
                        f"{DEFAULT_LLM_BACKEND})")
    parser.add_argument("--llm-url", default=None, help="served model's base URL ($QA_LLM_URL)")
    args = parser.parse_args(argv)
    settings = Settings.from_env(index_dir=args.index_dir, embed_model=args.embed_model,
                                 llm_model=args.llm_model, llm_backend=args.llm_backend,
                                 llm_url=args.llm_url)
    try:
        launch(settings=settings, host=args.host, port=args.port)
    except QAError as exc:
        print(f"qa: error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
