"""The Python QA function: `ask`, `retrieve`, and the `Assistant` behind them.

An `Assistant` holds one index and the two models; it retrieves passages,
abstains early when none is relevant, prompts the generator, and checks the
draft's citations (`qa.answer.cite`). Module-level `ask`/`retrieve` share one assistant
per index folder and one copy of each model per process. The CLI, the UI and
the eval call this module; it imports none of them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from qa.answer.cite import Grounded, ground
from qa.answer.focus import focus_hits
from qa.answer.gate import AnswerGate
from qa.answer.injection import split_question
from qa.answer.intent import YES_NO, parse_intent
from qa.answer.judge import Judge, LearnedJudge
from qa.answer.prompt import ABSTAIN_TEXT, build_messages, build_rewrite_messages
from qa.answer.timeline import apply_timeline
from qa.errors import IndexingInProgressError, IndexMissingError, InvalidQuestionError, QuestionTooLongError
from qa.ingest.dates import as_of_date
from qa.models.embed import Embedder
from qa.models.generate import Generator, TransformersGenerator, llm_backend
from qa.records import Answer, Hit
from qa.search.retrieve import retrieve as hybrid_retrieve
from qa.settings import Settings, apply_process_defaults, env
from qa.store.index_store import IndexStore, current_generation, require_nonempty
from qa.store.indexer import IndexReport, ensure_seed_index, index_paths, remove_articles
from qa.store.lock import Notify, writer_at_work
from qa.text import content_terms

History = Sequence[tuple[str, str]]
_FOLLOW_UP_RE = re.compile(
    r"\b(he|she|it|they|them|their|his|her|its|those|these|that|this|there|then|ones?)\b", re.I
)


def check_question(question: object, max_chars: int) -> str:
    """The question stripped; raises InvalidQuestionError or QuestionTooLongError."""
    if not isinstance(question, str):
        raise InvalidQuestionError("the question must be text")
    cleaned = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", question)
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) != "Cf").strip()  # zero-width, bidi
    if not cleaned:
        raise InvalidQuestionError("the question is empty")
    if len(cleaned) > max_chars:
        raise QuestionTooLongError(
            f"the question is {len(cleaned):,} characters; the limit is {max_chars:,}"
        )
    return cleaned


def is_relevant(question: str, hits: Sequence[Hit], min_dense: float) -> bool:
    """Whether any passage is close enough to be worth asking the model about.

    Relevant when a passage's cosine similarity reaches `min_dense`, or when one
    passage shares at least two of the question's content terms (a lexical match
    the small embedding model can miss). Otherwise the assistant abstains early.
    """
    if not hits:
        return False
    if max(h.dense_score for h in hits) >= min_dense:
        return True
    wanted = set(content_terms(question))
    return any(len(wanted & set(content_terms(h.text))) >= min(2, len(wanted)) for h in hits
               if h.lexical_score > 0)


class Assistant:
    """Answers questions from one index with one embedder and one generator."""

    def __init__(self, index_dir: str | Path | None = None, embedder: Embedder | None = None,
                 generator: Generator | None = None, settings: Settings | None = None) -> None:
        apply_process_defaults()
        self.settings = settings or Settings.from_env()
        if index_dir is not None:
            self.settings = replace(self.settings, index_dir=Path(index_dir).expanduser())
        if embedder is None and self.settings.embed_url:
            embedder = shared_embedder(self.settings.embed_model, url=self.settings.embed_url,
                                       api_key=self.settings.embed_api_key)
        self.embedder = embedder or shared_embedder(self.settings.embed_model)
        self._generator = generator
        self.judge: Judge = LearnedJudge(embed=self.embedder.embed)
        self.gate = AnswerGate(embed=self.embedder.embed) if self.settings.answer_gate else None
        self._store: IndexStore | None = None
        self._store_key: object = None
        self._lock = threading.Lock()

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    @property
    def generator(self) -> Generator:
        """The language model (shared per process; loaded on first answer)."""
        if self._generator is None:
            backend = self.settings.llm_backend
            if llm_backend(backend) == "openai":
                s = self.settings
                self._generator = shared_generator(s.llm_model, backend="openai", url=s.llm_url,
                                                   api_key=s.llm_api_key, timeout=s.llm_timeout)
            else:
                self._generator = (shared_generator(self.settings.llm_model, backend=backend) if backend
                                   else shared_generator(self.settings.llm_model))
        return self._generator

    def preload(self) -> threading.Thread:
        """Start loading the language model in a background thread and return at once, so it loads
        while the index and the embedder open. A load error is not raised here: the first answer
        that needs the model raises it."""

        def load() -> None:
            with contextlib.suppress(Exception):  # the first answer retries the load and raises
                self.generator.load()

        thread = threading.Thread(target=load, name="qa-preload", daemon=True)
        thread.start()
        return thread

    @property
    def store(self) -> IndexStore:
        """The index, reloaded when another process has saved a new generation."""
        with self._lock:
            if self._store is None and self.settings.is_default_index():
                ensure_seed_index(self.index_dir, self.embedder, store_settings=self.settings.store())
            key = _generation_key(self.index_dir)
            if self._store is None or key != self._store_key:
                store = _load_or_say_why(self.index_dir, self.settings)
                store.check_embedder(self.embedder)
                self._store, self._store_key = store, key
            return self._store

    # ---- questions -------------------------------------------------------------------------
    def retrieve(self, question: str, k: int = 5, as_of: str | None = None) -> list[Hit]:
        """The k best passages for a question, best first; none published after `as_of` (YYYY-MM-DD)."""
        question = check_question(question, self.settings.max_question_chars)
        as_of = as_of_date(as_of)
        store = self.store
        require_nonempty(store)
        return hybrid_retrieve(store, self.embedder, question, k=k, as_of=as_of)

    def ask(self, question: str, history: History | None = None, k: int | None = None,
            max_new_tokens: int | None = None, as_of: str | None = None) -> Answer:
        """Answer with cited passages, or abstain; see `ask_stream` for the streamed form."""
        answer: Answer | None = None
        for event in self.ask_stream(question, history=history, k=k, max_new_tokens=max_new_tokens,
                                     as_of=as_of):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(self, question: str, history: History | None = None, k: int | None = None,
                   max_new_tokens: int | None = None, as_of: str | None = None) -> Iterator[str | Answer]:
        """Yield the model's draft piece by piece (str), then the checked `Answer` last.

        With `as_of` (YYYY-MM-DD) no article published after it is retrieved or cited, and
        relative time in the question is counted from it (else from today)."""
        started = time.perf_counter()
        question = check_question(question, self.settings.max_question_chars)
        as_of = as_of_date(as_of)
        k = k or self.settings.passages
        max_new_tokens = max_new_tokens or self.settings.max_new_tokens
        timings: dict[str, float] = {}
        split = split_question(question)
        standalone = self.standalone_question(split.asked, history or [])
        timings["rewrite"] = time.perf_counter() - started
        store = self.store
        require_nonempty(store)
        t0 = time.perf_counter()
        hits = hybrid_retrieve(store, self.embedder, standalone, k=k, as_of=as_of)
        timings["retrieve"] = time.perf_counter() - t0
        answer = Answer(question=question, text=ABSTAIN_TEXT, passages=hits,
                        standalone_question=standalone if standalone != question else "")
        if split.instructions:
            answer.changes.append(f"ignored instructions in the question: {split.instructions!r}")
        if not is_relevant(standalone, hits, self.settings.min_relevance):
            answer.abstained = True
            answer.abstain_reason = "no passage is relevant enough to the question"
            timings["total"] = time.perf_counter() - started
            answer.timings = timings
            yield answer
            return
        t0 = time.perf_counter()
        pieces: list[str] = []
        yes_no = parse_intent(standalone).kind == YES_NO
        prompt_hits = focus_hits(standalone, hits, self.embedder.embed, self.settings.focus_chars)
        timings["focus"] = time.perf_counter() - t0
        messages = build_messages(standalone, prompt_hits, yes_no=yes_no, as_of=as_of)
        for piece in self.generator.stream(messages, max_new_tokens):
            if not pieces:
                timings["first_token"] = time.perf_counter() - started
            pieces.append(piece)
            yield piece
        timings["generate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        answer.draft = "".join(pieces)
        grounded = ground(answer.draft, hits, question=standalone, judge=self.judge)
        grounded = self._gated(standalone, grounded, hits, answer.draft)
        timings["cite"] = time.perf_counter() - t0
        answer.text = grounded.text
        answer.citations = grounded.citations
        answer.abstained = grounded.abstained
        answer.abstain_reason = grounded.abstain_reason
        answer.changes += grounded.changes
        answer.accounts = grounded.accounts
        apply_timeline(answer, standalone, hits, as_of)  # dated figures: the latest and how it changed
        timings["total"] = time.perf_counter() - started
        answer.timings = timings
        yield answer

    def _gated(self, question: str, grounded: Grounded, hits: list[Hit], draft: str) -> Grounded:
        """The checked answer, or an abstention when the answer gate finds it likely wrong."""
        if self.gate is None or grounded.abstained:
            return grounded
        usage = self.generator.last_usage or {}
        verdict = self.gate.verdict(question, grounded, hits, draft, self.generator.last_logprob,
                                    usage.get("new_tokens"))
        if verdict.keep:
            return grounded
        threshold = self.gate.model.threshold if self.gate.model else 0.0
        note = (f"withheld the checked answer: the answer gate's score {verdict.score:.2f} < "
                f"{threshold:.2f}: {grounded.text!r}")
        return Grounded(ABSTAIN_TEXT, [], True, "the passages seem not to answer the question",
                        [*grounded.changes, note], grounded.accounts)

    def standalone_question(self, question: str, history: History) -> str:
        """A follow-up rewritten with the conversation into a standalone question.

        Only questions that lean on the conversation (pronouns, or very short) are
        rewritten, by the language model; others are returned unchanged.
        """
        if not history:
            return question
        if not _FOLLOW_UP_RE.search(question) and len(question.split()) > 4:
            return question
        history = [(q, a) for q, a in history if q and a][-3:]
        if not history:
            return question
        rewritten = self.generator.generate(build_rewrite_messages(question, history), 48)
        rewritten = rewritten.strip().splitlines()[0].strip().strip('"') if rewritten.strip() else ""
        return rewritten if 3 <= len(rewritten) <= self.settings.max_question_chars else question

    # ---- the collection --------------------------------------------------------------------
    def add(self, paths: Sequence[str | Path], progress: bool = False, rebuild: bool = False,
            follow_links: bool = False, notify: Notify | None = None) -> IndexReport:
        """Index files or folders into this assistant's index (upsert by content hash).

        Links inside folders that lead out of them are followed only with `follow_links`;
        `notify` gets a line when the run waits for another writer or meets a huge article.
        """
        report = index_paths(self.index_dir, paths, self.embedder, progress=progress,
                             rebuild=rebuild, store_settings=self.settings.store(),
                             follow_links=follow_links, notify=notify)
        return report

    def remove(self, doc_ids: Sequence[str], notify: Notify | None = None) -> list[str]:
        """Delete articles from this assistant's index; returns the doc ids removed."""
        return remove_articles(self.index_dir, doc_ids, store_settings=self.settings.store(),
                               notify=notify)


