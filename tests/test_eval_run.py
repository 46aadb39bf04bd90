"""The eval suite end to end with the fake models: verdicts, metrics, outputs, --compare and the CLI."""

from __future__ import annotations

import json

import pytest

import qa.api
from qa.cli import main
from qa.eval.compare import compare, load_run, render_comparison
from qa.eval.evidence import EvidenceLocator
from qa.eval.facts import Fact, load_facts
from qa.eval.judge import judge_check
from qa.eval.report import render_markdown, render_table, run_to_dict, write_outputs
from qa.eval.runner import ItemResult, draft_abstains, first_rank, run_eval, score_answer, summarize
from qa.eval.splits import assign
from qa.records import Answer, Citation, Hit
from qa.testing import ExtractiveGenerator, HashingEmbedder

FACTS = [
    {"id": "t-1", "question": "According to Algerian state media, how many hostages were freed?",
     "kind": "number", "answers": ["650", "six hundred and fifty"], "doc_ids": ["000_6ad931cbaa20b811"],
     "evidence": ["The state media have reported that 650 hostages have been freed, of which 573 are "
                  "Algerians."]},
    {"id": "t-2", "question": "Which three companies jointly operated the gas plant?", "kind": "list",
     "answers": ["Statoil, BP and Sonatrach"], "all_of": [["Statoil"], ["BP"], ["Sonatrach"]],
     "doc_ids": ["000_6ad931cbaa20b811"],
     "evidence": ["a gas plant jointly operated by Norway’s Statoil, Britain’s BP and Algerian state-owned "
                  "Sonatrach"]},
    {"id": "t-3", "question": "What is the recipe for chocolate cake with vanilla frosting?",
     "kind": "unanswerable", "answers": [], "doc_ids": [], "evidence": []},
    {"id": "t-4", "question": "And how many of them were Algerians?", "kind": "follow-up",
     "answers": ["573"], "doc_ids": ["000_6ad931cbaa20b811"],
     "evidence": ["The state media have reported that 650 hostages have been freed, of which 573 are "
                  "Algerians."],
     "history": [{"question": "How many hostages did state media say had been freed?", "answer": "650"}]},
]


