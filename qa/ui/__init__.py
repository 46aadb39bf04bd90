"""The chat UI: `page` (layout and serving), `handlers` (events), `render` (escaped HTML).

`launch` and `main` start it; `build_app` builds the page without serving it. No other qa
module imports this package except the CLI's `serve`.
"""

from qa.ui.handlers import Handlers, check_uploads
from qa.ui.page import build_app, launch, main, resolve_address

__all__ = ["Handlers", "build_app", "check_uploads", "launch", "main", "resolve_address"]
