"""Loading and checking facts, and the SQuAD and RGB loaders on tiny files in tmp_path."""

from __future__ import annotations

import json

import pytest

from qa.eval.datasets import guess_kind, load_rgb, load_squad, squad_titles
from qa.eval.facts import KINDS, SEED_FACTS, FactsFormatError, check_evidence, load_facts, sample
from qa.eval.splits import SPLITS, assign, check_split
from qa.ingest.read import read_paths
from qa.settings import SEED_DIR


def test_shipped_seed_facts_are_valid_and_fit_the_seed_articles():
    facts = load_facts(SEED_FACTS)
    assert len(facts) == 65
    assert {f.kind for f in facts} == set(KINDS)
    texts = {a.doc_id: a.text for a in read_paths([SEED_DIR]).articles}
    assert check_evidence(facts, texts) == []
    follow_ups = [f for f in facts if f.kind == "follow-up"]
    assert follow_ups and all(f.history and isinstance(f.history[0], tuple) for f in follow_ups)
    assert all(not f.answerable and not f.answers for f in facts if f.kind == "unanswerable")


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "x-1", "question": "How many?", "kind": "number", "answers": ["650"],
        "doc_ids": ["d"], "evidence": ["650 were freed"]}


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "guess"}, "unknown kind"),
    ({"kind": "unanswerable"}, "no answers"),
    ({"answers": []}, "at least one alias"),
    ({"kind": "follow-up"}, "needs 'history'"),
    ({"answers": "650"}, "list of strings"),
    ({"question": ""}, "'question'"),
])
def test_bad_facts_are_named(tmp_path, change, message):
    path = _write(tmp_path / "facts.jsonl", [{**GOOD, **change}])
    with pytest.raises(FactsFormatError, match=message):
        load_facts(path)


