"""Kill test: SIGKILL `qa index` at random moments and check that what it leaves loads and answers.

    PYTHONPATH=. nice -n 19 .venv/bin/python benchmarks/kill_index.py [--articles 200] [--pristine 100]
        [--runs 100] [--resume-every 10] [--commit-every 4] [--seed 0] [--work DIR] [--keep] [--json FILE]

What it does:

- writes a deterministic corpus of `--articles` short news-like .txt articles (several sentences,
  a made-up place name of its own in each, so no two texts are alike) into the work folder;
- builds a pristine index of the first `--pristine` of them once, with the `qa index` command;
- times one full uninterrupted `qa index` of the whole corpus on a copy of the pristine index:
  to its writer lock (`.lock.holder` naming its pid), to its progress bar on stderr (model loaded,
  articles read and diffed, embedding begun), the save (a temp generation folder `.gen-*` appears
  until CURRENT names the new generation) and from that commit to its exit;
- then for each of `--runs` runs: copies the pristine index, starts `qa index CORPUS --index-dir COPY`,
  waits for its progress bar (it has started work), sleeps a delay drawn uniformly over the
  measured bar-to-exit span and SIGKILLs it. One run in `--commit-every` (runs 3, 7, 11, ... for
  4) instead waits for the temp generation folder and kills after a delay uniform over twice the
  measured save, so that some kills land inside the save (a uniform delay rarely hits 50 ms);
  where each kill landed is read from the folder it left (before the save, writing the new
  generation, renamed but CURRENT not swapped, after the commit);
- checks each killed copy: `qa status --index-dir COPY` exits 0 and says `state: OK`, the articles
  it holds (its `contents:` line), and `qa.retrieve` in this process (a fresh folder each run, so
  a fresh load) returns hits with non-empty text for a question about one of the pristine articles;
- every `--resume-every`-th run also runs `qa index` to completion on the killed copy and checks
  that it then holds all `--articles` articles and is intact;
- prints a line per run to stderr and a summary to stdout (`--json FILE`: the same figures and
  every run); exits 1 if any killed index did not load and answer, lost articles it had, or a
  resume did not reach every article.

What it does not do: it imports no qa module but the public API (`qa.retrieve`), and runs
qa only as its command (`python -m qa`). It uses the embedding model `qa index` is
configured with (`--embed-model`, else $QA_EMBED_MODEL, else the packaged MiniLM): the command
offers no fake embedder. Beside the command it reads only the index folder's documented layout
(CURRENT, gen-*, .gen-*, .lock.holder). It cannot choose where qa commits: `qa index` saves a
generation after a batch of 256 changed articles when 30 s have passed since the last save, and at
the end, with no flag for either, so a run shorter than 30 s with fewer than 256 new articles
commits once, at the end; kills then land before, inside or after that commit, and "some new
articles kept" needs longer runs (more articles). It measures no speed beyond the timings it uses
for the delays, and does not test power loss (a SIGKILL leaves the page cache to the kernel;
fsync ordering is not tested).
Temp folders are deleted at the end unless --keep (and kept when a run failed).

Time: a run costs about the ~10 s `qa index` takes to import torch and load the model before
it shows its progress bar, plus the random delay; the defaults (200 articles, 100 runs) are meant
to finish in about half an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HOLDER_FILE = ".lock.holder"  # written by a writer holding the index lock (qa/lock.py docstring)
TEMP_GENERATION_PREFIX = ".gen-"  # a generation being saved (qa/store/index_store.py docstring)
PROGRESS_MARK = b"indexing"  # the start of `qa index`'s progress bar on stderr
POLL_S = 0.002
STATUS_OK_RE = re.compile(r"^state:\s+OK\s*$", re.MULTILINE)
CONTENTS_RE = re.compile(r"^contents:\s+(\d+) articles, (\d+) passages", re.MULTILINE)
LEFTOVERS_RE = re.compile(r"^leftovers:", re.MULTILINE)

# ---------------------------------------------------------------------------------------- corpus

_SYLLABLES = ["ka", "lo", "mir", "ven", "tas", "qu", "dre", "zol", "fen", "bar", "osk", "ith", "pel",
              "run", "sav", "gor", "ne", "wyl", "tam", "cor", "hul", "yst", "bri", "dax"]
_FIRST = ["Amara", "Tomas", "Ines", "Kwame", "Lena", "Ravi", "Sofia", "Jonas", "Mei", "Omar", "Petra",
          "Diego", "Hana", "Felix", "Noor", "Elias", "Yara", "Marek", "Chloe", "Idris"]
_LAST = ["Okafor", "Lindqvist", "Moreau", "Haddad", "Novak", "Tanaka", "Oyelaran", "Brandt", "Silva",
         "Kowalski", "Reyes", "Fischer", "Nakamura", "Osei", "Varga", "Laurent", "Petrov", "Quinn"]
_ROLES = ["the mayor", "a council spokesperson", "the regional health director", "a local teacher",
          "the harbour master", "a union representative", "the fire chief", "a shop owner",
          "the police commissioner", "an engineer on the project"]
_EVENTS = ["a new bridge opened", "floods closed the main road", "the council approved a budget",
           "a factory announced layoffs", "a school was evacuated", "the harbour reopened",
           "a festival drew record crowds", "a power cut hit the old town", "a train derailed",
           "the hospital opened a new wing", "farmers protested outside the town hall",
           "a museum returned stolen paintings"]
_DETAILS = ["Officials said repairs would take {n} weeks.", "About {n} people were affected.",
            "The project cost {n} million euros.", "Police closed {n} streets for the day.",
            "Volunteers handed out {n} meals by the evening.", "Local radio reported {n} calls "
            "from worried residents.", "The council will meet again in {n} days.",
            "Trains were delayed by up to {n} minutes.", "Some {n} families had to leave their homes.",
            "Ticket sales rose by {n} percent on the year."]
_QUOTES = ["\"We did not expect this,\" said {who}.", "\"It is a good day for {place},\" said {who}.",
           "\"We will review what happened,\" {who} told reporters.", "{who} called the decision "
           "overdue.", "\"People here are patient, but not forever,\" said {who}.",
           "{who} promised a full report by the end of the month."]
_CLOSERS = ["Residents of {place} said they would watch the next steps closely.",
            "A further update is expected on {weekday}.", "The {place} district has about {n} thousand "
            "inhabitants.", "Similar events were reported in {place} {n} years ago.",
            "Neither side answered questions after the meeting in {place}."]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass(frozen=True)
class Article:
    """One generated article: its file name stem, its place name and its text."""

    stem: str
    place: str
    text: str


def _place_names(count: int, rng: random.Random) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(3, 4))).capitalize()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def make_corpus(count: int, seed: int) -> list[Article]:
    """`count` distinct articles of 7-10 sentences, the same for the same seed."""
    rng = random.Random(f"kill-index-corpus-{seed}")
    places = _place_names(count, rng)
    articles = []
    for i, place in enumerate(places):
        def person() -> str:
            return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}, {rng.choice(_ROLES)}"

        event = rng.choice(_EVENTS)
        sentences = [f"In {place}, {event} on {rng.choice(_WEEKDAYS)}, article {i} of this corpus "
                     f"reports."]
        for _ in range(rng.randint(4, 6)):
            template = rng.choice(_DETAILS + _QUOTES)
            sentences.append(template.format(n=rng.randint(2, 900), who=person(), place=place))
        sentences.append(f"The events in {place} followed weeks of debate about {rng.choice(_EVENTS)}.")
        sentences.append(rng.choice(_CLOSERS).format(place=place, weekday=rng.choice(_WEEKDAYS),
                                                     n=rng.randint(2, 90)))
        articles.append(Article(stem=f"article-{i:04d}", place=place, text=" ".join(sentences) + "\n"))
    return articles


def write_corpus(articles: list[Article], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article.stem}.txt").write_text(article.text, encoding="utf-8")


# ------------------------------------------------------------------------------------- qa command


def qa_command() -> list[str]:
    """How to run the `qa` command with this interpreter (so PYTHONPATH and the venv apply)."""
    return [sys.executable, "-m", "qa"]


@dataclass
class Status:
    """What `qa status` said about an index folder."""

    returncode: int
    ok: bool
    articles: int | None
    passages: int | None
    leftovers: bool
    output: str


def qa_status(qa: list[str], index: Path, extra: list[str]) -> Status:
    proc = subprocess.run([*qa, "status", "--index-dir", str(index), *extra], capture_output=True,
                          text=True, timeout=600)
    found = CONTENTS_RE.search(proc.stdout)
    ok = proc.returncode == 0 and bool(STATUS_OK_RE.search(proc.stdout))
    return Status(returncode=proc.returncode, ok=ok,
                  articles=int(found.group(1)) if found else None,
                  passages=int(found.group(2)) if found else None,
                  leftovers=bool(LEFTOVERS_RE.search(proc.stdout)),
                  output=(proc.stdout + proc.stderr).strip())


def index_command(qa: list[str], corpus: Path, index: Path, extra: list[str],
                  progress: bool = False) -> list[str]:
    return [*qa, "index", str(corpus), "--index-dir", str(index),
            *([] if progress else ["--no-progress"]), *extra]


def run_to_end(qa: list[str], corpus: Path, index: Path, extra: list[str], log: Path) -> tuple[int, float]:
    """Run `qa index` to completion; (exit status, seconds)."""
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.run(index_command(qa, corpus, index, extra), stdout=out, stderr=subprocess.STDOUT,
                              timeout=3600)
    return proc.returncode, time.monotonic() - started


def read_current(index: Path) -> str:
    """The live generation's name (the index's CURRENT file), "" when unreadable."""
    try:
        return (index / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


class Watch:
    """What one `qa index` run shows from outside: its progress bar, its lock, its commit."""

    def __init__(self, index: Path, log: Path) -> None:
        self.index, self.log = index, log
        self.current = read_current(index)
        self._read = 0
        self._tail = b""

    def holds_lock(self, pid: int) -> bool:
        try:
            return int(json.loads((self.index / HOLDER_FILE).read_text(encoding="utf-8"))["pid"]) == pid
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def indexing(self) -> bool:
        """The progress bar ("indexing: ...") is on stderr: it has read, diffed and begun embedding."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self._read)
                new = fh.read()
        except OSError:
            return False
        self._read += len(new)
        text, self._tail = self._tail + new, (self._tail + new)[-16:]
        return PROGRESS_MARK in text

    def saving(self) -> bool:
        """A new generation is being written (a temp generation folder) or already live."""
        try:
            if any(entry.name.startswith(TEMP_GENERATION_PREFIX) for entry in os.scandir(self.index)):
                return True
        except OSError:
            return False
        return self.committed()

    def committed(self) -> bool:
        return read_current(self.index) not in ("", self.current)

    def landed(self) -> str:
        """Where a killed run was, from the folder it left."""
        if self.committed():
            return "after the commit"
        names = os.listdir(self.index)
        if any(name.startswith(TEMP_GENERATION_PREFIX) for name in names):
            return "writing the new generation"
        if any(name.startswith("gen-") and name != self.current for name in names):
            return "new generation renamed, CURRENT not yet swapped"
        return "before the save"


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Poll until `predicate()` or the process exits; the monotonic time it held, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        if proc.poll() is not None:
            return None
        time.sleep(POLL_S)
    return None


