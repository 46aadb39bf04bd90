"""Doc ids: their one normal form, which strings can be one, and how to show them on one line.

Doc ids are data, never paths: '../x' is a valid id. Every id is read in its normal form:
Unicode format characters (category Cf: zero-width spaces and joiners, bidirectional
overrides and isolates, byte-order marks) are removed and the rest is NFC-normalised, so
look-alike ids ('zero\\u200bwidth', 'zerowidth', a decomposed 'café') are one id, and no id
can reorder the text printed around it. `shown` escapes what could still mislead a terminal
or a log line in any text qa prints from its input.
"""

from __future__ import annotations

import unicodedata

MAX_DOC_ID_CHARS = 200
# Refused in ids; escaped by `shown`: controls, format characters, surrogates, line/paragraph separators.
_UNSHOWABLE = ("Cc", "Cf", "Cs", "Zl", "Zp")


def normalize_doc_id(doc_id: str) -> str:
    """The id without format characters, NFC-normalised, without surrounding white space."""
    visible = "".join(ch for ch in doc_id if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFC", visible).strip()


def doc_id_problem(doc_id: object) -> str:
    """Why `doc_id` (in its normal form) cannot name an article ('' when it can).

    Rejected are non-strings, empty ids, ids over MAX_DOC_ID_CHARS characters and ids with
    control, separator or surrogate characters (they break one-line output and JSON round trips).
    """
    if not isinstance(doc_id, str) or not doc_id.strip():
        return "must be a non-empty string"
    if len(doc_id) > MAX_DOC_ID_CHARS:
        return f"is {len(doc_id)} characters; the limit is {MAX_DOC_ID_CHARS}"
    bad = next((ch for ch in doc_id if unicodedata.category(ch) in _UNSHOWABLE), None)
    if bad is not None:
        return f"contains the control character U+{ord(bad):04X}"
    return ""


def raw_doc_id_problem(raw: object) -> str:
    """Why an id as given (before normalising) cannot name an article ('' when it can)."""
    if isinstance(raw, str) and raw.strip() and not normalize_doc_id(raw):
        return "is only invisible format characters"
    return doc_id_problem(normalize_doc_id(raw) if isinstance(raw, str) else raw)


def shown(text: str) -> str:
    """`text` for one terminal or log line: control, format, separator and surrogate characters
    written as escapes (\\n, \\u202e), so nothing in it can break the line or reorder it."""
    out = []
    for ch in text:
        if unicodedata.category(ch) not in _UNSHOWABLE:
            out.append(ch)
        elif ch in "\n\t\r":
            out.append(repr(ch)[1:-1])
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "".join(out)


__all__ = ["MAX_DOC_ID_CHARS", "doc_id_problem", "normalize_doc_id", "raw_doc_id_problem", "shown"]
