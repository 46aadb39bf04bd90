"""`python -m qa …`: the same command as `qa …`."""

from qa.cli import main

raise SystemExit(main())
