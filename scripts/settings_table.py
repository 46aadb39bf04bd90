"""Print README's table of `QA_*` settings from `qa.settings.ENVIRONMENT` (the one list of them).

    .venv/bin/python scripts/settings_table.py   # paste between README's settings markers

tests/test_settings.py checks that README holds exactly this table.
"""

from __future__ import annotations

from qa.settings import ENVIRONMENT


def settings_table() -> str:
    """The markdown table: variable, flag, default, meaning."""
    rows = ["| variable | flag | default | what it sets |", "|---|---|---|---|"]
    for var in ENVIRONMENT:
        flag = f"`{var.flag}`" if var.flag else ""
        default = var.default or "unset"
        rows.append(f"| `{var.name}` | {flag} | {default} | {var.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
