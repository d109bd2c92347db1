"""The library's vector index: which FAISS index it is, when it is (re)trained, how it is kept and searched.

The catalog holds every passage's float32 embedding; ``vectors.faiss`` is derived from it. Its type follows
the library's size (``VectorPolicy``):

- up to ``exact_max`` passages (50,000): ``IDMap2,Flat``, exact inner-product search, nothing to train;
- above: ``IVF{nlist},SQ8``: an inverted file of ``nlist`` k-means lists (nlist ≈ 2·√n, a power of two)
  over 8-bit scalar-quantised vectors (a quarter of float32's memory: 1M × 384 → 390 MB). A query scans the
  ``nprobe`` nearest lists (optionally, ``refine``, the best ``refine × k`` candidates are then re-scored
  exactly against the catalog's float32 embeddings). ``nprobe`` is tuned when the index is trained: the
  smallest value whose recall@10 against exact search reaches ``target_recall`` on stand-in queries drawn
  from the library's own vectors (``tuning_queries``). Where 8-bit codes need more than ``codes_max_share``
  of the lists for that (a model whose vectors sit too close together for them: multilingual-e5-small), the
  index is built again with ``SQfp16`` codes, and the one that needs fewer lists is kept. IVF keeps FAISS's
  own passage ids, so deleting a talk removes its vectors in place. (HNSW was not chosen: FAISS cannot remove
  vectors from it, its graph costs more memory than the SQ8 codes themselves, and building it is far slower
  than training IVF.)

The index is retrained from the catalog, in the writer, only when the library has grown (or shrunk) ``regrow``
times (4×) past the size it was trained at, or crosses ``exact_max``; in between, new passages are added to
the trained lists (``add_with_ids``) and removed ones taken out. The type, the size it was trained at and
the tuned parameters are recorded in the catalog's meta table (``index_factory``, ``index_trained_size``,
``index_params``); FAISS also stores ``nprobe`` in the file itself.

The writer does not rewrite the file on every talk: it saves (atomically: a temporary file, fsync,
``os.replace``) once ``save_fraction`` of the library (at least ``save_min``, at most ``save_max``
passages) has changed, when it retrains, and when it closes. Readers memory-map the file (IVF lists are
mapped read-only, ``IO_FLAG_MMAP``, so its pages are shared and evictable) and keep it in line with the
catalog snapshot they read: catalog passages the file does not have yet are searched exactly from a small
in-memory ``delta``; passages the file still has but the catalog no longer does are filtered out by an
``IDSelector``. A search therefore always sees exactly the committed talks, whole.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

EXACT = "IDMap2,Flat"
_NPROBES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)

Chunks = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]  # yields (ids, vectors), every catalog passage once
Lookup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # ids -> (ids found, their float32 vectors)


@dataclass(frozen=True)
class VectorPolicy:
    """How the vector index follows the library's size. The defaults are what the library uses;
    tests and benchmarks pass their own to ``Library.open(..., vector_policy=...)``."""

    exact_max: int = 50_000  # up to this many passages: exact search
    regrow: float = 4.0  # retrain when the library is this many times larger (or smaller) than when trained
    lists_per_sqrt: float = 2.0  # nlist ≈ this × √n, rounded to a power of two
    min_lists: int = 16
    max_lists: int = 65_536
    quantizer: str = "SQ8"  # codes in the IVF lists: "SQ8", "SQfp16" or "Flat" (float32)
    # Quantised codes: take refine × k candidates and re-score them exactly with the catalog's float32 vectors.
    # Off (1) by default: at a million passages it gains ~1 point of recall@10 (0.967 → 0.976 at nprobe 48) for
    # ~100 random reads of a 3 GB catalog per query (5-14 ms here); raising nprobe is cheaper.
    refine: int = 1
    target_recall: float = 0.96  # nprobe is the smallest reaching this recall@10 on the tuning queries
    # SQ8 codes that need more than this share of the lists to reach target_recall are the limit, not the lists:
    # the index is built again with 16-bit codes (twice the memory), and kept if it needs fewer lists. The
    # English models need 5-9% of the lists at 100k-1M passages; multilingual-e5-small with SQ8 needed all of them.
    codes_max_share: float = 0.125
    # A search within a few passages (a filter to a talk or two) scores them exactly from the catalog's vectors:
    # reading 2,000 of them costs less than scanning the lists they are spread over.
    exact_within: int = 2_000
    tune_queries: int = 200
    train_per_list: int = 40  # k-means training sample: this many vectors per list
    train_iterations: int = 10
    save_min: int = 1_000  # the writer rewrites the file after this many changed passages at least...
    save_fraction: float = 0.05  # ...or this share of the library...
    save_max: int = 20_000  # ...but never waits for more than this many
    mmap: bool = True  # readers memory-map the file's index (IVF lists, flat codes): its pages shared between them
    seed: int = 1234

    def factory(self, n: int) -> str:
        """The index for a library of ``n`` passages."""
        if n <= self.exact_max:
            return EXACT
        return f"IVF{self.nlist(n)},{self.quantizer}"

    def nlist(self, n: int) -> int:
        target = self.lists_per_sqrt * math.sqrt(max(n, 1))
        return int(min(self.max_lists, max(self.min_lists, 2 ** round(math.log2(target)))))

    def needs_training(self, factory: str, trained_size: int | None, n: int) -> bool:
        """Whether an index of type ``factory``, trained at ``trained_size`` passages, should be rebuilt for ``n``."""
        if factory == EXACT:
            return n > self.exact_max
        if n <= self.exact_max // 2:  # well back under the limit (hysteresis: no flapping at exact_max)
            return True
        trained = trained_size or 0
        return trained <= 0 or n >= self.regrow * trained or n * self.regrow <= trained

    def save_after(self, n: int) -> int:
        """Changed passages after which the writer rewrites the file."""
        return int(min(self.save_max, max(self.save_min, self.save_fraction * n)))


@dataclass
class IndexInfo:
    """What the meta table records about the index (``index_*`` keys)."""

    factory: str
    trained_size: int = 0
    nprobe: int | None = None
    refine: int | None = None
    tuned_recall_at_10: float | None = None

    def params(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k not in ("factory", "trained_size") and v is not None},
                          sort_keys=True)


# --- FAISS helpers ------------------------------------------------------------------------------


def _ivf(index: faiss.Index | None):
    return faiss.try_extract_index_ivf(index) if index is not None else None


def describe(index: faiss.Index) -> str:
    """The factory string an index was made with (as far as this module makes them)."""
    ivf = _ivf(index)
    if ivf is None:
        return EXACT
    ivf = faiss.downcast_index(ivf)
    codes = "Flat"
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        codes = {faiss.ScalarQuantizer.QT_8bit: "SQ8", faiss.ScalarQuantizer.QT_fp16: "SQfp16"}.get(ivf.sq.qtype, "SQ")
    return f"IVF{ivf.nlist},{codes}"


def is_quantised(index: faiss.Index | None) -> bool:
    return "SQ" in describe(index) if index is not None else False


def index_ids(index: faiss.Index | None) -> np.ndarray:
    """Every id an index holds, sorted (IDMap: its id map; IVF: the ids stored in its lists)."""
    if index is None or index.ntotal == 0:
        return np.empty(0, np.int64)
    ivf = _ivf(index)
    if ivf is None:
        return np.sort(faiss.vector_to_array(faiss.downcast_index(index).id_map).astype(np.int64))
    lists = ivf.invlists
    parts = []
    for number in range(ivf.nlist):
        size = lists.list_size(number)
        if size:
            ids = lists.get_ids(number)
            parts.append(faiss.rev_swig_ptr(ids, size).copy())
            lists.release_ids(number, ids)
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def read_index(path: Path, mmap: bool) -> faiss.Index | None:
    """The index in ``path``; ``None`` when it is missing or unreadable (it is rebuilt from the catalog)."""
    if not path.exists():
        return None
    try:
        # IO_FLAG_MMAP_IFC maps the codes of a flat index (a library's exact one, up to exact_max passages) and an
        # IVF index's lists alike; IO_FLAG_MMAP mapped the lists only, so every reader held a copy of its own of an
        # exact index (measured: 97 MB per reader for 100,000 × 256 floats, 0 mapped). Readers never add to the
        # file's index (their catch-up goes to a delta), so a read-only map serves them. (The two flags together
        # refuse an IVF file.)
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
    except RuntimeError:
        return None


def keep_permissions(path: Path, replacement: int) -> None:
    """Give the open file ``replacement`` (a descriptor), about to be renamed over ``path``, ``path``'s mode and
    group (the group where this process may: its owner in that group, or root). Made with this process's umask (077,
    a private user's), it took the place of a file others read (644: a service running as another user) unreadable."""
    try:
        before = os.stat(path)
    except FileNotFoundError:  # a new file: the umask is the user's say
        return
    with contextlib.suppress(OSError):
        os.fchown(replacement, -1, before.st_gid)
    os.fchmod(replacement, stat.S_IMODE(before.st_mode))  # after the group: a chown may clear the set-id bits


