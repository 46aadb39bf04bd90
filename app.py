"""Start the `qa` chat UI: `python app.py [--host H] [--port N] [--index-dir DIR] [--llm-model M]`.

A thin entry point: the page itself is built in `qa/ui/page.py` (`build_app`, `launch`),
on `qa`'s public API only. `qa serve` starts the same app.
"""

from __future__ import annotations

from qa.settings import apply_process_defaults

apply_process_defaults()  # gradio imports huggingface_hub, which reads the offline switch once

from qa.ui import Handlers, build_app, check_uploads, launch, main, resolve_address  # noqa: E402

__all__ = ["Handlers", "build_app", "check_uploads", "launch", "main", "resolve_address"]

if __name__ == "__main__":
    raise SystemExit(main())