@pytest.fixture
def facts_file(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(json.dumps(f, ensure_ascii=False) for f in FACTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def run(assistant, facts_file):
    return run_eval(assistant, load_facts(facts_file), progress=False, meta={"dataset": "test"},
                    judge=judge_check())


def test_verdicts_and_scores(run):
    by_id = {i.id: i for i in run.items}
    assert by_id["t-1"].verdict == "correct" and by_id["t-1"].numeric_match is True
    assert by_id["t-1"].draft_exact_match is True and by_id["t-1"].passages[0]["n"] == 1
    assert by_id["t-1"].article_rank == 1 and by_id["t-1"].passage_rank == 1
    assert by_id["t-1"].citation_recall == 1.0 and by_id["t-1"].citations
    assert by_id["t-3"].verdict == "abstained" and by_id["t-3"].correct
    assert by_id["t-3"].exact_match is None and by_id["t-3"].citation_recall is None
    assert by_id["t-4"].history == [["How many hostages did state media say had been freed?", "650"]]
    assert set(run.by_kind) == {"number", "list", "unanswerable", "follow-up"}
    assert run.metrics["accuracy"].n == 4 and run.metrics["exact_match"].n == 3
    assert run.meta["questions"] == 4 and run.meta["dataset"] == "test"
    for item in run.items:
        if item.verdict != "abstained":
            assert {"retrieve", "total"} <= set(item.timings)
            assert len(item.retrieved) <= 10


def test_refusal_metrics_on_hand_made_items():
    def item(answerable, abstained):
        return ItemResult(id=f"{answerable}{abstained}{id(object())}", kind="k", question="q",
                          answerable=answerable, abstained=abstained,
                          verdict=("refused" if abstained else "correct") if answerable
                          else ("abstained" if abstained else "answered"))
    items = ([item(False, True)] * 2 + [item(False, False)] + [item(True, True)]
             + [item(True, False)] * 3)
    metrics, _ = summarize(items)
    assert metrics["abstain_precision"].value == pytest.approx(2 / 3)
    assert metrics["abstain_precision"].n == 3
    assert metrics["abstain_recall"].value == pytest.approx(2 / 3)
    assert metrics["false_refusal_rate"].value == pytest.approx(1 / 4)
    assert not metrics["false_refusal_rate"].higher_is_better
    # with no unanswerable question, abstention precision and recall say nothing
    metrics, _ = summarize([item(True, True), item(True, False)])
    assert metrics["abstain_precision"].n == 0 and metrics["abstain_recall"].n == 0


def test_retrieval_scoring_helpers():
    text = "First sentence here. The evidence sentence is this one. Last one."
    locator = EvidenceLocator({"d": text})
    start = text.index("The evidence")

    def hit(s, e):
        return Hit(doc_id="d", chunk_id=0, text=text[s:e], score=1.0, start=s, end=e)

    evidence = ["The evidence sentence is this one."]
    assert locator.holds(hit(0, len(text)), evidence)
    assert locator.holds(hit(start, start + 20), evidence)         # covers more than half
    assert not locator.holds(hit(0, start + 5), evidence)          # covers too little
    assert not locator.holds(hit(0, 20), evidence)
    assert first_rank([False, False, True, True]) == 3 and first_rank([False]) is None


def test_outputs_written(run, tmp_path):
    paths = write_outputs(run, tmp_path / "out")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert len(data["items"]) == 4 and {"answer", "citations", "verdict", "timings"} <= set(data["items"][0])
    assert data["metrics"]["accuracy"]["low"] <= data["metrics"]["accuracy"]["value"]
    assert data["judge"]["true_positive"] + data["judge"]["false_negative"] > 0
    report = paths["markdown"].read_text(encoding="utf-8")
    assert "## Support judge check" in report and "exact match (alias span)" in report
    assert "![metrics with 95% intervals](metrics.png)" in report
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Failures" in render_markdown(run, chart=None)
    table = render_table(run)
    assert "Correct by kind" in table and "95% CI" in table


def test_compare_shows_deltas_and_flips(run, tmp_path):
    old = run_to_dict(run)
    new = json.loads(json.dumps(old))
    flipped = next(i for i in new["items"] if i["correct"])
    flipped.update(correct=False, verdict="incorrect", answer="Something else.")
    new["metrics"]["accuracy"]["value"] -= 0.25
    result = compare(old, new)
    accuracy = next(d for d in result.metrics if d.key == "accuracy")
    assert accuracy.delta == pytest.approx(-0.25) and accuracy.direction == "worse"
    assert [f.id for f in result.flips] == [flipped["id"]] and not result.flips[0].better
    text = render_comparison(result)
    assert "Questions that got worse: 1" in text and flipped["id"] in text
    assert "| metric | old | new | delta | change |" in render_comparison(result, markdown=True)
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    assert load_run(tmp_path / "old.json")["items"]


@pytest.fixture
def fake_models(monkeypatch):
    """The CLI builds its own Assistant: make its shared models the fakes."""
    embedder, generator = HashingEmbedder(), ExtractiveGenerator()
    monkeypatch.setattr(qa.api, "shared_embedder", lambda model=None: embedder)
    monkeypatch.setattr(qa.api, "shared_generator", lambda model=None: generator)
    monkeypatch.setenv("QA_MIN_RELEVANCE", "0.05")


def test_cli_seed_facts_and_compare(fake_models, seed_index, facts_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "--facts", str(facts_file), "--index-dir", str(seed_index), "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Answers" in printed and "wrote" in printed
    assert {p.name for p in out.iterdir()} == {"results.json", "report.md", "metrics.png"}
    assert main([*argv, "--compare", str(out / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "qa eval --compare" in printed and "Questions that got worse: 0" in printed
    assert (out / "compare.md").exists() and (out / "results-previous.json").exists()
    assert main(["eval", "--compare", str(out / "results-previous.json"), str(out / "results.json")]) == 0
    assert main(["eval", "--judge-check"]) == 0
    assert "Support judge vs 36 labelled cases" in capsys.readouterr().out


def test_cli_squad_and_rgb_index_into_a_temp_dir(fake_models, tmp_path, capsys):
    squad = {"version": "v2.0", "data": [{"title": "Gas_plant", "paragraphs": [
        {"context": "The gas plant at In Amenas was jointly operated by Statoil and BP. It is in Algeria.",
         "qas": [{"id": "s1", "question": "Which companies jointly operated the gas plant?",
                  "is_impossible": False, "answers": [{"text": "Statoil and BP", "answer_start": 51}]},
                 {"id": "s2", "question": "Who owns the gas plant in Norway?", "is_impossible": True,
                  "answers": []}]}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad), encoding="utf-8")
    assert main(["eval", "--dataset", "squad", str(tmp_path / "squad.json"), "--out",
                 str(tmp_path / "squad-out"), "--no-progress"]) == 0
    data = json.loads((tmp_path / "squad-out" / "results.json").read_text(encoding="utf-8"))
    assert data["meta"]["dataset"] == "squad" and data["meta"]["index_dir"] == "(temporary)"
    assert data["items"][0]["verdict"] == "correct" and data["items"][0]["article_rank"] == 1
    rgb = {"id": 7, "query": "Who operated the gas plant at In Amenas?", "answer": [["Statoil"], ["BP"]],
           "positive": ["The gas plant at In Amenas was operated by Statoil and BP."],
           "negative": ["Sonatrach is the state oil company of Algeria."]}
    (tmp_path / "rgb.jsonl").write_text(json.dumps(rgb) + "\n", encoding="utf-8")
    assert main(["eval", "--dataset", "rgb", "--data", str(tmp_path / "rgb.jsonl"), "--limit", "1",
                 "--out", str(tmp_path / "rgb-out"), "--no-progress"]) == 0
    data = json.loads((tmp_path / "rgb-out" / "results.json").read_text(encoding="utf-8"))
    assert data["items"][0]["doc_ids"] == ["rgb-7-pos0"] and data["items"][0]["correct"]
    capsys.readouterr()


def test_cli_errors_are_one_line(fake_models, tmp_path, capsys):
    assert main(["eval", "--dataset", "squad", "--out", str(tmp_path / "o")]) == 1
    assert "needs the path" in capsys.readouterr().err
    assert main(["eval", "--compare", "a", "b", "c"]) == 1
    assert main(["eval", "--facts", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 1
    assert "cannot read facts file" in capsys.readouterr().err


def _item(answerable, draft_em, draft_abstained, final_abstained, final_em=None):
    verdict = (("refused" if final_abstained else ("correct" if final_em else "incorrect")) if answerable
               else ("abstained" if final_abstained else "answered"))
    return ItemResult(id=f"i{id(object())}", kind="k", question="q", answerable=answerable,
                      draft_exact_match=draft_em if answerable else None,
                      exact_match=bool(final_em) if answerable else None, draft_abstained=draft_abstained,
                      abstained=final_abstained, verdict=verdict,
                      correct=bool(final_em) if answerable else final_abstained)


def test_kept_and_caught_on_hand_made_items():
    items = [
        _item(True, True, False, False, final_em=True),    # right draft kept
        _item(True, True, False, True),                     # right draft refused: not kept
        _item(True, False, False, True),                    # wrong draft caught
        _item(True, False, False, False, final_em=False),   # wrong draft passed
        _item(False, None, False, False),                   # unanswerable, answered: not caught
        _item(False, None, True, True),                     # the draft abstained itself: in no pool
        _item(True, False, True, True),                     # answerable, the draft abstained: no pool
    ]
    m, _ = summarize(items)
    assert (m["kept"].value, m["kept"].n) == (0.5, 2)
    assert (m["caught"].value, m["caught"].n) == (pytest.approx(1 / 3), 3)
    assert (m["draft_abstain_recall"].value, m["draft_abstain_recall"].n) == (0.5, 2)
    assert m["draft_false_refusal_rate"].value == pytest.approx(1 / 5)
    assert m["false_refusal_rate"].value == pytest.approx(3 / 5)
    assert not m["draft_false_refusal_rate"].higher_is_better
    assert m["draft_accuracy"].value == pytest.approx(3 / 7) and m["accuracy"].value == pytest.approx(2 / 7)


def test_draft_abstains():
    assert draft_abstains("") and draft_abstains("The articles don't say. [1]")
    assert not draft_abstains("650 hostages were freed [1]. The articles don't say who freed them.")


def test_citations_are_scored_against_gold_evidence_not_the_judge():
    evidence = "The state media have reported that 650 hostages have been freed, of which 573 are Algerians."
    text = f"Intro sentence. {evidence} Other news: France rushed jets to Mali."
    other = text.index("Other")
    fact = Fact(id="g", question="How many hostages were freed?", kind="number", answers=["650"],
                doc_ids=["d"], evidence=[evidence])
    good = Hit(doc_id="d", chunk_id=0, text=text[:other], score=1.0, start=0, end=other)
    bad = Hit(doc_id="d", chunk_id=1, text=text[other:], score=0.5, start=other, end=len(text))
    answer = Answer(question=fact.question, text="650 hostages were freed [1][2].", passages=[good, bad],
                    draft="650 hostages were freed [2].",
                    citations=[Citation(n, h.doc_id, "", h.text, h.start, h.end, h.score)
                               for n, h in ((1, good), (2, bad))])
    item = score_answer(fact, answer, EvidenceLocator({"d": text}))
    assert item.gold_cited == [True, False] and item.draft_gold_cited == [False]
    m, _ = summarize([item])
    assert m["gold_citation_precision"].value == 0.5 and m["gold_citation_recall"].value == 1.0
    assert m["draft_gold_citation_precision"].value == 0.0 and m["draft_gold_citation_recall"].value == 0.0
    # unanswerable facts and abstentions are not scored for citations
    refused = Answer(question="q", text="The articles don't say.", abstained=True, passages=[good])
    assert score_answer(fact, refused).gold_cited is None
    unanswerable = Fact(id="u", question="Who?", kind="unanswerable")
    assert score_answer(unanswerable, answer).gold_cited is None


def test_cli_split(fake_models, seed_index, facts_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", "--split", "test", "--index-dir", str(seed_index), "--out", str(out)]) == 1
    assert "no test split" in capsys.readouterr().err
    assert main(["eval", "--split", "dev", "--facts", str(facts_file), "--out", str(out)]) == 1
    assert "has no split" in capsys.readouterr().err
    titles = ["Gas_plant", "Oil_crisis", "Normans", "Algeria"]
    squad = {"version": "v2.0", "data": [{"title": t, "paragraphs": [
        {"context": f"The {t} article says 42 things.",
         "qas": [{"id": f"{t}-1", "question": f"How many things does the {t} article say?",
                  "is_impossible": False, "answers": [{"text": "42", "answer_start": 19 + len(t)}]}]}]}
        for t in titles]}
    (tmp_path / "squad.json").write_text(json.dumps(squad), encoding="utf-8")
    assert main(["eval", "--dataset", "squad", str(tmp_path / "squad.json"), "--split", "test",
                 "--out", str(out), "--no-progress"]) == 0
    assert "(split test)" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    side = assign(t.replace("_", " ") for t in titles)
    assert data["meta"]["split"] == "test" and "Wikipedia title" in data["meta"]["split_rule"]
    wanted = {f"{t}-1" for t in titles if side[t.replace("_", " ")] == "test"}
    assert wanted and {i["id"] for i in data["items"]} == wanted
    assert data["judge_test"]["accuracy"]["n"] >= 40 and data["judge"]["accuracy"]["n"] == 36
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "- **split**: `test`" in report and "## The citation check: draft vs final" in report
    assert "test: judge accuracy" in report
    # a kept --index-dir that already holds the other split's articles is flagged
    kept = ["eval", "--dataset", "squad", str(tmp_path / "squad.json"), "--index-dir", str(tmp_path / "idx"),
            "--out", str(out), "--no-progress"]
    assert main([*kept, "--split", "dev"]) == 0
    assert "outside this sample" not in capsys.readouterr().err
    assert main([*kept, "--split", "test"]) == 0
    assert "also holds 2 articles from outside this sample" in capsys.readouterr().err


def test_judge_check_reports_dev_and_test_without_listing_test_cases(capsys):
    assert main(["eval", "--judge-check"]) == 0
    printed = capsys.readouterr().out
    dev, test = printed.split("\ntest: ")
    assert dev.startswith("dev: ") and "Support judge vs 36 labelled cases" in dev
    assert "disagreements (not listed" in test and "labelled supported, judged otherwise" not in test


def test_compare_warns_when_the_splits_differ(run):
    old = run_to_dict(run)
    new = json.loads(json.dumps(old))
    assert compare(old, new).warnings == []
    new["meta"]["split"] = "test"
    result = compare(old, new)
    assert result.warnings and "split" in result.warnings[0]
    assert "warning: the runs differ in split" in render_comparison(result)


def test_a_draft_that_abstains_holds_no_answer():
    fact = Fact(id="n", question="How many hostages were freed?", kind="number", answers=["650"])
    said = score_answer(fact, Answer(question=fact.question, text="650 were freed [1].",
                                     draft="650 hostages were freed."))
    assert said.draft_exact_match is True and not said.draft_abstained
    hedged = score_answer(fact, Answer(question=fact.question, text="The articles don't say.", abstained=True,
                                       draft="The articles don't say whether all 650 hostages were freed."))
    assert hedged.draft_abstained and hedged.draft_exact_match is False and hedged.verdict == "refused"