@dataclass
class Calibration:
    """One uninterrupted run of the whole corpus on a copy of the pristine index (seconds)."""

    total_s: float  # process start to exit
    to_lock_s: float  # process start to holding the writer lock
    to_indexing_s: float  # process start to the progress bar (model loaded, articles diffed)
    work_s: float  # progress bar to exit: the span uniform kills are drawn over
    save_s: float  # temp generation folder seen to CURRENT swapped: commit kills span twice this
    after_commit_s: float  # CURRENT swapped to exit
    articles: int | None


def calibrate(qa: list[str], corpus: Path, pristine: Path, index: Path, extra: list[str],
              log: Path) -> Calibration:
    shutil.copytree(pristine, index)
    watch = Watch(index, log)
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(index_command(qa, corpus, index, extra, progress=True), stdout=out,
                                stderr=subprocess.STDOUT)
        locked = wait_for(lambda: watch.holds_lock(proc.pid), proc, 600)
        indexing = wait_for(watch.indexing, proc, 600)
        saving = wait_for(watch.saving, proc, 3600)
        committed = wait_for(watch.committed, proc, 600)
        code = proc.wait()
        ended = time.monotonic()
    if code != 0 or None in (locked, indexing, saving, committed):
        raise SystemExit(f"the uninterrupted qa index run failed (exit {code}) or was not seen to lock, "
                         f"show its progress bar and commit; see {log}:\n"
                         + log.read_text(encoding="utf-8", errors="replace")[-2000:])
    assert locked is not None and indexing is not None and saving is not None and committed is not None
    status = qa_status(qa, index, extra)
    return Calibration(total_s=ended - started, to_lock_s=locked - started, to_indexing_s=indexing - started,
                       work_s=ended - indexing, save_s=committed - saving, after_commit_s=ended - committed,
                       articles=status.articles)


