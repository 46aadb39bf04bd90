"""What the page shows, as escaped HTML and markdown: answers, passage cards, tables, timings.

Pure functions: article and model text in, escaped HTML/markdown out. Everything that comes from
articles or from the model is HTML-escaped (and markdown-escaped in the chat), so a passage holding
<script>, HTML or links is shown as text. No Gradio here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from qa.answer.highlight import answer_highlight_html, answer_sentences, highlight_html, shared_terms
from qa.records import Answer, Citation, Hit

CONTEXT_CHARS = 360  # article text shown around a passage in "Show in the article"
NO_PASSAGES = ('<div class="qa-empty">Ask a question: the passages an answer cites appear here, '
               'with the words that support it highlighted.</div>')

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
        # the words of the question as asked and as rewritten are neither the answer
        asked = f"{answer.question} {answer.standalone_question}".strip()
        marked = answer_highlight_html(citation.text, [_MARKERS_RUN.sub("", s) for s in citing],
                                       asked) if citing else None
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