def _load_or_say_why(index_dir: Path, settings: Settings) -> IndexStore:
    """The index; while its first articles are still being indexed, a message saying so."""
    try:
        return IndexStore.load(index_dir, settings.store())
    except IndexMissingError:
        writer = writer_at_work(index_dir)
        if not writer:
            raise
        who = f" ({writer.describe()})" if not isinstance(writer, bool) else ""
        raise IndexingInProgressError(
            f"the first articles are still being indexed into {index_dir}{who}; "
            "ask again when indexing is done") from None


def _generation_key(index_dir: Path) -> object:
    pointer = index_dir / "CURRENT"
    try:
        stat = pointer.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, str(current_generation(index_dir)))


# ---- process-wide sharing -----------------------------------------------------------------
_shared_lock = threading.Lock()
_embedders: dict[str, Embedder] = {}
_generators: dict[str, Generator] = {}
_assistants: dict[tuple, Assistant] = {}


def shared_embedder(model: str | None = None, url: str | None = None,
                    api_key: str | None = None) -> Embedder:
    """One embedder per model setting (and served URL, `QA_EMBED_URL`) per process."""
    key = model or env("QA_EMBED_MODEL")
    if not url:
        from qa.models.embed_openvino import embed_backend

        key = f"{key}|{embed_backend()}"
    else:
        from qa.models.generate_openai import key_fingerprint

        key = f"{key}|{url}|{key_fingerprint(api_key)}"
    with _shared_lock:
        if key not in _embedders:
            if url:
                from qa.models.embed_openai import OpenAIEmbedder

                _embedders[key] = OpenAIEmbedder(model, url=url, api_key=api_key)
            else:
                from qa.models.embed_openvino import make_local_embedder

                _embedders[key] = make_local_embedder(model)
        return _embedders[key]


