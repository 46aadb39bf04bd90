"""Dense vectors keyed by chunk id, and the policy that picks the FAISS index type by size.

Two index types, both with the chunk ids stored inside the index:

* up to `Policy.flat_max` (20,000) vectors, exact search: `IndexIDMap2(IndexFlatIP)`;
* above it, approximate search: an IVF index storing float16 vectors,
  `IndexIVFScalarQuantizer(QT_fp16)` (inner product, no residuals; the coarse quantizer an
  `IndexFlatIP` of nlist = 4*sqrt(n) centroids; nprobe = nlist/6) with its own ids and a
  hashtable direct map.

At 1M synthetic passages (benchmarks/bench_ivf_policy.py) 4*sqrt(n) lists reach a higher
recall@10 than 2*sqrt(n) at nprobe = nlist/6 for the same scan cost; 8*sqrt(n) gained little
more and trained much longer. A single query that scans many vectors splits its lists over the
OpenMP threads (FAISS `parallel_mode` 1); small scans stay on one thread (see `search`).
The figures behind each choice are in benchmarks/README.md.

IVF rather than HNSW or IVF under an IndexIDMap2: `IndexIVF.remove_ids` deletes vectors
physically (each inverted list shrinks), `add_with_ids` takes arbitrary ids, and the
hashtable direct map makes `reconstruct(chunk_id)` work, so upserts and removes stay as
they are at every size and no compaction step is ever needed. HNSW cannot remove (it
would need tombstones and periodic rebuilds; in benchmarks/bench_retrieval.py it was faster
per query but reached a lower recall and took longer to build), and an IndexIDMap2 over an
IVF index leaves its id map and the lists out of step on removal.
float16 rather than float32 lists (IVF-Flat): the same recall, half the memory, and a
faster scan (memory bound); the price is that scores and reconstructed
vectors are rounded to float16 (cosines off by about 1e-3). 8-bit codes were as fast
but lost recall.
benchmarks/bench_retrieval.py measures the trade-off (latency, recall@10 against exact
search, build time) that the numbers below come from.

Retraining is rare: `fit` (called after every change) only rebuilds the index when the
policy's type for the current size differs from the index's, or when an IVF index's
`nlist` is off by a factor of two from what the current size calls for (`nlist` grows
with the square root of the size, so that is a 4x growth or shrink since training), or
when its lists have become badly unbalanced (the passages drifted away from the
centroids). Between flat and IVF there is hysteresis: IVF from above `flat_max`, back to
flat only below `flat_max // 2`. A rebuild trains on a seeded sample of 40 vectors per
list (10 k-means iterations), so it is deterministic for the same vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLAT = "flat"
IVF = "ivf-fp16"


@dataclass(frozen=True)
class Policy:
    """When to leave exact search, and how the IVF index is shaped and trained."""

    flat_max: int = 20_000        # exact search up to this many vectors
    lists_per_sqrt: float = 4.0   # nlist = lists_per_sqrt * sqrt(n), at most n // points_per_list
    points_per_list: int = 40     # training sample per centroid (FAISS warns below 39)
    nprobe_fraction: float = 1 / 6  # lists searched per query, as a share of nlist...
    nprobe_min: int = 16          # ...but at least this many
    train_iterations: int = 10
    max_imbalance: float = 4.0    # retrain when FAISS's list imbalance factor exceeds this
    seed: int = 1234
    parallel_scan_min: int = 50_000  # a query scanning this many vectors splits its lists over threads

    def nlist(self, n: int) -> int:
        return max(1, min(int(self.lists_per_sqrt * math.sqrt(max(n, 1))), n // self.points_per_list))

    def nprobe(self, nlist: int) -> int:
        return min(nlist, max(self.nprobe_min, round(nlist * self.nprobe_fraction)))


POLICY = Policy()


def _faiss():
    import faiss

    return faiss


def new_flat(dimension: int):
    """An empty exact index."""
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def kind(index) -> str:
    """FLAT or IVF; ValueError for any other FAISS index."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexIDMap2) and isinstance(faiss.downcast_index(index.index),
                                                           faiss.IndexFlatIP):
        return FLAT
    if (isinstance(index, faiss.IndexIVFScalarQuantizer) and not index.by_residual
            and index.sq.qtype == faiss.ScalarQuantizer.QT_fp16):
        return IVF
    raise ValueError(f"a {type(index).__name__}, neither IndexIDMap2(IndexFlatIP) nor a float16 "
                     "IndexIVFScalarQuantizer")


