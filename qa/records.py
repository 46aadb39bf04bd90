"""The plain dataclasses that flow through `qa`: articles, chunks, hits, citations, answers.

They hold data only; the pipeline modules compute them. All serialise with
`dataclasses.asdict` (the CLI's `--json` and the eval's JSON file use that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Article:
    """One cleaned article. `text` is what chunk offsets point into."""

    doc_id: str
    text: str
    title: str = ""
    url: str = ""
    published: str = ""
    source_path: str = ""
    content_hash: str = ""


@dataclass
class Chunk:
    """A passage of an article: `article.text[start:end] == text`."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass
class Hit:
    """A retrieved passage, best first.

    `score` is the fused rank score (reciprocal-rank fusion of dense and BM25);
    `dense_score` is the cosine similarity to the question and `lexical_score`
    the BM25 score, each 0.0 where that retriever did not return the passage.
    `published` is the article's date ("" when undated); `copies` lists the other
    articles that are syndicated copies of this one (doc_id, title, url, published).
    """

    doc_id: str
    chunk_id: int
    text: str
    score: float
    title: str = ""
    start: int = 0
    end: int = 0
    dense_score: float = 0.0
    lexical_score: float = 0.0
    url: str = ""
    published: str = ""
    copies: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Citation:
    """A passage the answer cites as `[n]`; `cited_by` lists answer sentence indexes."""

    n: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    url: str = ""
    published: str = ""
    cited_by: list[int] = field(default_factory=list)
    copies: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Account:
    """One reported figure for a count: who gives it, when, and the citation `[n]` it is from.

    `counts` is what is counted ("hostages freed"), `figure` the figure as the passage
    writes it, `value` its number where it has one, `source` who the passage says gives
    it ("" when it names no one), `date` the article's published date ("" when undated),
    `sentence` the passage sentence it is read from. `in_text` is true when the answer's
    text states it.
    """

    counts: str
    figure: str
    citation: int
    source: str = ""
    date: str = ""
    value: float | None = None
    sentence: str = ""
    doc_id: str = ""
    in_text: bool = False


@dataclass
class Answer:
    """What `qa.ask` returns.

    `text` carries `[n]` markers that each name one of `citations`. When
    `abstained` is true the text says the articles don't say and `citations`
    is empty; `passages` still lists the closest passages for a reader.
    `changes` says what the citation check altered in the model's draft
    (`draft`); `accounts` lists the figures the cited passages report for the
    count asked about, with source and date; `timings` holds seconds per stage.
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    abstain_reason: str = ""
    passages: list[Hit] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    draft: str = ""
    standalone_question: str = ""
    accounts: list[Account] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The answer as plain JSON-able data."""
        return asdict(self)
