"""The answer panel's parts: the answer span highlighted, and "Other reports" from Answer.accounts."""

from __future__ import annotations

from qa.answer.highlight import answer_highlight_html
from qa.records import Account, Answer, Citation
from qa.ui.render import other_reports_html, passages_html

PASSAGE = ("Rescue teams worked through the night in the valley. Twelve miners were rescued on Monday, "
           "the regional governor said. Miners' families gathered at the gate.")


def test_only_the_answer_span_of_the_supporting_sentence_is_marked():
    marked = answer_highlight_html(PASSAGE, ["Twelve miners were rescued on Monday [1]."],
                                   "How many miners were rescued?")
    assert "<mark>Twelve</mark>" in marked and "<mark>Monday</mark>" in marked
    assert "<mark>miners</mark>" not in marked  # the question's own word is not the answer
    assert "<mark>night</mark>" not in marked and "<mark>families</mark>" not in marked


def test_a_claim_made_only_of_question_words_marks_its_words_in_the_sentence():
    marked = answer_highlight_html(PASSAGE, ["Miners were rescued."], "Were miners rescued?")
    assert "<mark>rescued</mark>" in marked and "<mark>gathered</mark>" not in marked


def test_other_reports_list_the_figures_the_text_does_not_state():
    accounts = [Account(counts="miner rescu", figure="Twelve", citation=1, source="the regional governor",
                        date="2026-03-02", value=12.0, sentence="Twelve miners were rescued.", in_text=True),
                Account(counts="miner rescu", figure="15", citation=0, source="The mining union <b>",
                        date="", value=15.0, sentence="The mining union said 15 miners were rescued.",
                        doc_id="doc2")]
    answer = Answer(question="How many miners were rescued?", text="Twelve miners were rescued [1].",
                    citations=[Citation(1, "doc1", "", PASSAGE, 0, len(PASSAGE), 1.0, cited_by=[0])],
                    accounts=accounts)
    html = other_reports_html(answer)
    assert "Other reports" in html and "<b>15</b>" in html and "undated" in html
    assert "The mining union &lt;b&gt;" in html and "Twelve" not in html
    assert html in passages_html(answer)
    assert other_reports_html(Answer(question="q", text="t", accounts=accounts[:1])) == ""


def test_a_rewritten_question_leaves_the_words_of_both_forms_unmarked():
    answer = Answer(question="How many miners did they rescue?",
                    text="Twelve miners were rescued on Monday [1].",
                    standalone_question="How many people were saved in the valley?",
                    citations=[Citation(1, "doc1", "", PASSAGE, 0, len(PASSAGE), 1.0, cited_by=[0])])
    html = passages_html(answer)
    assert "<mark>Twelve</mark>" in html and "<mark>Monday</mark>" in html
    assert "<mark>miners</mark>" not in html.split("cite-text")[1]  # asked in the original words