# ------------------------------------------------------------------------------------------ runs


@dataclass
class Run:
    """One killed `qa index` and what the index it left holds."""

    n: int
    mode: str  # "uniform": delay after the progress bar appears; "commit": after the save begins
    delay_s: float
    killed: bool  # False: the process had exited before the kill
    exit_code: int | None
    landed: str = ""  # where the kill landed, from the folder it left (Watch.landed)
    status_ok: bool = False
    status_code: int = -1
    articles: int | None = None
    passages: int | None = None
    leftovers: bool = False
    answers: bool = False
    hits: int = 0
    asked_found: bool = False
    error: str = ""
    resumed: bool = False
    resume_ok: bool = False
    resume_articles: int | None = None
    resume_s: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def loads_and_answers(self) -> bool:
        return self.status_ok and self.answers


def check_retrieve(index: Path, question: str, expect_stem: str) -> tuple[bool, int, bool, str]:
    """(answers, hits, the asked article among them, error) from `qa.retrieve` on `index`."""
    try:
        import qa

        hits = qa.retrieve(question, k=5, index_dir=index)
    except Exception as exc:  # any failure to load or answer is the finding
        return False, 0, False, f"qa.retrieve: {type(exc).__name__}: {exc}"
    good = bool(hits) and all(isinstance(h.text, str) and h.text.strip() for h in hits)
    found = any(h.doc_id == expect_stem for h in hits)
    return good, len(hits), found, "" if good else f"qa.retrieve returned {len(hits)} hits, some without text"


