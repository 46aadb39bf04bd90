"""Dated news: parsing dates, as_of filtering, relative time, the latest report, copies, diversity."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.answer.prompt import build_messages
from qa.api import Assistant
from qa.cli import main as cli_main
from qa.errors import InvalidDateError, RecordDateError
from qa.eval.facts import FactsFormatError, fact_from_record
from qa.ingest.dates import allows, date_from_text, parse_date, resolve_window
from qa.ingest.read import parse_jsonl, read_paths
from qa.search.retrieve import retrieve
from qa.settings import Settings
from qa.store.index_store import IndexStore
from qa.store.indexer import index_paths
from qa.testing import ExtractiveGenerator, HashingEmbedder


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _assistant(tmp_path: Path, records: list[dict], generator=None) -> Assistant:
    embedder = HashingEmbedder()
    index_dir = tmp_path / "index"
    index_paths(index_dir, [_write_jsonl(tmp_path / "articles.jsonl", records)], embedder)
    return Assistant(embedder=embedder, generator=generator or ExtractiveGenerator(),
                     settings=Settings(index_dir=index_dir, min_relevance=0.05))


# ---- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, iso", [("2013-01-17", "2013-01-17"), ("2013-01-17T09:30:00Z", "2013-01-17"),
                                        ("January 17, 2013", "2013-01-17"), ("17 Jan 2013", "2013-01-17"),
                                        ("", "")])
def test_parse_date_reads_common_forms(value, iso):
    assert parse_date(value) == iso


@pytest.mark.parametrize("value", ["2013-02-30", "17/01/2013", "yesterday", "2013-13-01"])
def test_parse_date_names_what_is_wrong(value):
    with pytest.raises(InvalidDateError, match="--as-of"):
        parse_date(value, "--as-of")


def test_dateline_is_read_only_where_a_dateline_stands():
    assert date_from_text("Feb 7, 2021 ... Super Bowl LV was played") == "2021-02-07"
    assert date_from_text("ALGIERS, Jan. 17, 2013 - Forces stormed the plant.") == "2013-01-17"
    assert date_from_text("Published: 2024-03-09\nThe council met.") == "2024-03-09"
    assert date_from_text("Militants captured the plant on January 16, 2013.") == ""
    assert date_from_text("February 30, 2013 - impossible") == ""


def test_relative_time_resolves_against_as_of():
    saturday = "2031-03-08"
    assert resolve_window("How many died this week?", saturday).start == "2031-03-03"
    assert resolve_window("What happened yesterday?", saturday).start == "2031-03-07"
    on_thursday = resolve_window("How many died on Thursday?", saturday)
    assert (on_thursday.start, on_thursday.end) == ("2031-03-06", "2031-03-06")
    last_month = resolve_window("last month", saturday)
    assert (last_month.start, last_month.end) == ("2031-02-01", "2031-02-28")
    assert resolve_window("How many died?", saturday) is None
    assert resolve_window("today", today=dt.date(2030, 5, 1)).start == "2030-05-01"


def test_filter_is_published_on_or_before_as_of_or_undated():
    assert allows("2031-03-08", "2031-03-08") and allows("", "2031-03-08") and allows("2031-03-09", "")
    assert not allows("2031-03-09", "2031-03-08")


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_published_date_is_a_named_error_naming_the_record(tmp_path):
    text = '{"id": "a", "text": "One.", "published": "2013-02-30"}\n'
    with pytest.raises(RecordDateError, match=r"news.jsonl:1.*'published'"):
        list(parse_jsonl(text, "news.jsonl"))


def test_bad_date_record_is_skipped_whole_and_the_rest_indexed(tmp_path, embedder):
    path = _write_jsonl(tmp_path / "news.jsonl", [
        {"id": "good", "text": "The council met on the budget.", "published": "2031-03-01"},
        {"id": "bad", "text": "The mayor resigned.", "published": "not a date"},
    ])
    report = read_paths([path])
    assert [a.doc_id for a in report.articles] == ["good"]
    assert any("news.jsonl:2" in s.reason and "'published'" in s.reason for s in report.skipped)
    index_paths(tmp_path / "index", [path], embedder)
    assert set(IndexStore.load(tmp_path / "index").articles) == {"good"}


def test_bad_as_of_flag_is_one_line_naming_the_flag(tmp_path, capsys):
    status = cli_main(["ask", "How many?", "--as-of", "2031-02-30", "--index-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("qa: error: --as-of") and err.count("\n") == 1


def test_bad_as_of_in_the_api_and_in_facts(tmp_path):
    assistant = _assistant(tmp_path, [{"id": "a", "text": "The council met.", "published": "2031-03-01"}])
    with pytest.raises(InvalidDateError, match="as_of"):
        assistant.retrieve("council", as_of="March")
    with pytest.raises(FactsFormatError, match="'as_of'"):
        fact_from_record({"id": "x", "question": "q?", "kind": "latest", "answers": ["1"],
                          "as_of": "2031-13-01"})


# ---- as_of -------------------------------------------------------------------------------------

REPORTS = [
    {"id": "flood-1", "published": "2031-03-11", "title": "River bursts its banks", "url": "https://a.example/1",
     "text": "The Kessling river burst its banks on Tuesday, and the council said 2,000 people had "
             "been evacuated from the old town. Schools were closed."},
    {"id": "flood-2", "published": "2031-03-13", "title": "Flood peaks", "url": "https://a.example/2",
     "text": "The Kessling river peaked on Thursday, and the council said 8,500 people had been "
             "evacuated as water spread into the new districts."},
    {"id": "flood-history", "title": "River history",
     "text": "The Kessling river flooded the old town in 1953, and people were evacuated by boat."},
    {"id": "festival", "published": "2031-03-02", "title": "Festival",
     "text": "The Kessling harbour festival drew 40,000 visitors over the weekend."},
]


@pytest.fixture(scope="module")
def dated_assistant(tmp_path_factory) -> Assistant:
    return _assistant(tmp_path_factory.mktemp("dated"), REPORTS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.dates(min_value=dt.date(2031, 2, 25), max_value=dt.date(2031, 3, 20)),
       question=st.sampled_from(["How many people have been evacuated in Kessling?",
                                 "What happened to the Kessling river this week?",
                                 "How many visitors came to the festival?"]))
def test_no_answer_cites_an_article_published_after_as_of(dated_assistant, day, question):
    as_of = day.isoformat()
    answer = dated_assistant.ask(question, as_of=as_of)
    for item in [*answer.citations, *answer.passages]:
        assert not item.published or item.published <= as_of, (as_of, item.doc_id, item.published)
    for account in answer.accounts:
        assert not account.date or account.date <= as_of
    for hit in dated_assistant.retrieve(question, k=10, as_of=as_of):
        assert not hit.published or hit.published <= as_of


def test_undated_articles_are_kept_under_as_of_and_marked(dated_assistant):
    hits = dated_assistant.retrieve("Kessling river flooded the old town in 1953", k=5, as_of="2031-01-01")
    assert [h.doc_id for h in hits] == ["flood-history"]
    dated = dated_assistant.retrieve("Kessling river people evacuated", k=5, as_of="2031-03-13")
    prompt = build_messages("q?", dated)[1]["content"]
    assert "River history, undated" in prompt and "Flood peaks, 2031-03-13" in prompt


# ---- the latest report -------------------------------------------------------------------------

def test_two_reports_on_different_days_answer_the_latest_and_state_the_change(dated_assistant):
    answer = dated_assistant.ask("How many people have been evacuated in Kessling?", as_of="2031-03-14")
    assert answer.text.startswith("The number of people evacuated rose to 8,500 on Thursday 13 March [1], "
                                  "from 2,000 on Tuesday 11 March [2]")
    assert [(c.n, c.doc_id) for c in answer.citations] == [(1, "flood-2"), (2, "flood-1")]
    timeline = sorted((a.date, a.figure, a.citation) for a in answer.accounts)
    assert timeline == [("2031-03-11", "2,000", 2), ("2031-03-13", "8,500", 1)]


def test_figures_of_another_event_make_no_timeline(dated_assistant):
    answer = dated_assistant.ask("How many people died in the Kessling flood?", as_of="2031-03-14")
    assert not any("latest figure" in change for change in answer.changes)
    assert "rose to" not in answer.text


def test_as_of_before_the_update_answers_the_figure_known_then(dated_assistant):
    answer = dated_assistant.ask("How many people have been evacuated in Kessling?", as_of="2031-03-12")
    assert "2,000" in answer.text and "8,500" not in answer.text
    assert "flood-1" in {c.doc_id for c in answer.citations}
    assert "flood-2" not in {c.doc_id for c in answer.citations}


def test_relative_time_picks_the_report_of_that_day(dated_assistant):
    hits = dated_assistant.retrieve("How many people were evacuated in Kessling on Tuesday?", k=3,
                                    as_of="2031-03-14")
    assert hits[0].doc_id == "flood-1"


def test_recency_prior_ranks_the_newer_report_first_without_a_date_in_the_question(dated_assistant):
    store = dated_assistant.store
    question = "How many people have been evacuated as the Kessling river rose?"
    newer_first = retrieve(store, dated_assistant.embedder, question, k=2)
    no_prior = retrieve(store, dated_assistant.embedder, question, k=2, recency_weight=0.0)
    assert newer_first[0].doc_id == "flood-2"
    assert newer_first[0].score - newer_first[1].score != pytest.approx(no_prior[0].score - no_prior[1].score)


# ---- without dates -----------------------------------------------------------------------------

def test_without_dates_dating_changes_nothing(tmp_path):
    undated = [{k: v for k, v in r.items() if k != "published"} for r in REPORTS]
    assistant = _assistant(tmp_path, undated)
    question = "How many people have been evacuated in Kessling?"
    plain = assistant.retrieve(question, k=4)
    assert [(h.doc_id, h.chunk_id, h.score) for h in plain] == \
        [(h.doc_id, h.chunk_id, h.score) for h in assistant.retrieve(question, k=4, as_of="2000-01-01")]
    no_prior = retrieve(assistant.store, assistant.embedder, question, k=4, recency_weight=0.0)
    assert [h.score for h in plain] == [h.score for h in no_prior]
    prompt = build_messages(question, plain)[1]["content"]
    assert "undated" not in prompt and "Today is" not in prompt
    answer = assistant.ask(question)
    assert not any("latest figure" in change for change in answer.changes)
    assert all(not a.date for a in answer.accounts)


# ---- syndicated copies and diversity ------------------------------------------------------------

WIRE = ("Rescuers at the Marrowby colliery brought five men to the surface alive on Wednesday after reaching "
        "a pocket of air behind the collapsed section. Mine officials said seven miners were still trapped "
        "in a deeper gallery. The rescued men were taken to the hospital in Kessel with broken bones.")


def test_syndicated_copies_collapse_to_one_article_listing_every_copy(tmp_path):
    records = [
        {"id": "courier", "published": "2031-03-05", "url": "https://courier.example/m", "text": WIRE},
        {"id": "wire", "published": "2031-03-05", "url": "https://wire.example/m",
         "text": WIRE.replace("Rescuers at", "Rescue teams at").replace("broken bones", "fractures")},
        {"id": "update", "published": "2031-03-07", "url": "https://courier.example/m2",
         "text": "The rescue at the Marrowby colliery ended on Friday when the last trapped men were "
                 "reached. An inquiry into safety checks was announced by the governor."},
    ]
    assistant = _assistant(tmp_path, records)
    hits = assistant.retrieve("Marrowby colliery rescued men trapped", k=5)
    shown = [h.doc_id for h in hits]
    assert len({"courier", "wire"} & set(shown)) == 1 and "update" in shown
    copy_hit = next(h for h in hits if h.doc_id in ("courier", "wire"))
    assert [c["url"] for c in copy_hit.copies] == [
        "https://wire.example/m" if copy_hit.doc_id == "courier" else "https://courier.example/m"]
    separate = retrieve(assistant.store, assistant.embedder, "Marrowby colliery rescued men trapped", k=5,
                        collapse_copies=False)
    assert not any(h.copies for h in separate)


def test_top_passages_come_from_at_least_three_articles(tmp_path):
    long_one = " ".join(f"The Corvane hills fire burned {n} hectares of forest near Lusk on day {n}." for n in
                        range(1, 30))
    records = [{"id": "long", "text": long_one},
               {"id": "second", "text": "The Corvane hills fire forced residents of Lusk to leave."},
               {"id": "third", "text": "Aircraft dropped water on the Corvane hills fire near Lusk."},
               {"id": "other", "text": "The Lessa derby ended level before 31,000 fans."}]
    assistant = _assistant(tmp_path, records)
    hits = assistant.retrieve("Corvane hills fire near Lusk", k=5)
    assert {"long", "second", "third"} <= {h.doc_id for h in hits}
    plain = retrieve(assistant.store, assistant.embedder, "Corvane hills fire near Lusk", k=5,
                     diversity=False)
    assert len({h.doc_id for h in plain}) < len({h.doc_id for h in hits})
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
