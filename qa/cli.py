"""The `qa` command: index, ask, remove, status, eval, serve.

Parses flags, calls `qa.api` (and `qa.eval`), prints results. A `QAError`
becomes one line on stderr and exit status 1 (130 for Ctrl-C). When the reader of
stdout goes away (`qa status | head -1`), the command stops quietly with status 141,
as a tool killed by SIGPIPE reports in the shell. Nothing else is caught here. Text
from the input (ids, file names, reasons) is printed through `qa.ingest.doc_ids.shown`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from qa.errors import LockWaitInterruptedError, QAError
from qa.ingest.doc_ids import normalize_doc_id, shown
from qa.settings import apply_process_defaults

STDOUT_CLOSED_STATUS = 141  # 128 + SIGPIPE


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or ./index)")
    parser.add_argument("--embed-model", help="embedding model: name, folder or hub id "
                        "($QA_EMBED_MODEL; default all-minilm-l6-v2)")
    parser.add_argument("--embed-url", help="served embeddings: base URL ending in /v1 ($QA_EMBED_URL)")
    from qa.settings import VECTOR_STORES

    parser.add_argument("--vector-store", choices=VECTOR_STORES,
                        help="where the dense vectors live ($QA_VECTOR_STORE; default: the index's "
                        "own, faiss for a new index); milvus connects to $QA_MILVUS_URI")


def _add_llm(parser: argparse.ArgumentParser) -> None:
    from qa.models.generate import DEFAULT_LLM_BACKEND, LLM_BACKENDS
    from qa.models.model_files import DEFAULT_LLM

    parser.add_argument("--llm-model", help="answering model: name, .gguf file, folder or hub id "
                        f"($QA_LLM_MODEL; default {DEFAULT_LLM})")

    parser.add_argument("--llm-backend", choices=LLM_BACKENDS,
                        help="runtime for the answering model ($QA_LLM_BACKEND; default "
                        f"{DEFAULT_LLM_BACKEND})")
    parser.add_argument("--llm-url", help="with --llm-backend openai: the server's base URL ending "
                        "in /v1 ($QA_LLM_URL; key in $QA_LLM_API_KEY)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb."""
    parser = argparse.ArgumentParser(prog="qa", description="Ask questions about news articles, "
                                     "with cited passages, on this machine only.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    index = verbs.add_parser("index", help="add or update articles (.txt .md .html .jsonl, folders)")
    index.add_argument("paths", nargs="+", help="files or folders")
    index.add_argument("--rebuild", action="store_true",
                       help="re-embed the whole index (after changing the embedding model)")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.add_argument("--follow-links", action="store_true",
                       help="in folders, also follow symbolic links that lead out of the folder")
    _add_common(index)

    ask = verbs.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument("-k", "--passages", type=int, help="passages given to the model (default 4)")
    ask.add_argument("--max-new-tokens", type=int, help="answer length limit in tokens")
    ask.add_argument("--focus-chars", type=int, help="cut each passage the model reads to about this "
                     "many characters around its best-matching sentence (default 0: whole passages)")
    ask.add_argument("--as-of", metavar="DATE", help="answer as of DATE (YYYY-MM-DD): no article "
                     "published after it; 'this week' and 'yesterday' count from it")
    _add_common(ask)
    _add_llm(ask)

    remove = verbs.add_parser("remove", help="delete articles by doc id")
    remove.add_argument("doc_ids", nargs="+")
    _add_common(remove)

    status = verbs.add_parser("status", help="what the index holds and whether it is intact")
    _add_common(status)

    prepare = verbs.add_parser("prepare", help="build the seed index if missing or stale and "
                               "convert the answering model once (cached)")
    _add_common(prepare)
    _add_llm(prepare)

    serve = verbs.add_parser("serve", help="start the chat UI")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port ($GRADIO_SERVER_PORT)")
    _add_common(serve)
    _add_llm(serve)

    from qa.eval.cli import add_eval_parser

    add_eval_parser(verbs, _add_common, _add_llm)
    return parser


def _settings(args: argparse.Namespace):
    from qa.settings import Settings

    return Settings.from_env(index_dir=getattr(args, "index_dir", None),
                             embed_model=getattr(args, "embed_model", None),
                             llm_model=getattr(args, "llm_model", None),
                             llm_backend=getattr(args, "llm_backend", None),
                             llm_url=getattr(args, "llm_url", None),
                             embed_url=getattr(args, "embed_url", None),
                             passages=getattr(args, "passages", None),
                             max_new_tokens=getattr(args, "max_new_tokens", None),
                             focus_chars=getattr(args, "focus_chars", None),
                             vector_store=getattr(args, "vector_store", None))


def _say(line: str) -> None:
    """One line on stderr while a command runs (waiting for a lock, a huge article)."""
    print(f"qa: {shown(line)}", file=sys.stderr, flush=True)


def _cmd_index(args: argparse.Namespace) -> int:
    from qa.api import Assistant
    from qa.ingest.read import skip_summary

    assistant = Assistant(settings=_settings(args))
    report = assistant.add(args.paths, progress=not args.no_progress, rebuild=args.rebuild,
                           follow_links=args.follow_links, notify=_say)
    for skip in report.skipped:
        print(f"skipped: {shown(skip.reason)}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {shown(note)}", file=sys.stderr)
    skipped = f"; skipped {skip_summary(report.skipped)}" if report.skipped else ""
    print(f"{report.index_dir}: {len(report.added)} added, {len(report.updated)} updated, "
          f"{len(report.unchanged)} unchanged; {report.chunks_embedded} passages embedded "
          f"in {report.seconds:.1f}s; now {report.articles_total} articles, "
          f"{report.passages_total} passages{skipped}")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from qa.api import Assistant
    from qa.ingest.dates import as_of_date

    as_of = as_of_date(args.as_of, "--as-of")
    assistant = Assistant(settings=_settings(args))
    assistant.preload()  # the model loads while the index and the embedder open
    answer = assistant.ask(args.question, as_of=as_of)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    if answer.abstained:
        if answer.passages:
            print("\nClosest passages:")
            for hit in answer.passages[:3]:
                print(f"  - {hit.doc_id} ({hit.published or 'undated'}): {hit.text[:160]}…")
        return 0
    print()
    for c in answer.citations:
        title = c.title or c.doc_id
        print(f"[{c.n}] {title} ({c.doc_id}, {c.published or 'undated'}, chars {c.start}-{c.end})")
        print(f"    {c.text}")
        for copy in c.copies:
            print(f"    also: {copy['title'] or copy['doc_id']} ({copy['published'] or 'undated'})"
                  + (f" {copy['url']}" if copy["url"] else ""))
    if len({a.date for a in answer.accounts if a.date}) > 1:
        print("\nReported figures:")
        for a in sorted(answer.accounts, key=lambda a: a.date or "9999"):
            print(f"  {a.date or 'undated'}  {a.figure}" + (f" ({a.source})" if a.source else "")
                  + f"  [{a.citation}]")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    from qa.api import Assistant

    assistant = Assistant(settings=_settings(args))
    removed = assistant.remove(args.doc_ids, notify=_say)
    missing = sorted(d for d in args.doc_ids if d not in removed and normalize_doc_id(d) not in removed)
    print(f"removed {len(removed)}: {', '.join(shown(d) for d in removed) or '-'}")
    if missing:
        print(f"not in the index: {', '.join(shown(d) for d in missing)}", file=sys.stderr)
        return 1
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from qa.store.status import index_status

    settings = _settings(args)
    status = index_status(settings.index_dir, settings.store())
    print(status.render())
    return 0 if status.ok else 1


def _cmd_prepare(args: argparse.Namespace) -> int:
    import time

    from qa.api import Assistant
    from qa.store.indexer import ensure_seed_index

    started = time.perf_counter()
    settings = _settings(args)
    assistant = Assistant(settings=settings)
    if settings.is_default_index():
        report = ensure_seed_index(settings.index_dir, assistant.embedder, progress=True)
        print(f"seed index at {settings.index_dir}: "
              + ("up to date" if report is None else f"built ({report.passages_total} passages)"))
    store = assistant.store
    print(f"index: {len(store.articles)} articles, {len(store.chunks)} passages")
    assistant.embedder.load()
    assistant.generator.load()
    print(f"answering model ready: {assistant.generator.name} ({time.perf_counter() - started:.1f}s)")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from qa.ui import launch

    settings = _settings(args)
    launch(settings=settings, host=args.host, port=args.port)
    return 0


COMMANDS = {"index": _cmd_index, "ask": _cmd_ask, "remove": _cmd_remove, "status": _cmd_status,
            "prepare": _cmd_prepare, "serve": _cmd_serve}


def _run(args: argparse.Namespace) -> int:
    if args.verb == "eval":
        from qa.eval.cli import run_eval_command

        return run_eval_command(args, _settings(args))
    return COMMANDS[args.verb](args)


def _stdout_closed() -> int:
    """The reader of stdout went away: send what is still buffered to /dev/null (so the exit
    does not fail on it) and stop quietly, as `head`'s writers do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is no file (captured in tests)
        pass
    return STDOUT_CLOSED_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    apply_process_defaults()
    args = build_parser().parse_args(argv)
    status = _run_reporting_errors(args)
    try:
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        return _stdout_closed()
    return status


def _run_reporting_errors(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:
        return _stdout_closed()
    except LockWaitInterruptedError as exc:
        print(f"qa: {shown(str(exc))}", file=sys.stderr)
        return 130
    except QAError as exc:
        print(f"qa: error: {shown(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qa: interrupted; the index holds what was saved before the interruption "
              "(run the command again to finish)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["build_parser", "main"]
