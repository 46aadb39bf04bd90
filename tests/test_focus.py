"""Shorter prompts: passages cut to the sentences around the one most like the question."""

from __future__ import annotations

from qa.answer.focus import _window, focus_hits
from qa.records import Hit
from qa.testing import HashingEmbedder

PASSAGE = ("The convoy left the border town at dawn. Heavy rain slowed the trucks on the mountain road. "
           "Officials said 37 hostages were killed during the siege of the gas plant. "
           "The minister thanked the army. A festival of harvest music opened in the capital.")


def _hit(text: str, start: int = 100) -> Hit:
    return Hit(doc_id="d", chunk_id=1, text=text, score=1.0, start=start, end=start + len(text))


def test_the_window_holds_the_best_sentence_and_its_nearest_neighbours():
    embed = HashingEmbedder().embed
    (focused,) = focus_hits("How many hostages were killed in the siege?", [_hit(PASSAGE)], embed, 200)
    assert "37 hostages were killed" in focused.text
    assert len(focused.text) <= 200 and focused.text in PASSAGE
    assert "festival" not in focused.text  # far from the best sentence, over the budget
    offset = PASSAGE.index(focused.text)
    assert (focused.start, focused.end) == (100 + offset, 100 + offset + len(focused.text))


def test_short_passages_and_a_zero_budget_are_left_whole():
    embed = HashingEmbedder().embed
    hits = [_hit(PASSAGE), _hit("Only one sentence here about the siege.")]
    assert focus_hits("siege", hits, embed, 0) == hits
    focused = focus_hits("siege", hits, embed, 1000)
    assert [h.text for h in focused] == [h.text for h in hits]
    assert focus_hits("siege", hits, embed, 60)[1] == hits[1]  # a single sentence is never cut


def test_window_growth_is_contiguous_and_within_the_budget():
    spans = [(0, 50), (51, 100), (101, 300), (301, 350), (351, 400)]
    assert _window(spans, 2, 199) == (2, 2)  # the best sentence alone, even over the budget
    assert _window(spans, 1, 100) == (0, 1)
    assert _window(spans, 3, 100) == (3, 4)
    assert _window(spans, 0, 400) == (0, 4)


def test_the_assistant_gives_the_model_focused_passages_but_cites_whole_ones(tmp_path):
    from qa.api import Assistant
    from qa.settings import SEED_DIR, Settings
    from qa.store.indexer import index_paths
    from qa.testing import ExtractiveGenerator

    embedder = HashingEmbedder()
    index_paths(tmp_path / "idx", [SEED_DIR], embedder)
    seen: list[str] = []

    class Recording(ExtractiveGenerator):
        def stream(self, messages, max_new_tokens=160):
            seen.append(messages[-1]["content"])
            yield from super().stream(messages, max_new_tokens)

    whole = Assistant(embedder=embedder, generator=Recording(),
                      settings=Settings(index_dir=tmp_path / "idx", min_relevance=0.0))
    focused = Assistant(embedder=embedder, generator=Recording(),
                        settings=Settings(index_dir=tmp_path / "idx", min_relevance=0.0, focus_chars=160))
    question = "How many hostages were freed?"
    first, second = whole.ask(question), focused.ask(question)
    assert len(seen[1]) < len(seen[0])
    assert [h.text for h in first.passages] == [h.text for h in second.passages]
    for citation in second.citations:
        assert citation.text in {h.text for h in second.passages}