def shared_generator(model: str | None = None, backend: str | None = None, url: str | None = None,
                     api_key: str | None = None, timeout: float | None = None) -> Generator:
    """One generator per model and backend setting per process.

    `backend` is "transformers", "openvino", "llama.cpp" or "openai" (default: env QA_LLM_BACKEND,
    else `qa.models.generate.DEFAULT_LLM_BACKEND`); the first three run the same model setting, "openai"
    the served model of that name at `url` (default: QA_LLM_URL).
    """
    backend = llm_backend(backend)
    key = f"{backend}|{model or env('QA_LLM_MODEL')}"
    if backend == "openai":
        from qa.models.generate_openai import key_fingerprint

        key = f"{key}|{url or ''}|{key_fingerprint(api_key)}|{timeout or ''}"
    with _shared_lock:
        if key not in _generators:
            if backend == "openai":
                from qa.models.generate_openai import OpenAIGenerator

                _generators[key] = OpenAIGenerator(model, url=url, api_key=api_key, timeout=timeout)
            elif backend == "llama.cpp":
                from qa.models.generate_llamacpp import LlamaCppGenerator

                _generators[key] = LlamaCppGenerator(model)
            elif backend == "openvino":  # falls back to transformers, with one line, if it cannot run
                from qa.models.generate_openvino import make_openvino_generator

                _generators[key] = make_openvino_generator(model)
            else:
                _generators[key] = TransformersGenerator(model)
        return _generators[key]


