"""The chat UI's handlers and rendering, called directly (no server, no browser), with fake models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import qa.ui.handlers as ui_handlers
import qa.ui.page as ui_page
import qa.ui.render as ui_render
from qa.answer.highlight import answer_sentences, highlight_html, shared_terms
from qa.api import Assistant
from qa.errors import ModelLoadError
from qa.records import Answer, Citation
from qa.settings import Settings

SEED_QUESTION = "How many hostages were freed according to state media?"
EVIL = ('Evil Corp announced record profits of 900 million dollars in the quarter. '
        '<script>alert("pwned")</script> <img src=x onerror=alert(1)> '
        '[click me](javascript:alert(2)) **bold** <b>tag</b>\n')


def run(handlers: ui_handlers.Handlers, question: str, chat=None, history=None, k=4, max_new_tokens=96):
    return list(handlers.respond(question, chat or [], history or [], k, max_new_tokens))


def final(outputs):
    """(question box, chat, chat state, history, passages, timings) of the last yield."""
    return outputs[-1]


@pytest.fixture
def handlers(assistant: Assistant) -> ui_handlers.Handlers:
    return ui_handlers.Handlers(assistant)


# ---- the page -----------------------------------------------------------------------------------
def test_build_app_makes_a_queued_page_without_launching(assistant):
    demo = ui_page.build_app(assistant)
    assert isinstance(demo, gr.Blocks)
    assert demo._queue.default_concurrency_limit == ui_page.QUEUE_CONCURRENCY
    config = demo.get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"chat", "question", "ask", "passages", "articles", "upload", "remove", "timings"} <= ids
    sliders = {c["props"]["label"]: c["props"]["value"] for c in config["components"]
               if c["type"] == "slider"}
    assert sliders["Passages given to the model (k)"] == assistant.settings.passages
    answer_fns = [d for d in demo.fns.values() if d.concurrency_id == "answer"]
    assert answer_fns and all(d.concurrency_limit == ui_page.ANSWER_CONCURRENCY for d in answer_fns)


# ---- asking -------------------------------------------------------------------------------------
def test_answer_streams_then_shows_checked_answer_with_linked_markers(handlers):
    outputs = run(handlers, SEED_QUESTION)
    first = outputs[0]
    assert first[0] == ""  # the question box is cleared at once
    assert first[1][-1]["content"] == f"*{ui_handlers.THINKING}*"
    drafts = [o[1][-1]["content"] for o in outputs[1:-1]]
    assert len(drafts) >= 3 and all(d.endswith("▍") for d in drafts)
    assert len(drafts[-1]) > len(drafts[0])  # grows piece by piece
    _, chat, state, history, passages, timings = final(outputs)
    message = chat[-1]["content"]
    assert '<a class="cite-ref" href="#cite-1"' in message and "650" in message
    assert chat == state and chat[0] == {"role": "user", "content": ui_render.md_text(SEED_QUESTION)}
    assert 'id="cite-1"' in passages and "<mark>650</mark>" in passages
    assert "Supports answer sentence 1" in passages
    assert "000_6ad931cbaa20b811" in passages and "The Algerian government is yet" in passages  # no title
    assert "Show in the article" in passages  # the passage in its article, to read around it
    assert timings.startswith("Last answer: retrieve ") and "first token" in timings and "total" in timings
    assert history == [[SEED_QUESTION, history[0][1]]] and "[1]" in history[0][1]


def test_follow_up_passes_history_and_shows_the_rewritten_question(assistant, handlers, monkeypatch):
    first = final(run(handlers, SEED_QUESTION))
    seen = {}
    real = assistant.ask_stream

    def spy(question, history=None, **kw):
        seen["history"] = history
        for event in real(question, history=history, **kw):
            if isinstance(event, Answer):
                event.standalone_question = "How many of the freed hostages were Algerians?"
            yield event

    monkeypatch.setattr(assistant, "ask_stream", spy)
    second = final(run(handlers, "And how many of them were Algerians?", first[2], first[3]))
    assert seen["history"] == [(SEED_QUESTION, first[3][0][1])]
    assert "Understood as:" in second[1][-1]["content"]
    assert "How many of the freed hostages were Algerians?" in second[1][-1]["content"]
    assert len(second[1]) == 4 and len(second[3]) == 2


def test_abstention_is_plain_and_offers_the_closest_passages(handlers):
    _, chat, _, history, passages, timings = final(run(handlers, "Who won the 2014 World Cup?"))
    message = chat[-1]["content"]
    assert "The articles don" in message and "closest passages" in message
    assert "cite-ref" not in message
    assert "Closest passages" in passages and 'class="cite-card closest"' in passages
    # an abstention still reports its stage times: numbers for retrieve and total, and for the
    # first token a number when the model ran or "–" when the relevance gate refused before it
    assert re.fullmatch(r"Last answer: retrieve \d+\.\d\d s · first token (\d+\.\d\d s|–) · "
                        r"total \d+\.\d\d s", timings), timings
    assert history[-1][0] == "Who won the 2014 World Cup?"


def test_empty_question_is_a_readable_error(handlers):
    with pytest.raises(gr.Error, match="Type a question"):
        run(handlers, "   ")


def test_library_errors_become_gr_error_and_a_chat_note(handlers):
    outputs = []
    with pytest.raises(gr.Error) as caught:
        for out in handlers.respond("x" * 5000, [], [], 4, 96):
            outputs.append(out)
    assert "limit" in caught.value.message and "Traceback" not in caught.value.message
    assert outputs[-1][1][-1]["content"].startswith("⚠️")


def test_missing_index_is_a_readable_error(tmp_path, embedder, generator):
    lonely = Assistant(embedder=embedder, generator=generator,
                       settings=Settings(index_dir=tmp_path / "nothing-here"))
    with pytest.raises(gr.Error) as caught:
        run(ui_handlers.Handlers(lonely), SEED_QUESTION)
    assert caught.value.message and "Traceback" not in caught.value.message
    table, dropdown = ui_handlers.Handlers(lonely).articles_view()  # the panel says so instead of failing
    assert "qa-empty" in table and dropdown["choices"] == []


def test_unexpected_errors_do_not_leak_details(assistant, handlers, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal path /etc/shadow")
        yield  # pragma: no cover

    monkeypatch.setattr(assistant, "ask_stream", boom)
    with pytest.raises(gr.Error) as caught:
        run(handlers, SEED_QUESTION)
    assert "RuntimeError" in caught.value.message and "/etc/shadow" not in caught.value.message


def test_model_errors_are_readable(assistant, handlers, monkeypatch):
    def broken(*args, **kwargs):
        raise ModelLoadError("cannot load language model /models/x: out of memory")
        yield  # pragma: no cover

    monkeypatch.setattr(assistant, "ask_stream", broken)
    with pytest.raises(gr.Error, match="out of memory"):
        run(handlers, SEED_QUESTION)


def test_clear_starts_a_new_conversation(handlers):
    chat, state, history, passages, timings = handlers.clear()
    assert chat == state == history == [] and passages == ui_render.NO_PASSAGES and timings == ""


# ---- untrusted article text ---------------------------------------------------------------------
def test_article_html_and_markdown_are_shown_as_text_never_run(handlers, tmp_path):
    evil = tmp_path / "evil_article.txt"
    evil.write_text(EVIL * 3, encoding="utf-8")
    handlers.upload([str(evil)])
    _, chat, _, _, passages, _ = final(run(handlers, "What profits did Evil Corp announce in the quarter?"))
    message = chat[-1]["content"]
    for rendered in (passages, message):
        assert "<script" not in rendered and "<img" not in rendered and "<b>" not in rendered
        assert "javascript:alert(2)\"" not in rendered and "href=\"javascript" not in rendered
    assert "](javascript:" not in message  # markdown link syntax is backslash-escaped in the chat
    assert "&lt;script&gt;" in passages and "onerror=alert(1)&gt;" in passages
    assert "[click me](javascript:alert(2))" in passages  # shown literally, not as a link
    assert "evil_article" in passages
    assert "Evil Corp" in message and "<mark>" in passages


def test_model_output_with_html_is_escaped_while_streaming_and_after(handlers, generator):
    generator.reply = ('The state media reported 650 hostages freed <script>alert(1)</script> '
                       '[see](javascript:alert(2)) <img src=x onerror=alert(3)> [1].')
    outputs = run(handlers, SEED_QUESTION)
    messages = [o[1][-1]["content"] for o in outputs]
    assert any("&lt;script&gt;" in m for m in messages)
    for m in messages:
        assert "<script" not in m and "<img" not in m and "](javascript" not in m


def test_rendering_escapes_titles_urls_and_dates():
    citation = Citation(n=1, doc_id="d<1>", title='<img src=x onerror="alert(1)">', text="a <b>b</b>",
                        start=0, end=10, score=1.0, url="javascript:alert(1)", published="<i>2013</i>",
                        cited_by=[0])
    answer = Answer(question="q", text="A b c [1].", citations=[citation])
    out = ui_render.passages_html(answer)
    assert "<img" not in out and "<i>" not in out and "<b>" not in out
    assert 'href="javascript' not in out
    good = Citation(n=1, doc_id="d", title="T", text="t", start=0, end=1, score=1.0,
                    url='https://news.example/a?"onmouseover=x', cited_by=[0])
    linked = ui_render.passages_html(Answer(question="q", text="t [1].", citations=[good]))
    assert 'href="https://news.example/a?&quot;onmouseover=x"' in linked and ">news.example</a>" in linked
    assert ui_render.md_text("<script>[x](y)") == "&lt;script&gt;\\[x\\]\\(y\\)"
    assert ui_render.answer_markdown("Hi <b>[2]</b> [1].").count("cite-ref") == 2
    assert "<b>" not in ui_render.answer_markdown("Hi <b>[2]</b> [1].")


def test_articles_panel_escapes_titles(tmp_path):
    table = ui_render.articles_html(
        {"x": {"title": "<script>t</script>", "published": "2013-01-17", "chunks": 2}})
    assert "<script>" not in table and "&lt;script&gt;" in table and "2013-01-17" in table
    assert "1 article indexed" in table


# ---- the collection -----------------------------------------------------------------------------
def test_upload_adds_articles_and_lists_them(assistant, handlers, tmp_path):
    record = {"id": "jan-17-report", "title": "Hostage crisis: day two", "published": "2013-01-17",
              "text": "Negotiators met in Algiers on Friday to discuss the fate of the remaining hostages. "
                      "Officials said talks would continue."}
    jsonl = tmp_path / "batch.jsonl"
    jsonl.write_text(json.dumps(record) + "\n", encoding="utf-8")
    md = tmp_path / "note.md"
    md.write_text("# A markdown note\n\nThe plant reopened weeks later after repairs.\n", encoding="utf-8")
    status, table, dropdown, files = handlers.upload([str(jsonl), str(md)])
    assert "Added 2" in status and files is None
    assert "4 articles indexed" in table and "Hostage crisis: day two" in table and "2013-01-17" in table
    assert ("Hostage crisis: day two (2013-01-17)", "jan-17-report") in dropdown["choices"]
    assert set(assistant.store.manifest.articles) >= {"jan-17-report", "note"}


def test_bad_upload_leaves_the_index_as_it_was(assistant, handlers, tmp_path):
    before = dict(assistant.store.manifest.articles)
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x00\x00")
    binary = tmp_path / "fake.txt"
    binary.write_bytes(b"\x00\x01\x02\xff" * 100)
    for bad in ([str(exe)], [str(binary)]):
        with pytest.raises(gr.Error) as caught:
            handlers.upload(bad)
        assert "Nothing was added" in caught.value.message
    with pytest.raises(gr.Error, match="Choose"):
        handlers.upload(None)
    assert assistant.store.manifest.articles == before


def test_mixed_upload_reports_the_refused_files(assistant, handlers, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("The gas plant at In Amenas was restarted in February after the attack.", "utf-8")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    status, *_ = handlers.upload([str(good), str(exe)])
    assert "Added 1" in status and "Skipped 1" in status and "tool.exe" in status
    assert "good" in assistant.store.manifest.articles and "tool" not in assistant.store.manifest.articles


def test_uploads_are_checked_for_type_and_size(tmp_path):
    small = tmp_path / "a.txt"
    small.write_text("hello world", "utf-8")
    big = tmp_path / "b.md"
    big.write_bytes(b"x" * 2048)
    odd = tmp_path / "c.pdf"
    odd.write_bytes(b"%PDF")
    accepted, rejected = ui_handlers.check_uploads([small, big, odd, tmp_path / "gone.txt"], max_bytes=1024)
    assert accepted == [str(small)]
    reasons = {s.path: s.reason for s in rejected}
    assert "limit" in reasons["b.md"] and "not one of" in reasons["c.pdf"] and "gone.txt" in reasons
    assert ui_handlers.MAX_UPLOAD_BYTES == 20 * 1024 * 1024


def test_remove_deletes_one_article(assistant, handlers):
    status, table, dropdown = handlers.remove("002_8e2be5257cd0af73")
    assert "Removed" in status and "1 article indexed" in table
    assert [doc for _, doc in dropdown["choices"]] == ["000_6ad931cbaa20b811"]
    assert list(assistant.store.manifest.articles) == ["000_6ad931cbaa20b811"]
    status, *_ = handlers.remove("002_8e2be5257cd0af73")
    assert "was not in the index" in status
    with pytest.raises(gr.Error):
        handlers.remove(None)


# ---- highlighting -------------------------------------------------------------------------------
def test_answer_sentences_follow_cited_by_indexes():
    text = "The U.S. said 650 were freed [1]. Thirty died [2][1]."
    assert answer_sentences(text) == ["The U.S. said 650 were freed [1].", "Thirty died [2][1]."]
    assert answer_sentences("Plain. Two sentences.") == ["Plain.", "Two sentences."]
    assert answer_sentences("") == []


def test_highlight_marks_shared_words_only_and_escapes():
    terms = shared_terms(["650 hostages were freed [1]."])
    out = highlight_html("<b>650</b> hostages freed & the rest", terms)
    assert out == ("&lt;b&gt;<mark>650</mark>&lt;/b&gt; <mark>hostages</mark> <mark>freed</mark> "
                   "&amp; the rest")
    assert "1" not in terms  # the marker number is not a supporting word


# ---- serving ------------------------------------------------------------------------------------
def test_address_defaults_to_loopback_and_follows_env(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    assert ui_page.resolve_address() == ("127.0.0.1", 7860)
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert ui_page.resolve_address() == ("0.0.0.0", 8123)
    assert ui_page.resolve_address("127.0.0.1", 9000) == ("127.0.0.1", 9000)


def test_launch_binds_loopback_with_upload_limit(assistant, monkeypatch):
    seen = {}
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    monkeypatch.setattr(ui_page, "_warm_up", lambda assistant: None)
    ui_page.launch(assistant=assistant, port=7999)
    assert seen["server_name"] == "127.0.0.1" and seen["server_port"] == 7999
    assert seen["max_file_size"] == ui_handlers.MAX_UPLOAD_BYTES and seen["ssr_mode"] is False
    assert seen.get("share") in (None, False)


def test_main_parses_flags(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(ui_page, "launch", lambda **kw: seen.update(kw))
    assert ui_page.main(["--port", "8111", "--host", "127.0.0.2", "--index-dir", str(tmp_path),
                     "--llm-model", "tiny"]) == 0
    assert seen["port"] == 8111 and seen["host"] == "127.0.0.2"
    assert seen["settings"].index_dir == tmp_path and seen["settings"].llm_model == "tiny"


def test_app_entry_point_is_thin_and_exposes_the_ui():
    import importlib

    entry = importlib.import_module("app")
    assert entry.build_app is ui_page.build_app and entry.launch is ui_page.launch
    assert len((Path(__file__).resolve().parent.parent / "app.py").read_text().splitlines()) < 30


def test_remove_refused_in_the_dialog_removes_nothing(assistant, handlers):
    status, *_ = handlers.remove("002_8e2be5257cd0af73", "no")
    assert "Nothing was removed" in status
    assert "002_8e2be5257cd0af73" in assistant.store.articles


def test_stop_replaces_the_unfinished_draft(handlers):
    from qa.ui.handlers import STOPPED, THINKING

    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "650 hostages ▍"}]
    shown, state = handlers.stop(chat)
    assert shown == state and shown[-1] == {"role": "assistant", "content": STOPPED}
    thinking = [{"role": "user", "content": "q"}, {"role": "assistant", "content": f"*{THINKING}*"}]
    assert handlers.stop(thinking)[0][-1]["content"] == STOPPED
    done = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "An answer [1]."}]
    assert handlers.stop(done)[0] == done  # a finished answer stays


def test_an_answer_stopped_in_its_session_yields_nothing_more(handlers):
    """Gradio's cancel reaches the server apart from the Stop handler: a token yielded between
    the two must not put the draft back over the note, in that session only."""
    from types import SimpleNamespace

    mine, other = SimpleNamespace(session_hash="mine"), SimpleNamespace(session_hash="other")
    stream = handlers.respond(SEED_QUESTION, [], [], 4, 96, "", mine)
    elsewhere = handlers.respond(SEED_QUESTION, [], [], 4, 96, "", other)
    next(stream), next(elsewhere)  # both show "Searching the articles…"
    handlers.stop([], mine)
    assert list(stream) == []
    rest = list(elsewhere)
    assert "cite-1" in rest[-1][1][-1]["content"]  # the other session's answer still arrives
    again = run(handlers, SEED_QUESTION)  # a new question after Stop is answered
    assert "cite-1" in final(again)[1][-1]["content"]


def test_untitled_articles_are_named_by_their_opening_words():
    from qa.ui.render import article_label

    assert article_label("A Title", "Body text", "d1") == "A Title"
    assert article_label("", "One two three four five six seven eight nine ten", "d1") == \
        "One two three four five six seven eight nine …"
    assert article_label("", "Short one.", "d1") == "Short one."
    assert article_label("", "", "d1") == "d1"