def write_atomically(index: faiss.Index, path: Path) -> None:
    """Write ``index`` to a temporary file, fsync it, and rename it over ``path`` (keeping its mode and group).

    The bytes go through Python's unbuffered file writes (``PyCallbackIOWriter``), not FAISS's own
    ``fopen``/``fclose``: FAISS ignores a failing ``fclose``, so on a full disk a small index could be left
    as a file of zero bytes without an error. Here a full disk raises ``OSError`` and ``path`` is untouched.
    """
    tmp = path.with_name(path.name + ".tmp")
    failed: list[OSError] = []

    def write(data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[handle.write(view):]  # a raw write may take only part of it
        except OSError as exc:
            failed.append(exc)
            raise

    try:
        with open(tmp, "wb", buffering=0) as handle:
            try:
                faiss.write_index(index, faiss.PyCallbackIOWriter(write))
            except RuntimeError:
                if failed:  # FAISS reports the callback's error as its own; the OSError says what happened
                    raise failed[0] from None
                raise
            keep_permissions(path, handle.fileno())
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _set_nprobe(index: faiss.Index, nprobe: int) -> None:
    faiss.ParameterSpace().set_index_parameter(index, "nprobe", int(nprobe))


# --- the index as a library uses it --------------------------------------------------------------


class VectorIndex:
    """The file's index (``base``) plus what the catalog has that the file does not yet (``delta``, exact)
    minus what the file has that the catalog no longer does (``stale``, filtered out).

    A writer's base is in memory and changed in place (``delta`` and ``stale`` stay empty); a reader's base is
    the file, memory-mapped and never changed."""

    def __init__(self, dimension: int, policy: VectorPolicy, base: faiss.Index | None = None,
                 file_signature_: tuple | None = None, writable: bool = False):
        self.dimension = dimension
        self.policy = policy
        self.base = base
        self.base_ids = index_ids(base)
        self.file_signature = file_signature_
        self.writable = writable
        self.delta = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.stale = np.empty(0, np.int64)
        self.dirty = 0  # passages added to or removed from a writer's base since the file was written
        self._selector = None
        self._quantised = is_quantised(base)

    @classmethod
    def load(cls, path: Path, dimension: int, policy: VectorPolicy, writable: bool) -> VectorIndex:
        signature = file_signature(path)
        base = read_index(path, mmap=policy.mmap and not writable)
        if base is not None and base.d != dimension:
            base = None
        return cls(dimension, policy, base, signature if base is not None else None, writable)

    # --- what it holds ---

    @property
    def ntotal(self) -> int:
        """Passages searchable: the file's, less the stale, plus the delta."""
        return len(self.base_ids) - len(self.stale) + self.delta.ntotal

    @property
    def factory(self) -> str:
        return describe(self.base) if self.base is not None else EXACT

    def live_ids(self) -> np.ndarray:
        delta_ids = faiss.vector_to_array(self.delta.id_map).astype(np.int64)
        live = np.setdiff1d(self.base_ids, self.stale, assume_unique=True) if len(self.stale) else self.base_ids
        return np.union1d(live, delta_ids) if len(delta_ids) else live

    @property
    def max_id(self) -> int:
        top = int(self.base_ids[-1]) if len(self.base_ids) else 0
        if self.delta.ntotal:
            top = max(top, int(faiss.vector_to_array(self.delta.id_map).max()))
        return top

    def file_changed(self, path: Path) -> bool:
        return file_signature(path) != self.file_signature

    # --- keeping it in line with the catalog ---

    def reconcile(self, catalog_ids: np.ndarray, lookup: Lookup) -> int:
        """Hold exactly ``catalog_ids`` (sorted): add what is missing (looked up in the catalog), drop what is
        gone. Returns how many passages changed."""
        live = self.live_ids()
        missing = np.setdiff1d(catalog_ids, live, assume_unique=True)
        gone = np.setdiff1d(live, catalog_ids, assume_unique=True)
        if len(gone):
            self.remove(gone)
        for start in range(0, len(missing), 50_000):
            self.add(*lookup(missing[start:start + 50_000]))
        return len(missing) + len(gone)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        if self.writable:
            if self.base is None:
                self.base = faiss.index_factory(self.dimension, EXACT, faiss.METRIC_INNER_PRODUCT)
            self.base.add_with_ids(vectors, ids)
            self.base_ids = _merged(self.base_ids, ids)
            self.dirty += len(ids)
            return
        back = np.intersect1d(ids, self.stale, assume_unique=True)  # in the file after all (it led the catalog)
        if len(back):
            self.stale = np.setdiff1d(self.stale, back, assume_unique=True)
            self._selector = None
            keep = ~np.isin(ids, back)
            ids, vectors = ids[keep], vectors[keep]
        self.delta.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self.delta.ntotal:
            self.delta.remove_ids(faiss.IDSelectorBatch(ids))
        in_base = np.intersect1d(ids, self.base_ids, assume_unique=True)
        if not len(in_base):
            return
        if self.writable:
            self.base.remove_ids(faiss.IDSelectorBatch(in_base))
            self.base_ids = np.setdiff1d(self.base_ids, in_base, assume_unique=True)
            self.dirty += len(in_base)
        else:
            self.stale = np.union1d(self.stale, in_base)
            self._selector = None

    # --- searching ---

    def search(self, query: np.ndarray, k: int, exact: Lookup | None = None,
               within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest passages by inner product, best first. ``exact`` looks up float32 vectors to
        re-score a quantised index's candidates. ``within`` (sorted ids): only those passages, a filtered search;
        the best of them, not the best of the library that happen to be among them."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        if within is not None and exact is not None and self._quantised and len(within) <= self.policy.exact_within:
            ids, vectors = exact(within)
            scores = vectors @ query[0]
            return [(int(ids[i]), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:k]]
        found: dict[int, float] = {}
        if self.base is not None and self.base.ntotal > len(self.stale):
            refine = self.policy.refine if exact is not None and self._quantised else 1
            wanted = k * max(1, refine)
            scores, ids = self.base.search(query, wanted, params=self._params(within))
            hits = ids[0][ids[0] >= 0]
            # A deep search (a page far down a common word's moments) asks for more passages than the tuned nprobe's
            # lists hold: short of them, it probes twice the lists until it has them or has probed every list. Else
            # ranking took the moments for run out, and paging ended hundreds of moments early (a scale hunt).
            ivf, probes = _ivf(self.base), 0
            available = len(within) if within is not None else self.base.ntotal - len(self.stale)
            while ivf is not None and len(hits) < min(wanted, available) and probes < ivf.nlist:
                probes = min(ivf.nlist, 2 * max(probes, self._probes(within)))
                scores, ids = self.base.search(query, wanted, params=self._params(within, probes))
                hits = ids[0][ids[0] >= 0]
            if refine > 1 and len(hits):
                hits, vectors = exact(hits)
                found.update(zip(hits.tolist(), (vectors @ query[0]).tolist()))
            else:
                found.update(zip(hits.tolist(), scores[0][: len(hits)].tolist()))
        if self.delta.ntotal:  # a small exact index: searched whole when filtered
            scores, ids = self.delta.search(query, k if within is None else self.delta.ntotal)
            keep = (ids[0] >= 0) & (np.isin(ids[0], within) if within is not None else True)
            found.update((int(i), float(s)) for i, s in zip(ids[0][keep], scores[0][keep]))
        best = sorted(found.items(), key=lambda item: item[1], reverse=True)[:k]
        return [(int(i), float(s)) for i, s in best]

    def _params(self, within: np.ndarray | None = None, probes: int = 0):
        """Search parameters leaving out the stale passages and, when given, those not ``within``. A filtered
        search of an IVF index probes more lists, in proportion to the share left out (up to all of them):
        the nearest lists may hold none of the passages it is looking for. ``probes``: lists to probe at least."""
        if not len(self.stale) and within is None and not probes:
            return None
        if len(self.stale) and self._selector is None:
            batch = faiss.IDSelectorBatch(self.stale)
            self._selector = (batch, faiss.IDSelectorNot(batch))
        keep: list = [self._selector] if len(self.stale) else []
        selector = self._selector[1] if len(self.stale) else None
        if within is not None:
            allowed = faiss.IDSelectorBatch(np.ascontiguousarray(within, dtype=np.int64))
            keep.append(allowed)
            selector = faiss.IDSelectorAnd(allowed, selector) if selector is not None else allowed
            keep.append(selector)
        if _ivf(self.base) is not None:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=max(probes, self._probes(within)))
        else:
            params = faiss.SearchParameters(sel=selector)
        params._keep = keep  # the selectors must outlive the search
        return params

    def _probes(self, within: np.ndarray | None = None) -> int:
        """The lists an IVF index's search probes: its tuned nprobe, more for a filtered search (``_params``)."""
        ivf = _ivf(self.base)
        if within is None:
            return ivf.nprobe
        return min(ivf.nlist, math.ceil(ivf.nprobe * self.ntotal / max(1, len(within))))

    # --- writing ---

    def save(self, path: Path) -> None:
        """Write a writer's base atomically."""
        if self.base is None:
            self.base = faiss.index_factory(self.dimension, EXACT, faiss.METRIC_INNER_PRODUCT)
        write_atomically(self.base, path)
        self.file_signature = file_signature(path)
        self.dirty = 0


def _merged(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    ids = np.sort(ids)
    if not len(sorted_ids) or ids[0] > sorted_ids[-1]:  # new passages: always above every id so far
        return np.concatenate([sorted_ids, ids])
    return np.union1d(sorted_ids, ids)


# --- training -------------------------------------------------------------------------------------


def tuning_queries(sample: np.ndarray, count: int, rng: np.random.Generator, blur: float = 1.5) -> np.ndarray:
    """Stand-ins for users' queries: library passages blurred to cosine ~0.55 with where they came from, so that
    their neighbours are nearly as flat a crowd as a vague query's. Against the benchmark's real query texts
    (docs/benchmarks.md, "Search at scale"), at the nprobe they pick for 0.96 they are a little optimistic at
    100k passages (0.963 where the real queries get 0.950, nprobe 64) and pessimistic at a million (0.961
    against 0.979, nprobe 96). Less blur (cosine 0.7) asked for too little at 100k; more (0.45) or midpoints of
    two random passages, which sit between topics no query asks about, for two to four times too much at 1M."""
    count = min(count, len(sample))
    picks = sample[rng.choice(len(sample), count, replace=False)]
    queries = picks + blur * rng.standard_normal(picks.shape).astype(np.float32) / math.sqrt(sample.shape[1])
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    faiss.normalize_L2(queries)
    return queries


def exact_top10(queries: np.ndarray, chunks: Chunks, add: Callable[[np.ndarray, np.ndarray], None] | None = None
                ) -> np.ndarray:
    """The ids of each query's 10 nearest catalog vectors, by exact search over every chunk (each also handed
    to ``add``, so a build reads the catalog once)."""
    heap = faiss.ResultHeap(len(queries), 10, keep_max=True)
    for ids, vectors in chunks():
        if add is not None:
            add(ids, vectors)
        scores, positions = faiss.knn(queries, vectors, min(10, len(vectors)), metric=faiss.METRIC_INNER_PRODUCT)
        found = np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)
        if found.shape[1] < 10:
            pad = 10 - found.shape[1]
            found = np.hstack([found, np.full((len(queries), pad), -1, np.int64)])
            scores = np.hstack([scores, np.full((len(queries), pad), -np.inf, np.float32)])
        heap.add_result(np.ascontiguousarray(scores, dtype=np.float32), np.ascontiguousarray(found, dtype=np.int64))
    heap.finalize()
    return heap.I


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's true top-k that ``found``'s top-k holds."""
    hits = sum(len(np.intersect1d(f[:k][f[:k] >= 0], t[:k][t[:k] >= 0])) for f, t in zip(found, truth))
    return hits / max(1, sum(int((t[:k] >= 0).sum()) for t in truth))


def _search_refined(index: faiss.Index, queries: np.ndarray, k: int, refine: int, exact: Lookup | None) -> np.ndarray:
    scores, ids = index.search(queries, k * refine)
    if refine <= 1 or exact is None:
        return ids[:, :k]
    out = np.full((len(queries), k), -1, np.int64)
    for row, (query, candidates) in enumerate(zip(queries, ids)):
        found, vectors = exact(candidates[candidates >= 0])
        order = np.argsort(-(vectors @ query))[:k]
        out[row, : len(order)] = found[order]
    return out


def tune(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, policy: VectorPolicy,
         exact: Lookup | None) -> tuple[int, float]:
    """The smallest nprobe whose recall@10 reaches the target (or the best one tried), and that recall."""
    ivf = _ivf(index)
    refine = policy.refine if is_quantised(index) and exact is not None else 1
    best = (1, -1.0)
    for nprobe in [p for p in _NPROBES if p <= ivf.nlist] + ([ivf.nlist] if ivf.nlist not in _NPROBES else []):
        _set_nprobe(index, nprobe)
        recall = recall_at(_search_refined(index, queries, 10, refine, exact), truth)
        if recall > best[1]:
            best = (nprobe, recall)
        if recall >= policy.target_recall:
            break
    _set_nprobe(index, best[0])
    return best


def build(dimension: int, n: int, policy: VectorPolicy, chunks: Chunks, sample: Callable[[int], np.ndarray],
          exact: Lookup | None = None, progress: Callable[[str], None] | None = None) -> tuple[faiss.Index, IndexInfo]:
    """A new index for the ``n`` passages ``chunks`` yields, of the type the policy picks for ``n``: trained on
    ``sample(m)`` (m random catalog vectors), filled, and tuned."""
    factory = policy.factory(n)
    say = progress or (lambda _message: None)
    index, info = _build(dimension, n, factory, policy, chunks, sample, exact, say)
    nlist = _ivf(index).nlist if _ivf(index) else 0
    if factory.endswith(",SQ8") and info.nprobe and info.nprobe > policy.codes_max_share * nlist:
        wide_factory = factory.replace(",SQ8", ",SQfp16")
        say(f"nprobe={info.nprobe} of {nlist} lists with 8-bit codes: trying {wide_factory}")
        wide, wide_info = _build(dimension, n, wide_factory, policy, chunks, sample, exact, say)
        reached = wide_info.tuned_recall_at_10 >= policy.target_recall
        if reached and (info.tuned_recall_at_10 < policy.target_recall or wide_info.nprobe < info.nprobe):
            index, info = wide, wide_info
    return index, info


def _build(dimension: int, n: int, factory: str, policy: VectorPolicy, chunks: Chunks,
           sample: Callable[[int], np.ndarray], exact: Lookup | None, say: Callable[[str], None]
           ) -> tuple[faiss.Index, IndexInfo]:
    index = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    ivf = _ivf(index)
    info = IndexInfo(factory, trained_size=n)
    if ivf is None:
        for ids, vectors in chunks():
            index.add_with_ids(vectors, ids)
        return index, info
    training = sample(min(n, policy.train_per_list * ivf.nlist))
    ivf.cp.niter = policy.train_iterations
    ivf.cp.seed = policy.seed
    say(f"training {factory} on {len(training)} vectors")
    index.train(training)
    queries = tuning_queries(training, policy.tune_queries, np.random.default_rng(policy.seed))
    # one pass over the catalog fills the index and finds the tuning queries' true neighbours
    truth = exact_top10(queries, chunks, add=lambda ids, vectors: index.add_with_ids(vectors, ids))
    return index, _tuned(index, info, queries, truth, policy, exact, say)


def retune(index: faiss.Index, n: int, policy: VectorPolicy, chunks: Chunks, sample: Callable[[int], np.ndarray],
           exact: Lookup | None = None, trained_size: int = 0) -> IndexInfo:
    """Tune a trained index's nprobe again (the library's vectors, or the policy's target, have changed)."""
    queries = tuning_queries(sample(max(policy.tune_queries, 1000)), policy.tune_queries,
                             np.random.default_rng(policy.seed))
    info = IndexInfo(describe(index), trained_size=trained_size or n)
    return _tuned(index, info, queries, exact_top10(queries, chunks), policy, exact, lambda _message: None)


def _tuned(index, info: IndexInfo, queries, truth, policy: VectorPolicy, exact: Lookup | None, say) -> IndexInfo:
    nprobe, recall = tune(index, queries, truth, policy, exact)
    info.nprobe, info.tuned_recall_at_10 = nprobe, round(recall, 4)
    info.refine = policy.refine if is_quantised(index) and exact is not None and policy.refine > 1 else None
    say(f"tuned nprobe={nprobe}: recall@10 {recall:.3f} on {len(queries)} queries")
    return info


def batched(ids: np.ndarray, size: int) -> Iterable[np.ndarray]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