def kill_run(n: int, mode: str, delay: float, qa: list[str], corpus: Path, index: Path,
             extra: list[str], log: Path) -> Run:
    watch = Watch(index, log)
    with open(log, "wb") as out:
        proc = subprocess.Popen(index_command(qa, corpus, index, extra, progress=True), stdout=out,
                                stderr=subprocess.STDOUT)
        started = wait_for(watch.indexing, proc, 600)
        if started is not None and mode == "commit":
            started = wait_for(watch.saving, proc, 3600)
        killed = False
        if started is not None:
            remaining = started + delay - time.monotonic()
            if remaining > 0:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=remaining)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed = True
        code = proc.wait()
    run = Run(n=n, mode=mode, delay_s=delay, killed=killed, exit_code=code,
              landed=watch.landed() if killed else "finished before the kill")
    if killed and code != -signal.SIGKILL:
        run.notes.append(f"exit {code} after SIGKILL")
    if started is None:
        run.notes.append("the run was not seen to start indexing (or to save, for a commit kill)")
    if not killed and code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-500:]
        run.notes.append(f"qa index exited {code} before the kill: {tail}")
    return run


PHASES = ("before the save", "writing the new generation", "new generation renamed, CURRENT not yet swapped",
          "after the commit", "finished before the kill")


def commit_span(cal: Calibration) -> float:
    """Commit kills are drawn over twice the measured save (so about half land inside it)."""
    return max(2.0 * cal.save_s, 0.01)