def get_assistant(index_dir: str | Path | None = None) -> Assistant:
    """The shared assistant for an index folder (the default index when None)."""
    settings = Settings.from_env(index_dir=index_dir)
    key = (str(settings.index_dir.resolve()), settings.embed_model, settings.llm_model,
           settings.llm_backend, settings.llm_url, settings.embed_url, settings.vector_store,
           settings.milvus_uri)
    with _shared_lock:
        assistant = _assistants.get(key)
    if assistant is None:
        assistant = Assistant(settings=settings)
        with _shared_lock:
            assistant = _assistants.setdefault(key, assistant)
    return assistant


def ask(question: str, index_dir: str | Path | None = None, history: History | None = None,
        k: int | None = None, max_new_tokens: int | None = None, as_of: str | None = None) -> Answer:
    """Answer a question from the articles in an index (default: the seed corpus), as of a date."""
    return get_assistant(index_dir).ask(question, history=history, k=k,
                                        max_new_tokens=max_new_tokens, as_of=as_of)


def retrieve(question: str, k: int = 5, index_dir: str | Path | None = None,
             as_of: str | None = None) -> list[Hit]:
    """The k best passages for a question from an index (default: the seed corpus), as of a date."""
    return get_assistant(index_dir).retrieve(question, k=k, as_of=as_of)