def describe(index) -> str:
    """One line: type and shape, e.g. 'ivf-fp16 nlist=632 nprobe=105'."""
    if kind(index) == FLAT:
        return "flat (exact)"
    return f"{IVF} nlist={index.nlist} nprobe={index.nprobe}"


def ids(index) -> np.ndarray:
    """Every id the index holds (int64), in storage order."""
    faiss = _faiss()
    if kind(index) == FLAT:
        return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    invlists = index.invlists
    parts = []
    for lst in range(index.nlist):
        size = invlists.list_size(lst)
        if size:
            parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def contents(index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of everything the index holds, as copies (float16-rounded from IVF)."""
    d = index.d
    held = ids(index)
    if not len(held):
        return held, np.zeros((0, d), np.float32)
    if kind(index) == FLAT:
        return held, index.index.reconstruct_n(0, index.ntotal).reshape(-1, d)
    return held, index.reconstruct_batch(held).reshape(-1, d)


def build_ivf(ids_: np.ndarray, vectors: np.ndarray, policy: Policy | None = None):
    """A trained float16 IVF index holding `vectors` under `ids_` (training on a seeded sample)."""
    faiss = _faiss()
    policy = policy or POLICY
    n, d = vectors.shape
    nlist = policy.nlist(n)
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    index.by_residual = False
    index.own_fields = True
    quantizer.this.disown()
    index.cp.niter = policy.train_iterations
    index.cp.seed = policy.seed
    index.cp.max_points_per_centroid = policy.points_per_list + 1
    index.cp.min_points_per_centroid = min(39, policy.points_per_list)
    sample_size = min(n, nlist * policy.points_per_list)
    sample = np.random.default_rng(policy.seed).choice(n, sample_size, replace=False) \
        if sample_size < n else np.arange(n)
    index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.nprobe = policy.nprobe(nlist)
    if n:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                           np.ascontiguousarray(ids_, dtype=np.int64))
    return index


def target(index, policy: Policy | None = None) -> tuple[str, int]:
    """(kind, nlist) the policy wants for this index's size, keeping the current shape when
    it is still good enough (the hysteresis and retrain rules of the module docstring)."""
    policy = policy or POLICY
    n, current = index.ntotal, kind(index)
    if current == FLAT:
        return (IVF, policy.nlist(n)) if n > policy.flat_max else (FLAT, 0)
    if n < policy.flat_max // 2:
        return FLAT, 0
    wanted = policy.nlist(n)
    if (wanted >= 2 * index.nlist or 2 * wanted <= index.nlist
            or index.invlists.imbalance_factor() > policy.max_imbalance):
        return IVF, wanted
    return IVF, index.nlist


def fit(index, policy: Policy | None = None):
    """The index itself when it suits its size, else a rebuilt one (flat <-> IVF, or IVF
    retrained). Cheap to call after every change: a rebuild happens only on the rare
    transitions described in the module docstring."""
    policy = policy or POLICY
    want, nlist = target(index, policy)
    if want == kind(index) and (want == FLAT or nlist == index.nlist):
        return index
    ids_, vectors = contents(index)
    if want == FLAT:
        flat = new_flat(index.d)
        if len(ids_):
            flat.add_with_ids(vectors, ids_)
        return flat
    return build_ivf(ids_, vectors, policy)


def add(index, vectors: np.ndarray, ids_: np.ndarray) -> None:
    """Add vectors under chunk ids (no rebuild; call `fit` after a batch of changes)."""
    if len(ids_):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                           np.ascontiguousarray(ids_, dtype=np.int64))


def remove(index, ids_: np.ndarray) -> int:
    """Delete vectors by chunk id, physically; returns how many were removed."""
    faiss = _faiss()
    ids_ = np.ascontiguousarray(ids_, dtype=np.int64)
    if not len(ids_):
        return 0
    if kind(index) == IVF:  # the hashtable direct map removes only through an id array
        return index.remove_ids(faiss.IDSelectorArray(len(ids_), faiss.swig_ptr(ids_)))
    return index.remove_ids(ids_)


def vector(index, chunk_id: int) -> np.ndarray:
    """The stored vector of one chunk id (KeyError when absent)."""
    try:
        return index.reconstruct(int(chunk_id))
    except RuntimeError as exc:
        raise KeyError(chunk_id) from exc


def search(index, query: np.ndarray, k: int,
           allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the k best for one or more queries; ids of -1 mean 'no more found'.

    With `allowed` (chunk ids), only those are candidates (a FAISS id selector, so an
    IVF index still scans only its nprobe lists).

    A single query runs on one OpenMP thread (the setting is per calling thread and is
    restored): FAISS would otherwise split one flat scan over all cores, which on a small
    machine shared with the language model and other jobs made searches many times slower
    (threads waiting for a busy core), not faster (benchmarks/README.md). The
    exception is an IVF query expected to scan at least `Policy.parallel_scan_min`
    vectors (about 250k passages and up): its inverted lists are split over all threads,
    which cuts the latency at 1M passages. (qa's entry points set OMP_WAIT_POLICY=PASSIVE,
    so idle threads sleep rather than spin.)
    """
    faiss = _faiss()
    query = np.ascontiguousarray(np.asarray(query, np.float32).reshape(-1, index.d))
    extra: dict = {}
    if allowed is not None:
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        selector = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        extra["params"] = (faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
                           if kind(index) == IVF else faiss.SearchParameters(sel=selector))
    if len(query) > 1:
        if kind(index) == IVF:
            index.parallel_mode = 0  # many queries: one query per thread
        return index.search(query, k, **extra)
    if kind(index) == IVF and index.ntotal * index.nprobe / index.nlist >= POLICY.parallel_scan_min:
        index.parallel_mode = 1  # split this query's lists over the threads
        return index.search(query, k, **extra)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(query, k, **extra)
    finally:
        faiss.omp_set_num_threads(threads)


def write(index, path: Path) -> None:
    """Serialize the index to a file (FAISS's own format)."""
    _faiss().write_index(index, str(path))


def from_bytes(data: bytes):
    """An index from the bytes `write` produced; RuntimeError when FAISS cannot read them."""
    faiss = _faiss()
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


def verify(index, dimension: int, expected_ids: set[int]) -> None:
    """ValueError unless the index is one of the two types, whole, of `dimension` dims and
    holding exactly `expected_ids`."""
    faiss = _faiss()
    kind_ = kind(index)
    if index.d != dimension or index.ntotal != len(expected_ids):
        raise ValueError(f"{index.ntotal} vectors of {index.d} dims for {len(expected_ids)} "
                         f"passages of {dimension} dims")
    if kind_ == IVF:
        quantizer = faiss.downcast_index(index.quantizer)
        if (index.metric_type != faiss.METRIC_INNER_PRODUCT or not index.is_trained
                or not isinstance(quantizer, faiss.IndexFlatIP) or quantizer.ntotal != index.nlist
                or quantizer.d != dimension or not 1 <= index.nprobe <= index.nlist
                or index.direct_map.type != faiss.DirectMap.Hashtable):
            raise ValueError("the IVF vectors are not an inner-product float16 IVF with a flat "
                             "quantizer, its trained centroids and an id hashtable")
    held = ids(index)
    if len(held) != len(expected_ids) or set(held.tolist()) != expected_ids:
        raise ValueError("the vector ids do not match the passage ids")
