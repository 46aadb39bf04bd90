"""Reported figures: sources found, counts matched to the question, differing accounts all shown.

The passages here are invented (a mine rescue), so nothing is tuned to the seed articles.
"""

from __future__ import annotations

import pytest

from qa.answer.accounts import CountQuery, count_queries, reported_figures
from qa.answer.cite import ground
from qa.answer.prompt import ABSTAIN_TEXT
from qa.answer.sources import attribute, same_source, source_of
from qa.records import Hit


def _hit(n: int, text: str) -> Hit:
    return Hit(doc_id=f"doc{n}", chunk_id=n, text=text, score=1.0, start=0, end=len(text))


GOVERNOR = _hit(1, "Rescue teams reached the shaft at dawn. Twelve miners were rescued on Monday, "
                   "the regional governor said.")
UNION = _hit(2, "The mining union said 15 miners had been rescued, and it called for an inquiry.")
UNSOURCED = _hit(3, "About 40 miners were underground when the tunnel collapsed.")
HITS = [GOVERNOR, UNION, UNSOURCED]


@pytest.mark.parametrize("sentence, source", [
    ("According to the ministry of health, 40 people were treated.", "the ministry of health"),
    ("Twelve miners were rescued, the regional governor said.", "the regional governor"),
    ("The mining union said 15 miners had been rescued.", "The mining union"),
    ("The state agency has reported that 9 wells were shut.", "The state agency"),
    ("A police spokesman, who confirmed only that an unknown number had died, said more.",
     "A police spokesman"),
    ("Two guards were hurt, a witness told Reuters.", "a witness who spoke to Reuters"),
    ("He said it was over.", ""),
    ("The tunnel collapsed at noon.", ""),
])
def test_source_of(sentence, source):
    assert source_of(sentence) == source


def test_count_queries_split_parts_and_reuse_the_counted_noun():
    assert count_queries("How many miners were rescued, and how many were still held?") == [
        CountQuery(frozenset({"miner"}), frozenset({"free"})),
        CountQuery(frozenset({"miner"}), frozenset({"capture"}))]
    assert count_queries("How many French troops did the president send?") == [
        CountQuery(frozenset({"french", "troop"}), frozenset())]
    assert count_queries("Who led the rescue?") == []


def test_reported_figures_need_a_source_the_counted_noun_and_the_event():
    query = count_queries("How many miners were rescued?")[0]
    figures = reported_figures(query, HITS)
    assert [(f.passage, f.amount, f.value, f.source) for f in figures] == [
        (0, "Twelve", 12.0, "the regional governor"), (1, "15", 15.0, "The mining union")]
    trapped = count_queries("How many miners died?")[0]
    assert reported_figures(trapped, HITS) == []  # no death figure; the unsourced 40 never counts
    assert reported_figures(count_queries("How many engineers were rescued?")[0], HITS) == []


def test_vague_amounts_are_figures():
    hit = _hit(4, "Officials confirmed only that an unspecified number of miners had died, the mayor said.")
    figures = reported_figures(count_queries("How many miners died?")[0], [hit])
    assert [(f.amount, f.value) for f in figures] == [("an unspecified number", None)]


def test_attribute_prefixes_the_source_unless_one_is_named():
    assert attribute("12 miners were rescued", "the regional governor") == \
        "According to the regional governor, 12 miners were rescued"
    assert attribute("The governor said 12 miners were rescued", "the regional governor") == \
        "The governor said 12 miners were rescued"
    assert same_source("France President Francois Hollande", "French President Francois Hollande")
    assert not same_source("an Algerian security source", "the state media")
    assert same_source("officials", "the state media")  # generic: could be anyone


def test_answer_attributes_its_figure_and_adds_the_other_source():
    g = ground("12 miners were rescued [1].", HITS, question="How many miners were rescued?")
    assert not g.abstained
    assert g.text == ("According to the regional governor, 12 miners were rescued [1]. "
                      "The mining union said 15 miners had been rescued, and it called for an inquiry [2].")
    assert [c.doc_id for c in g.citations] == ["doc1", "doc2"]
    assert any("'15' that The mining union gives" in c for c in g.changes)


def test_same_figure_twice_is_not_added():
    hits = [GOVERNOR, _hit(5, "Twelve miners were rescued, the mining union said.")]
    g = ground("12 miners were rescued [1].", hits, question="How many miners were rescued?")
    assert g.text == "According to the regional governor, 12 miners were rescued [1]."


def test_misattributed_figure_is_removed_and_the_sources_quoted():
    g = ground("The mining union said twelve miners were rescued [1].", HITS,
               question="How many miners were rescued?")
    assert any(c.startswith("removed unsupported sentence") and
               c.endswith("'The mining union said twelve miners were rescued.'") for c in g.changes)
    assert g.text.startswith("Twelve miners were rescued on Monday, the regional governor said [1].")
    assert "The mining union said 15 miners" in g.text


def test_refusal_is_kept_when_no_source_gives_the_count():
    g = ground("The articles don't say.", HITS, question="How many miners were injured?")
    assert g.abstained and g.text == ABSTAIN_TEXT
    g = ground("The articles don't say.", HITS, question="Who rescued the miners?")
    assert g.abstained


def test_sourced_figures_answer_when_the_draft_fails():
    g = ground("300 miners were rescued [1].", HITS, question="How many miners were rescued?")
    assert not g.abstained
    assert g.text.startswith("Twelve miners were rescued on Monday, the regional governor said [1].")
    assert any(c.startswith("removed unsupported sentence (no passage states the number(s) 300)")
               and c.endswith("'300 miners were rescued.'") for c in g.changes)


def test_inverted_reporting_verb_and_a_wrong_source_is_unsupported():
    passage = "The chief executive should resign, said Jane Doe, a former employee."
    assert source_of(passage) == "Jane Doe"
    hit = _hit(6, passage)
    assert ground("The company's board said the chief executive should resign [1].", [hit]).abstained
    assert not ground("Jane Doe said the chief executive should resign [1].", [hit]).abstained
