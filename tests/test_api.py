"""The Python QA function with fake models: cited answers, abstentions, bad input, the seed index."""

from __future__ import annotations

import pytest

from qa.answer.prompt import ABSTAIN_TEXT
from qa.api import Assistant
from qa.errors import (
    EmptyCorpusError,
    IndexMismatchError,
    IndexMissingError,
    InvalidQuestionError,
    QuestionTooLongError,
)
from qa.records import Answer
from qa.settings import Settings
from qa.store.index_store import IndexStore
from qa.store.indexer import remove_articles
from qa.testing import ExtractiveGenerator, HashingEmbedder


def test_answer_cites_exact_article_spans(assistant, seed_index):
    answer = assistant.ask("How many hostages did state media say were freed?")
    assert not answer.abstained
    assert "650" in answer.text and answer.text.endswith("[1].")
    store = IndexStore.load(seed_index)
    assert [c.doc_id for c in answer.citations] == ["000_6ad931cbaa20b811"]
    for c in answer.citations:
        assert store.articles[c.doc_id].text[c.start : c.end] == c.text
        assert c.score > 0 and c.cited_by == [0]
    assert set(answer.timings) >= {"retrieve", "first_token", "generate", "total"}


def test_retrieve_ranks_the_passage_with_the_answer_first(assistant):
    hits = assistant.retrieve("Who masterminded the raid?", k=3)
    assert hits[0].doc_id == "000_6ad931cbaa20b811"
    assert "masterminded by Mokhtar Belmokhtar" in hits[0].text or "masterminded" in hits[1].text
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert len({h.chunk_id for h in hits}) == 3


def test_irrelevant_question_abstains_without_calling_the_model(seed_index, embedder):
    generator = ExtractiveGenerator()
    assistant = Assistant(embedder=embedder, generator=generator,
                          settings=Settings(index_dir=seed_index, min_relevance=0.3))
    answer = assistant.ask("What is the capital of Peru?")
    assert answer.abstained and answer.text == ABSTAIN_TEXT and answer.citations == []
    assert "relevant" in answer.abstain_reason and answer.passages
    assert generator.calls == 0


def test_model_saying_it_does_not_know_abstains(seed_index, embedder):
    assistant = Assistant(embedder=embedder, generator=ExtractiveGenerator(reply="I don't know."),
                          settings=Settings(index_dir=seed_index, min_relevance=0.0))
    assert assistant.ask("Which group led the attack on the gas plant?").abstained


def test_attributed_figures_answer_when_the_model_does_not_know(seed_index, embedder):
    assistant = Assistant(embedder=embedder, generator=ExtractiveGenerator(reply="I don't know."),
                          settings=Settings(index_dir=seed_index, min_relevance=0.0))
    answer = assistant.ask("How many hostages were freed?")
    assert not answer.abstained and "650 hostages have been freed" in answer.text
    assert any("that The state media gives" in c for c in answer.changes)


def test_invented_answer_is_removed(seed_index, embedder):
    lie = ExtractiveGenerator(reply="Two hundred Americans were freed by Canadian troops [1].")
    assistant = Assistant(embedder=embedder, generator=lie,
                          settings=Settings(index_dir=seed_index, min_relevance=0.0))
    answer = assistant.ask("How many Americans were freed?")
    assert answer.abstained and answer.citations == []
    assert answer.draft.startswith("Two hundred Americans")
    assert any("removed unsupported sentence" in c for c in answer.changes)


def test_stream_yields_draft_pieces_then_answer(assistant):
    events = list(assistant.ask_stream("Who masterminded the raid?"))
    assert all(isinstance(e, str) for e in events[:-1]) and len(events) > 3
    assert isinstance(events[-1], Answer)
    assert "".join(events[:-1]) == events[-1].draft


def test_follow_up_is_rewritten_with_history(assistant):
    answer = assistant.ask("How many of them were Algerians?",
                           history=[("How many hostages were freed?", "650 hostages were freed [1].")])
    assert answer.standalone_question == (
        "How many of them were Algerians? (How many hostages were freed?)")
    assert "573" in answer.text and not answer.abstained


