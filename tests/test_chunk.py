"""Chunking: exact offsets, sentence boundaries, size limits (with a property-based test)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qa.ingest.chunk as chunking
from qa.ingest.chunk import ChunkSettings, chunk_article, chunk_text
from qa.ingest.read import read_paths
from qa.settings import SEED_DIR


def test_seed_chunks_are_exact_sentence_aligned_spans():
    for article in read_paths([SEED_DIR]).articles:
        chunks = chunk_article(article.doc_id, article.text, 0)
        assert len(chunks) >= 5
        for chunk in chunks:
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= ChunkSettings().max_chars
            assert chunk.text[-1] in ".”\"d'" or chunk.text.endswith("captured")
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        text_chars = {i for i, ch in enumerate(article.text) if not ch.isspace()}
        assert text_chars <= covered


def test_no_passage_is_inside_another():
    for article in read_paths([SEED_DIR]).articles:
        spans = chunk_text(article.text)
        for i, a in enumerate(spans):
            for j, b in enumerate(spans):
                assert i == j or not (b[0] <= a[0] and a[1] <= b[1])


def test_long_sentence_is_cut_at_whitespace():
    text = ("word " * 400).strip() + "."
    spans = chunk_text(text, ChunkSettings(max_chars=300, overlap=1))
    assert len(spans) >= 6
    assert all(e - s <= 300 for s, e in spans)
    assert all(text[s:e].strip() == text[s:e] for s, e in spans)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc XYZ.?!\n\t,é’\"1")), max_size=1500),
       st.integers(min_value=40, max_value=600), st.integers(min_value=0, max_value=2))
def test_offsets_always_slice_back_to_the_passage(text, max_chars, overlap):
    chunks = chunk_article("d", text, 10, ChunkSettings(max_chars=max_chars, overlap=overlap))
    for n, chunk in enumerate(chunks):
        assert chunk.chunk_id == 10 + n
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip()
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


@pytest.mark.parametrize("block", [
    "Dr. Smith met Mr. Jones at 5 p.m. on Jan. 16. They talked.  Then they left!",
    "Yes. Yes. Yes. No.",
    'He said "stop." She did not. U.S. troops were 1,000 strong... Or more?',
    "  Leading space. Trailing space.   ",
    "One sentence without an end",
    "The 2013 raid (see p. 4) ended. e.g. this one. i.e. that one.",
])
def test_sentence_places_match_pysbd_char_spans(block: str) -> None:
    """Our processor (abbreviation shortcut, str.find placement) gives exactly the spans of
    pysbd's own char_span=True segmenter."""
    import pysbd

    reference = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(block)
    assert chunking._pysbd_spans(block) == [(s.start, s.end) for s in reference]


def test_sentence_places_match_pysbd_on_the_seed_articles() -> None:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    for path in sorted(SEED_DIR.glob("*.txt")):
        for _, block in chunking._blocks(path.read_text(encoding="utf-8")):
            assert chunking._pysbd_spans(block) == [(s.start, s.end) for s in segmenter.segment(block)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Dr.", "Mr.", "U.S.", "He", "said", "yes.", "Yes.", "no!", "why?",
                                 "5", "p.m.", "1,000", "(see", "p. 4)", '"stop."', "...", "e.g.",
                                 "\u201cQuote.\u201d", " ", "  ", "\t", "Jan.", "16.", "St.", "st",
                                 "No.", "no", "a", "a.m.", "axm.", "Eng.", "eng", "i.e.", "Gen.", "al.",
                                 "approx.", "Inc.", "vs.", "Mt.", "ft.", "I", "The"]),
                min_size=1, max_size=40).map(" ".join))
def test_sentence_places_match_pysbd_on_any_text(block: str) -> None:
    import pysbd

    reference = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(block)
    assert chunking._pysbd_spans(block) == [(s.start, s.end) for s in reference]