def summarize(runs: list[Run], args: argparse.Namespace, cal: Calibration, total_s: float) -> dict[str, Any]:
    kept = [r.articles for r in runs if r.articles is not None]
    resumes = [r for r in runs if r.resumed]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "articles": args.articles,
        "pristine": args.pristine,
        "runs": len(runs),
        "seed": args.seed,
        "embed_model": (args.embed_model or os.environ.get("QA_EMBED_MODEL")
                        or "all-minilm-l6-v2 (qa's default)"),
        "full_run": {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(cal).items()},
        "uniform_span_s": round(cal.work_s, 3),
        "commit_span_s": round(commit_span(cal), 3),
        "uniform_runs": sum(r.mode == "uniform" for r in runs),
        "commit_runs": sum(r.mode == "commit" for r in runs),
        "killed": sum(r.killed for r in runs),
        "landed": {phase: sum(r.landed == phase for r in runs) for phase in PHASES},
        "loads_and_answers": sum(r.loads_and_answers for r in runs),
        "status_ok": sum(r.status_ok for r in runs),
        "answers": sum(r.answers for r in runs),
        "asked_article_found": sum(r.asked_found for r in runs),
        "leftovers_reported": sum(r.leftovers for r in runs),
        "kept_min": min(kept) if kept else None,
        "kept_median": statistics.median(kept) if kept else None,
        "kept_max": max(kept) if kept else None,
        "kept_lost_old": sum(k < args.pristine for k in kept),
        "kept_old_only": sum(k == args.pristine for k in kept),
        "kept_some_new": sum(args.pristine < k < args.articles for k in kept),
        "kept_all": sum(k == args.articles for k in kept),
        "kept_unknown": sum(r.articles is None for r in runs),
        "resumes": len(resumes),
        "resumes_reached_all": sum(r.resume_ok for r in resumes),
        "resume_s_median": round(statistics.median([r.resume_s for r in resumes]), 2) if resumes else None,
        "failures": [{"run": r.n, "mode": r.mode, "delay_s": round(r.delay_s, 3), "landed": r.landed,
                      "error": r.error, "notes": r.notes} for r in runs
                     if not r.loads_and_answers or (r.resumed and not r.resume_ok)
                     or (r.articles is not None and r.articles < args.pristine)],
        "total_s": round(total_s, 1),
    }


