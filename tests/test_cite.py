"""The citation check: markers parsed and mapped, unsupported sentences re-cited or removed."""

from __future__ import annotations

import pytest

from qa.answer.cite import draft_sentences, ground, is_abstention, parse_markers
from qa.answer.intent import parse_intent
from qa.answer.judge import answers_kind
from qa.answer.prompt import ABSTAIN_TEXT
from qa.records import Hit
from qa.settings import SEED_DIR

A = (SEED_DIR / "000_6ad931cbaa20b811.txt").read_text(encoding="utf-8").strip()
B = (SEED_DIR / "002_8e2be5257cd0af73.txt").read_text(encoding="utf-8").strip()


def _hit(doc: str, text: str, needle: str, width: int = 300) -> Hit:
    start = text.index(needle)
    end = min(len(text), start + width)
    return Hit(doc_id=doc, chunk_id=start, text=text[start:end], score=1.0, start=start, end=end)


STATE_MEDIA = _hit("a", A, "The state media have reported")
SECURITY = _hit("b", B, "Thirty hostages and at least 11")
CAPTURED = _hit("b", B, "Americans, Norwegians")
HITS = [STATE_MEDIA, SECURITY, CAPTURED]


def test_marker_forms():
    assert parse_markers("Freed [1], killed [2, 3] and [4-5].") == ("Freed, killed and.", [1, 2, 3, 4, 5])
    assert parse_markers("No markers.") == ("No markers.", [])
    assert draft_sentences("650 were freed. [1] Thirty died. [2][3]") == [
        "650 were freed [1].", "Thirty died [2][3]."]


def test_supported_sentence_keeps_its_citation():
    g = ground("State media reported that 650 hostages were freed [1].", HITS)
    assert not g.abstained and g.changes == []
    assert g.text == "State media reported that 650 hostages were freed [1]."
    assert [(c.n, c.doc_id, c.start) for c in g.citations] == [(1, "a", STATE_MEDIA.start)]
    assert g.citations[0].cited_by == [0]


def test_wrong_marker_is_recited_and_renumbered():
    g = ground("Thirty hostages were killed, an Algerian security source said [1].", HITS)
    assert g.text == "Thirty hostages were killed, an Algerian security source said [1]."
    assert [c.doc_id for c in g.citations] == ["b"] and g.citations[0].start == SECURITY.start
    assert any("re-cited [1] -> [2]" in c for c in g.changes)


def test_marker_naming_no_passage_is_dropped_never_shown():
    g = ground("About 60 hostages were still captive, according to AP and Reuters sources [9].", HITS)
    assert "[9]" not in g.text and g.text.endswith("[1].")
    assert "dropped marker [9]: no such passage" in g.changes


@pytest.mark.parametrize("draft", [
    "650 hostages were killed [1].",              # right number, wrong verb
    "Two Americans were killed [3].",             # Americans were captured, not killed
    "Eleven hostages were freed by French troops [2].",
    "The raid was ordered by Barack Obama [1].",  # invented name
])
def test_unsupported_claims_are_removed_and_answer_abstains(draft):
    g = ground(draft, HITS)
    assert g.abstained and g.text == ABSTAIN_TEXT and g.citations == []
    assert any(c.startswith("removed unsupported sentence") for c in g.changes)


def test_only_the_unsupported_sentence_goes():
    g = ground("State media said 650 hostages were freed [1]. Forty Americans died in the raid [1].", HITS)
    assert g.text == "State media said 650 hostages were freed [1]."
    assert any("Forty Americans" in c for c in g.changes)


def test_sentence_joining_two_reports_cites_both():
    draft = ("State media reported 650 hostages freed, while an Algerian security source said "
             "thirty hostages were killed [1].")
    g = ground(draft, HITS)
    assert not g.abstained
    assert [c.doc_id for c in g.citations] == ["a", "b"] and g.text.endswith("[1][2].")


def test_number_words_match_digits():
    g = ground("Six hundred and fifty hostages were freed, state media reported.", HITS)
    assert not g.abstained and g.citations[0].doc_id == "a"


