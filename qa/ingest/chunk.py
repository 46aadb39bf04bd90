"""Split an article's text into sentence-aware, overlapping passages with exact offsets.

Sentences come from pysbd (rule-based, no downloads); consecutive sentences are
packed into passages of at most `max_chars`, overlapping by `overlap` sentences.
A sentence longer than `max_chars` is cut at white space. Every passage satisfies
`text[start:end] == passage`. It does not embed or store anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa.records import Chunk


@dataclass(frozen=True)
class ChunkSettings:
    """How articles are cut into passages; recorded in the index manifest."""

    max_chars: int = 480
    overlap: int = 1


DEFAULT_CHUNKING = ChunkSettings()


@lru_cache(maxsize=1)
def _processor_class():
    """pysbd's English processor with one shortcut: an abbreviation is only looked for in
    a line that holds it followed by a period.

    pysbd tries each of its ~200 English abbreviations present anywhere in a line (as any
    substring: "a", "no", "st" are in nearly every line) with two regex scans each, though
    every replacement it can make is of a period right after the abbreviation. Skipping
    the ones that are never followed by a period changes no result and halves chunking
    time (tests compare the spans with pysbd's own `char_span=True` output).
    """
    from pysbd.lang.english import English
    from pysbd.processor import Processor

    class Replacer(English.AbbreviationReplacer):
        def search_for_abbreviations_in_string(self, text):
            lowered = text.lower()
            for abbr in self.lang.Abbreviation.ABBREVIATIONS:
                stripped = abbr.strip()
                if stripped not in lowered:
                    continue
                # The one change. (pysbd uses the abbreviation as a regex, so one with a "."
                # inside matches other text too: those keep pysbd's test alone.)
                if stripped.isalnum() and stripped.lower() + "." not in lowered:
                    continue
                abbrev_match = re.findall(rf"(?:^|\s|\r|\n){stripped}", text, flags=re.IGNORECASE)
                if not abbrev_match:
                    continue
                char_array = re.findall(r"(?<={" + str(re.escape(stripped)) + "} ).{1}", text)
                for ind, match in enumerate(abbrev_match):
                    text = self.scan_for_replacements(text, match, ind, char_array)
            return text

    class FastProcessor(Processor):
        def abbreviations_replacer(self):
            return Replacer(self.text, self.lang)

    return FastProcessor, English


def _pysbd_spans(block: str) -> list[tuple[int, int]]:
    """(start, end) of pysbd's sentences in `block`, as its `char_span=True` gives them
    (through `_processor_class`, several times faster than pysbd's segmenter).

    pysbd places its sentences with one `re.finditer(re.escape(sentence))` each, which on
    Python 3.11 also flushes the regex cache that its fixed rules live in: a large share of
    all chunking time (benchmarks/bench_ingest.py). Its sentences are unchanged substrings of
    the block (clean=False), so a forward `str.find` places them, with the same spans
    (checked on 2,284 blocks of SQuAD, RGB and the seed articles, and in tests/test_chunk.py).
    """
    processor, language = _processor_class()
    spans: list[tuple[int, int]] = []
    prior_end = 0
    for sentence in processor(block, language, char_span=False).process():
        if not sentence:
            continue
        start = block.find(sentence, max(0, prior_end - len(sentence) + 1))
        if start < 0:  # pysbd drops a sentence it cannot place, too
            continue
        end = start + len(sentence)
        while end < len(block) and block[end].isspace():
            end += 1
        spans.append((start, end))
        prior_end = end
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trailing white space excluded, newlines always breaking."""
    spans: list[tuple[int, int]] = []
    for base, block in _blocks(text):
        pieces = _pysbd_spans(block) if block.strip() else []
        for piece_start, piece_end in pieces:
            start = base + piece_start
            end = base + piece_end
            while end > start and text[end - 1].isspace():
                end -= 1
            while start < end and text[start].isspace():
                start += 1
            if end > start:
                spans.append((start, end))
    return _split_long(text, spans)


_BLOCK_CHARS = 3000
_LIKELY_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘(])")


def _blocks(text: str) -> list[tuple[int, str]]:
    """Lines of text, long ones cut at likely sentence ends into blocks of about 3,000 chars.

    pysbd is quadratic in the length of what it is given; blocks keep it linear.
    """
    blocks: list[tuple[int, str]] = []
    for line in re.finditer(r"[^\n]+", text):
        start, body = line.start(), line.group()
        while len(body) > _BLOCK_CHARS:
            cuts = [m.end() for m in _LIKELY_BOUNDARY.finditer(body, 0, _BLOCK_CHARS)]
            cut = cuts[-1] if cuts and cuts[-1] > _BLOCK_CHARS // 3 else _BLOCK_CHARS
            blocks.append((start, body[:cut]))
            start, body = start + cut, body[cut:]
        blocks.append((start, body))
    return blocks


def _split_long(text: str, spans: list[tuple[int, int]], limit: int = 1000) -> list[tuple[int, int]]:
    """Cut any span longer than `limit` at white space (or hard, if there is none)."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        while end - start > limit:
            cut = text.rfind(" ", start + limit // 2, start + limit)
            cut = cut if cut > start else start + limit
            out.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            out.append((start, end))
    return out


def chunk_text(text: str, settings: ChunkSettings = DEFAULT_CHUNKING) -> list[tuple[int, int]]:
    """Passage (start, end) offsets for one text."""
    sentences = _split_long(text, sentence_spans(text), limit=settings.max_chars)
    passages: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j][1] - sentences[i][0] <= settings.max_chars:
            j += 1
        passages.append((sentences[i][0], sentences[j - 1][1]))
        if j >= len(sentences):
            break
        nxt = max(i + 1, j - settings.overlap)
        # Overlap only when the next passage can still take in a new sentence.
        i = nxt if sentences[j][1] - sentences[nxt][0] <= settings.max_chars else j
    return passages


def chunk_article(doc_id: str, text: str, first_chunk_id: int,
                  settings: ChunkSettings = DEFAULT_CHUNKING) -> list[Chunk]:
    """Chunks of one article, numbered from `first_chunk_id`."""
    return [
        Chunk(chunk_id=first_chunk_id + n, doc_id=doc_id, start=start, end=end, text=text[start:end])
        for n, (start, end) in enumerate(chunk_text(text, settings))
    ]
