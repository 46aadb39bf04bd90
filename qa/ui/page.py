"""The chat page of `qa`: the Gradio layout over `qa.api.Assistant`, and serving it.

Thin by design: the layout wires components to `qa.ui.handlers` and shows what `qa.ui.render`
builds; its CSS and JavaScript are the files `style.css` and `page.js` beside this module.
Started by `app.py` (`python app.py [--host H] [--port N] [--index-dir DIR]`) and `qa serve`.
It binds 127.0.0.1 unless told otherwise (flag or QA_HOST).
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from qa.api import Assistant
from qa.errors import QAError
from qa.settings import Settings, apply_process_defaults, env, gradio_port
from qa.ui.handlers import MAX_UPLOAD_BYTES, Handlers, mebibytes
from qa.ui.render import NO_PASSAGES

log = logging.getLogger("qa.app")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
ANSWER_CONCURRENCY = 2  # answers at once (the model itself runs one generation at a time)
QUEUE_CONCURRENCY = 4  # default for the other events
HERE = Path(__file__).resolve().parent
CSS = (HERE / "style.css").read_text(encoding="utf-8")
# Markers in the chat are links to #cite-n; page.js makes them scroll the passage panel (and flash
# the card) instead of navigating, whatever the chat's own link handling does.
JS = (HERE / "page.js").read_text(encoding="utf-8")

EXAMPLES = [
    "How many hostages were freed according to state media?",
    "How many hostages were killed when Algerian forces stormed the gas plant?",
    "Which foreigners were among those killed?",
    "Who captured the hostages at the gas plant?",
    "Who won the 2014 World Cup?",
]
# Runs in the browser before `remove`: a native confirmation dialog; its answer is the second input.
CONFIRM_REMOVE_JS = ("(choice, _) => [choice, !choice || window.confirm('Remove this article and its "
                     "passages from the index? This cannot be undone.') ? 'yes' : 'no']")


def _theme() -> gr.themes.Base:
    """A theme with system fonts only (the default one fetches web fonts)."""
    return gr.themes.Soft(primary_hue="amber", font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])



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
        # The cancel is registered first: Gradio's page runs a click's listeners in order and waits
        # for each, so the stream is cut before the note replaces the draft, not after.
        stop.click(None, None, None, cancels=asked, queue=False)
        stop.click(h.stop, [chat_state], [chatbot, chat_state], queue=False)
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
        assistant.generator.load()
        assistant.generator.generate([{"role": "user", "content": "Say OK."}], 2)  # first-call costs
        log.info("models and index ready")
    except QAError as exc:
        log.warning("warm-up: %s", exc)


def resolve_address(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """(host, port): the arguments, else QA_HOST / GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host = host or env("QA_HOST") or DEFAULT_HOST
    if port is None:
        port = gradio_port() or DEFAULT_PORT
    return host, port


def launch(settings: Settings | None = None, host: str | None = None, port: int | None = None,
           assistant: Assistant | None = None) -> None:
    """Serve the chat UI (blocks until stopped). Binds 127.0.0.1 unless told otherwise."""
    apply_process_defaults()
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