@pytest.mark.parametrize(("question", "error"), [
    ("", InvalidQuestionError), ("   \n\t", InvalidQuestionError), (None, InvalidQuestionError),
    ("x" * 2001, QuestionTooLongError), ("x" * 100_000, QuestionTooLongError),
])
def test_bad_questions(assistant, question, error):
    with pytest.raises(error):
        assistant.ask(question)


def test_control_characters_are_cleaned(assistant):
    assert not assistant.ask("Who\x00 masterminded\x07 the raid?").abstained


def test_missing_index(tmp_path, embedder, generator):
    assistant = Assistant(embedder=embedder, generator=generator,
                          settings=Settings(index_dir=tmp_path / "nowhere"))
    with pytest.raises(IndexMissingError):
        assistant.ask("Who masterminded the raid?")


def test_empty_index(seed_index, embedder, generator):
    remove_articles(seed_index, ["000_6ad931cbaa20b811", "002_8e2be5257cd0af73"])
    assistant = Assistant(embedder=embedder, generator=generator, settings=Settings(index_dir=seed_index))
    with pytest.raises(EmptyCorpusError):
        assistant.ask("Who masterminded the raid?")


def test_index_built_with_another_embedder(seed_index, generator):
    assistant = Assistant(embedder=HashingEmbedder(name="other"), generator=generator,
                          settings=Settings(index_dir=seed_index))
    with pytest.raises(IndexMismatchError):
        assistant.ask("Who masterminded the raid?")


def test_default_index_is_built_from_the_seeds_on_first_use(embedder, generator):
    settings = Settings.from_env(min_relevance=0.05)
    assert settings.is_default_index()
    assistant = Assistant(embedder=embedder, generator=generator, settings=settings)
    assert not IndexStore.exists(settings.index_dir)
    answer = assistant.ask("Who masterminded the raid?")
    assert not answer.abstained
    assert set(IndexStore.load(settings.index_dir).articles) == {
        "000_6ad931cbaa20b811", "002_8e2be5257cd0af73"}


def test_assistant_sees_articles_added_by_another_writer(assistant, seed_index, tmp_path, embedder):
    assert assistant.ask("What colour are the zebras?").abstained
    doc = tmp_path / "zebra.txt"
    doc.write_text("The zebras in the park are black and white striped animals.", encoding="utf-8")
    Assistant(embedder=embedder, settings=Settings(index_dir=seed_index)).add([doc])
    answer = assistant.ask("What colour are the zebras in the park?")
    assert not answer.abstained and answer.citations[0].doc_id == "zebra"


def test_the_public_names_stay_functions_whatever_modules_are_imported():
    """`qa.retrieve` and `qa.ask` are the QA functions, even after every stage module is imported
    (a module named like a public function must not shadow it)."""
    import importlib
    import pkgutil

    import qa

    for info in pkgutil.walk_packages(qa.__path__, "qa."):
        if info.name != "qa.__main__":
            importlib.import_module(info.name)
    assert callable(qa.retrieve) and qa.retrieve.__module__ == "qa.api"
    assert callable(qa.ask) and qa.ask.__module__ == "qa.api"
    assert {"Answer", "Citation", "Hit", "Assistant", "ask", "retrieve"} <= set(qa.__all__)


class CountingLoad(ExtractiveGenerator):
    """The extractive fake, counting load() calls; `fail` makes every load raise."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.loads = 0
        self.fail = fail

    def load(self):
        self.loads += 1
        if self.fail:
            from qa.errors import ModelLoadError

            raise ModelLoadError("no such model")
        return self


def test_preload_loads_the_model_in_the_background(seed_index, embedder):
    generator = CountingLoad()
    assistant = Assistant(embedder=embedder, generator=generator, settings=Settings(index_dir=seed_index))
    thread = assistant.preload()
    thread.join(timeout=10)
    assert not thread.is_alive() and generator.loads == 1
    assert not assistant.ask("How many hostages did state media say were freed?").abstained


def test_preload_leaves_a_load_error_to_the_answer(seed_index, embedder, monkeypatch):
    import threading

    escaped: list = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    generator = CountingLoad(fail=True)
    assistant = Assistant(embedder=embedder, generator=generator, settings=Settings(index_dir=seed_index))
    thread = assistant.preload()
    thread.join(timeout=10)
    assert generator.loads == 1 and escaped == []
    with pytest.raises(Exception, match="no such model"):
        assistant.generator.load()