def test_duplicate_ids_and_bad_json(tmp_path):
    with pytest.raises(FactsFormatError, match="duplicate id"):
        load_facts(_write(tmp_path / "dup.jsonl", [GOOD, GOOD]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": \n', encoding="utf-8")
    with pytest.raises(FactsFormatError, match=r"bad\.jsonl:1"):
        load_facts(bad)
    with pytest.raises(FactsFormatError, match="cannot read"):
        load_facts(tmp_path / "missing.jsonl")


def test_check_evidence_reports_missing_spans_and_docs():
    facts = load_facts(SEED_FACTS)[:1]
    assert check_evidence(facts, {"000_6ad931cbaa20b811": "nothing here"})[0].startswith("seed-01: evidence")
    assert "not among the articles" in check_evidence(facts, {})[0]


def test_sample_is_reproducible_and_ordered():
    items = list(range(100))
    assert sample(items, 10, seed=3) == sample(items, 10, seed=3)
    assert sample(items, 10, seed=3) != sample(items, 10, seed=4)
    assert sample(items, 10, seed=3) == sorted(sample(items, 10, seed=3))
    assert sample(items, None, 0) == items


SQUAD = {"version": "v2.0", "data": [
    {"title": "Oil_crisis", "paragraphs": [
        {"context": "The crisis began in October 1973. Prices rose fourfold by 1974.",
         "qas": [{"id": "q1", "question": "When did the crisis begin?", "is_impossible": False,
                  "answers": [{"text": "October 1973", "answer_start": 20},
                              {"text": "October 1973", "answer_start": 20}]},
                 {"id": "q2", "question": "Who ended the crisis?", "is_impossible": True,
                  "answers": [], "plausible_answers": [{"text": "OPEC", "answer_start": 0}]}]},
        {"context": "Rationing followed in many countries.", "qas": []}]},
    {"title": "Normans", "paragraphs": [
        {"context": "The Normans lived in Normandy. They spoke Norman.",
         "qas": [{"id": "q3", "question": "How many Normans were there?", "is_impossible": False,
                  "answers": [{"text": "many", "answer_start": 0}]}]}]},
]}


def test_squad_loader(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    data = load_squad(path, limit=None)
    assert [f.id for f in data.facts] == ["q1", "q2", "q3"]
    q1, q2, q3 = data.facts
    assert (q1.kind, q1.answers, q1.doc_ids) == ("date", ["October 1973"], ["squad-Oil_crisis-000"])
    assert q1.evidence == ["The crisis began in October 1973."]
    assert not q2.answerable and q2.answers == []
    assert q3.kind == "number"
    assert [a.doc_id for a in data.articles] == ["squad-Oil_crisis-000", "squad-Oil_crisis-001",
                                                "squad-Normans-000"]
    assert data.articles[0].title == "Oil crisis" and data.articles[0].content_hash
    # a sample indexes only the paragraphs of the sampled questions' titles
    one = load_squad(path, limit=1, seed=0)
    titles = {a.title for a in one.articles}
    assert len(one.facts) == 1 and len(titles) == 1
    assert one.facts[0].note.endswith(titles.pop())


def test_rgb_loader(tmp_path):
    rows = [
        {"id": 0, "query": "Super Bowl 2021 location", "answer": "Tampa, Florida", "fakeanswer": "Glendale",
         "positive": ["It was played in Tampa, Florida.", "Tampa, Florida hosted it."],
         "negative": ["Las Vegas hosts Super Bowl LVIII."], "positive_wrong": ["Glendale hosted it."]},
        {"id": 1, "query": "When was the launch?", "answer": [["July 21 2017", "21 July 2017"]],
         "positive": ["The launch was on 21 July 2017."], "negative": []},
        {"id": 2, "query": "Who won both?", "answer": [["Halep"], ["Barty"]],
         "positive": ["Halep won in Paris and Barty won in London."], "negative": ["Nobody else."]},
    ]
    path = tmp_path / "rgb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = load_rgb(path, limit=None)
    first, second, third = data.facts
    assert first.answers == ["Tampa, Florida"] and first.doc_ids == ["rgb-0-pos0", "rgb-0-pos1"]
    assert first.evidence == ["It was played in Tampa, Florida.", "Tampa, Florida hosted it."]
    assert second.answers == ["July 21 2017", "21 July 2017"] and second.kind == "date"
    assert third.all_of == [["Halep"], ["Barty"]] and third.doc_ids == ["rgb-2-pos0"]
    assert [a.doc_id for a in data.articles] == ["rgb-0-pos0", "rgb-0-pos1", "rgb-0-neg0", "rgb-1-pos0",
                                                "rgb-2-pos0", "rgb-2-neg0"]
    assert len(load_rgb(path, limit=2, seed=1).facts) == 2


def test_guess_kind():
    assert guess_kind("How many hostages?") == "number"
    assert guess_kind("In what year was it?") == "date"
    assert guess_kind("Who masterminded the raid?") == "name"
    assert guess_kind("Super Bowl 2021 location") == "other"


def _squad_with_titles(titles):
    return {"version": "v2.0", "data": [
        {"title": title, "paragraphs": [
            {"context": f"{title} was founded in 1900. It is old.",
             "qas": [{"id": f"{title}-q", "question": f"When was {title} founded?", "is_impossible": False,
                      "answers": [{"text": "1900", "answer_start": len(title) + 16}]}]}]}
        for title in titles]}


def test_squad_split_by_title_samples_and_indexes_only_that_half(tmp_path):
    titles = [f"Title_{i}" for i in range(9)]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(_squad_with_titles(titles)), encoding="utf-8")
    side = assign(t.replace("_", " ") for t in titles)
    assert squad_titles(path) == [t.replace("_", " ") for t in titles]
    seen = {}
    for split in SPLITS:
        data = load_squad(path, limit=None, split=split)
        assert data.split == split and data.facts
        got = {a.title for a in data.articles}
        assert got == {t for t, s in side.items() if s == split}
        assert {f.note.removeprefix("SQuAD title ") for f in data.facts} == got
        seen[split] = got
    assert not seen["dev"] & seen["test"] and len(seen["dev"]) == 5 and len(seen["test"]) == 4
    # a sample is drawn from the split's pool: every sampled question is from that half
    small = load_squad(path, limit=2, seed=3, split="test")
    assert len(small.facts) == 2 and {a.title for a in small.articles} <= seen["test"]
    assert load_squad(path, limit=None).split == "all" and len(load_squad(path, limit=None).facts) == 9
    with pytest.raises(ValueError, match="unknown split"):
        load_squad(path, split="train")


def test_rgb_split_by_question_id(tmp_path):
    rows = [{"id": i, "query": f"Question {i}?", "answer": "yes", "positive": ["yes it is"], "negative": []}
            for i in range(10)]
    path = _write(tmp_path / "rgb.jsonl", rows)
    side = assign(str(i) for i in range(10))
    dev = load_rgb(path, limit=None, split="dev")
    test = load_rgb(path, limit=None, split="test")
    assert {f.id for f in dev.facts} == {f"rgb-{k}" for k, s in side.items() if s == "dev"}
    assert {f.id for f in test.facts} == {f"rgb-{k}" for k, s in side.items() if s == "test"}
    assert len(dev.facts) == len(test.facts) == 5
    assert all(a.doc_id.split("-")[1] in {f.id[4:] for f in test.facts} for a in test.articles)
    # membership does not depend on the sample
    assert {f.id for f in load_rgb(path, limit=3, seed=9, split="test").facts} <= {f.id for f in test.facts}


def test_split_assignment_is_stable_and_balanced():
    keys = [f"k{i}" for i in range(101)]
    first = assign(keys)
    assert first == assign(reversed(keys))                 # order of the input does not matter
    assert sum(v == "dev" for v in first.values()) == 51    # the odd key goes to dev
    assert check_split("all") is None and check_split("TEST") == "test"