def print_summary(s: dict[str, Any]) -> None:
    runs, cal = s["runs"], s["full_run"]
    print(f"kill test, {s['date']}: {runs} SIGKILLs of `qa index` over {s['articles']} articles into a copy "
          f"of an index of the first {s['pristine']} (embedder {s['embed_model']}, seed {s['seed']})")
    print(f"  full uninterrupted run: {cal['total_s']:.1f} s (lock at {cal['to_lock_s']:.1f} s, progress bar "
          f"at {cal['to_indexing_s']:.1f} s, save {cal['save_s'] * 1000:.0f} ms, "
          f"{cal['after_commit_s']:.1f} s from the commit to exit)")
    print(f"  kills: {s['uniform_runs']} at a delay uniform over {s['uniform_span_s']:.1f} s after the "
          f"progress bar appears, {s['commit_runs']} uniform over {s['commit_span_s'] * 1000:.0f} ms "
          f"after the save begins; {s['killed']} killed, "
          f"{s['landed']['finished before the kill']} had finished first")
    print("  where the kills landed (from the folder left): "
          + ", ".join(f"{phase} {count}" for phase, count in s["landed"].items()))
    print(f"  index loads and answers after the kill: {s['loads_and_answers']}/{runs} "
          f"(qa status OK {s['status_ok']}, qa.retrieve hits with text {s['answers']}, the asked article "
          f"among them {s['asked_article_found']}); qa status reported leftovers of a save "
          f"{s['leftovers_reported']}")
    print(f"  articles kept: min {s['kept_min']}, median {s['kept_median']}, max {s['kept_max']}; "
          f"old only ({s['pristine']}) {s['kept_old_only']}, some new {s['kept_some_new']}, "
          f"all ({s['articles']}) {s['kept_all']}, fewer than before {s['kept_lost_old']}, "
          f"unknown {s['kept_unknown']}")
    print(f"  resumes (qa index again, to the end, on the killed copy): {s['resumes_reached_all']}/"
          f"{s['resumes']} reached all {s['articles']} articles (median {s['resume_s_median']} s)")
    print(f"  total time: {s['total_s'] / 60:.1f} min")
    for failure in s["failures"]:
        print(f"  FAILED run {failure['run']} ({failure['mode']}, delay {failure['delay_s']} s, "
              f"{failure['landed']}): {failure['error']} {'; '.join(failure['notes'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=200, help="articles in the corpus (default 200)")
    parser.add_argument("--pristine", type=int, default=100,
                        help="of them, indexed before the runs (default 100)")
    parser.add_argument("--runs", type=int, default=100, help="killed runs (default 100)")
    parser.add_argument("--resume-every", type=int, default=10,
                        help="every K-th run, index to the end after the kill (default 10; 0: never)")
    parser.add_argument("--commit-every", type=int, default=4,
                        help="one run in K (K-1, 2K-1, ...) kills inside the commit instead "
                        "(default 4; 0: never)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and delays (default 0)")
    parser.add_argument("--embed-model", help="passed to qa index and qa status (default: qa's own)")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, help="also write the figures and every run here")
    args = parser.parse_args()
    if not 0 < args.pristine < args.articles:
        parser.error("--pristine must be between 0 and --articles")

    began = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    qa = qa_command()
    extra = ["--embed-model", args.embed_model] if args.embed_model else []
    if args.embed_model:
        os.environ["QA_EMBED_MODEL"] = args.embed_model  # the same model for qa.retrieve here
    articles = make_corpus(args.articles, args.seed)
    corpus, first = work / "corpus", work / "first"
    write_corpus(articles, corpus)
    write_corpus(articles[: args.pristine], first)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    pristine = work / "pristine"
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    say(f"work folder {work}; qa runs as: {' '.join(qa[:2])} ...")
    code, seconds = run_to_end(qa, first, pristine, extra, logs / "pristine.log")
    status = qa_status(qa, pristine, extra)
    if code != 0 or not status.ok or status.articles != args.pristine:
        raise SystemExit(f"could not build the pristine index (exit {code}):\n{status.output}")
    say(f"pristine index: {status.articles} articles, {status.passages} passages in {seconds:.1f} s")
    cal = calibrate(qa, corpus, pristine, work / "calibration", extra, logs / "calibration.log")
    if cal.articles != args.articles:
        raise SystemExit(f"the uninterrupted run left {cal.articles} articles, not {args.articles}")
    say(f"full run: {cal.total_s:.1f} s; lock at {cal.to_lock_s:.1f} s, progress bar at "
        f"{cal.to_indexing_s:.1f} s, save {cal.save_s:.3f} s, commit to exit {cal.after_commit_s:.1f} s; "
        f"{cal.articles} articles")
    shutil.rmtree(work / "calibration", ignore_errors=True)

    rng = random.Random(f"kill-index-delays-{args.seed}")
    runs: list[Run] = []
    for n in range(1, args.runs + 1):
        t0 = time.monotonic()
        # runs 3, 7, 11, ... for the default 4: never a resume run (10, 20, ...), which follow uniform kills
        mode = "commit" if args.commit_every and (n + 1) % args.commit_every == 0 else "uniform"
        delay = rng.uniform(0.0, commit_span(cal) if mode == "commit" else cal.work_s)
        index = work / f"run-{n:03d}"
        shutil.copytree(pristine, index)
        run = kill_run(n, mode, delay, qa, corpus, index, extra, logs / f"run-{n:03d}.log")
        status = qa_status(qa, index, extra)
        run.status_code, run.status_ok = status.returncode, status.ok
        run.articles, run.passages, run.leftovers = status.articles, status.passages, status.leftovers
        if not status.ok:
            run.error = f"qa status exit {status.returncode}: {status.output[-1500:]}"
        asked = articles[(n - 1) % args.pristine]
        run.answers, run.hits, run.asked_found, error = check_retrieve(
            index, f"What happened in {asked.place}?", asked.stem)
        if error:
            run.error = f"{run.error}; {error}" if run.error else error
        if args.resume_every and n % args.resume_every == 0:
            run.resumed = True
            code, run.resume_s = run_to_end(qa, corpus, index, extra, logs / f"run-{n:03d}-resume.log")
            after = qa_status(qa, index, extra)
            run.resume_articles = after.articles
            run.resume_ok = code == 0 and after.ok and after.articles == args.articles
            if not run.resume_ok:
                run.notes.append(f"resume exit {code}: {after.output[-800:]}")
        run.seconds = time.monotonic() - t0
        runs.append(run)
        outcome = ("loads+answers" if run.loads_and_answers else "FAILED") + f", kept {run.articles}"
        if run.resumed:
            outcome += f", resume {'OK' if run.resume_ok else 'FAILED'} ({run.resume_articles})"
        say(f"run {n}/{args.runs} [{mode}] delay {delay:.3f} s: {run.landed}; {outcome}"
            + (f"; {run.error}" if run.error else "") + (f"; {'; '.join(run.notes)}" if run.notes else ""))
        if run.loads_and_answers and not run.notes and not args.keep:
            shutil.rmtree(index, ignore_errors=True)

    summary = summarize(runs, args, cal, time.monotonic() - began)
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary, "calibration": asdict(cal),
                                         "run_list": [asdict(r) for r in runs]}, indent=1), encoding="utf-8")
    failed = bool(summary["failures"])
    if failed:
        say(f"failures: the killed indexes are kept in {work}")
    elif not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
