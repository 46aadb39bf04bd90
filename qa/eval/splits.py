"""Fixed dev/test splits of the external evaluation sets.

Rules, prompts, thresholds and fitted judge parameters are tuned on `dev` only;
`test` is run only to report. The split is a pure function of a stable key, so
it never changes with sampling: SQuAD 2.0 by Wikipedia title, RGB by question
id. Keys are ordered by the SHA-256 of "qa-split-v1:<key>" and the first half
of that order is dev, so each side gets half the keys (the odd one goes to
dev). The seed facts are dev. This module only decides membership; it loads
nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SPLITS = ("dev", "test")
SPLIT_SALT = "qa-split-v1:"


def _order(key: str) -> str:
    return hashlib.sha256(f"{SPLIT_SALT}{key}".encode()).hexdigest()


def assign(keys: Iterable[str]) -> dict[str, str]:
    """Each distinct key -> "dev" or "test": the hash-ordered first half is dev."""
    ordered = sorted(dict.fromkeys(keys), key=_order)
    cut = (len(ordered) + 1) // 2
    return {key: ("dev" if i < cut else "test") for i, key in enumerate(ordered)}


def check_split(split: str | None) -> str | None:
    """`split` normalised ("dev", "test" or None for everything); ValueError for another name."""
    if split is None or split == "" or split == "all":
        return None
    name = split.strip().lower()
    if name not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use dev, test or all")
    return name