def test_abstention_detected():
    for text in ["The articles don't say.", "The passages do not mention the number of Americans.",
                 "This information is not provided in the passages.", "I don't know."]:
        assert is_abstention(text), text
        assert ground(text, HITS).abstained
    assert not is_abstention("650 hostages were freed [1].")


def test_passage_preamble_is_dropped():
    g = ground("According to the passage, 650 hostages were freed, state media reported [1].", HITS)
    assert g.text == "650 hostages were freed, state media reported [1]."


def test_how_many_answer_must_count_the_thing_asked():
    hits = [SECURITY]
    draft = "Thirty hostages and at least 11 Islamist militants were killed [1]."
    assert not ground(draft, hits, question="How many militants were killed?").abstained
    g = ground(draft, hits, question="How many Algerian soldiers were killed?")
    assert g.abstained and g.abstain_reason == "no supported sentence gives the count asked for"
    assert any("does not answer the count question" in c for c in g.changes)


def test_numbers_the_question_states_are_not_required_of_the_passage():
    draft = "The three sources were state media, AP and Reuters [1]."
    assert ground(draft, HITS).abstained
    assert not ground(draft, HITS, question="Which three sources gave figures?").abstained


@pytest.mark.parametrize("draft", [
    "Based on the information provided in the passages, 650 hostages were freed [1].",
    "According to the articles, 650 hostages were freed [1].",
    "(Algeria crisis) 650 hostages were freed [1].",
])
def test_preambles_and_echoed_headings_are_dropped_before_the_check(draft):
    g = ground(draft, HITS)
    assert not g.abstained and g.text.endswith("650 hostages were freed [1].")
    assert not g.text.startswith(("Based", "According to the articles", "("))


def test_a_date_question_needs_a_time_in_the_answer():
    from qa.answer.support import asks_for_time, states_time

    assert asks_for_time("On what date were the hostages captured?")
    assert asks_for_time("In which year did the war end?") and not asks_for_time("Who led the raid?")
    assert states_time("They were captured on January 16.") and states_time("in the 1990s")
    assert states_time("It ended on Thursday.") and not states_time("650 hostages were freed.")
    g = ground("State media reported that 650 hostages were freed [1].", HITS,
               question="On what date were the hostages freed?")
    assert g.abstained and g.abstain_reason == "no supported sentence gives the time asked for"


# ---- a supported sentence that does not answer is no answer ---------------------------------

PLANT = Hit(doc_id="p", chunk_id=0, score=1.0, start=0, end=0, text=(
    "The Austrian hostage was freed on Friday. A government spokesman said Algiers would not "
    "negotiate with terrorists. The nationalities of the rest, as well as of perhaps dozens more "
    "who escaped, were unclear. Dozens of soldiers guarded the plant."))


@pytest.mark.parametrize("question, draft", [
    ("What is the name of the Austrian hostage?", "The Austrian hostage is mentioned in passage [1]."),
    ("What is the name of the government spokesman who said Algiers would not negotiate with terrorists?",
     "The government spokesman who said Algiers would not negotiate with terrorists is [1]."),
    ("How many Algerian soldiers were killed?",
     "The nationalities of the rest, as well as of perhaps dozens more who escaped, were unclear [1]."),
])
def test_a_sentence_that_only_restates_the_question_is_no_answer(question, draft):
    assert not answers_kind(parse_markers(draft)[0], parse_intent(question))
    g = ground(draft, [PLANT], question=question)
    assert g.abstained and g.text == ABSTAIN_TEXT
    assert any("does not answer" in c or "unsupported" in c for c in g.changes), g.changes


@pytest.mark.parametrize("question, draft", [
    ("How many soldiers guarded the plant?", "Dozens of soldiers guarded the plant [1]."),
    ("Was the hostage freed by soldiers or by the militants?", "The hostage was freed [1]."),
    ("What did the spokesman say?", "The spokesman said Algiers would not negotiate with terrorists [1]."),
])
def test_an_answer_in_new_words_or_to_a_choice_stays(question, draft):
    assert answers_kind(parse_markers(draft)[0], parse_intent(question))
    g = ground(draft, [PLANT], question=question)
    assert not g.abstained and g.text == draft, g.changes
