"""The in-memory vector index of the sentence embeddings: per workspace, a matrix of item
vectors searched by cosine similarity (exactly, or through a reduced copy first when large)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infinity_matrix.providers.embeddings import Matrix, one_blas_thread

# From this many rows on, a workspace's search scans a reduced copy of its vectors first (their
# projection on the principal directions of a sample) and scores the best candidates of that
# exactly: a third of the memory read per query. See ``_Coarse``.
COARSE_ROWS = 20_000
COARSE_DIMENSIONS = 128
COARSE_SAMPLE = 8_192
RESCORED_PER_RESULT = 8  # candidates scored exactly per result asked for (at least 256)
MIN_RESCORED = 256


class NumpyVectorIndex:
    """Implements ``core.ports.VectorIndex``: one float32 matrix per workspace, rows = items.

    Memory is bounded by ``max_rows`` over all workspaces (1.5 KB a row for 384 values, 2 KB
    from ``coarse_rows`` rows on): the workspace used least recently is dropped first, and is
    rebuilt lazily by its next query. Removed rows are zeroed and reused, so updates never shift
    other rows. ``upsert``, ``remove`` and ``drop`` run on the event loop; ``nearest`` may run
    in a worker thread meanwhile.
    """

    def __init__(
        self,
        dimension: int = 384,
        *,
        max_rows: int = 500_000,
        coarse_rows: int = COARSE_ROWS,
        coarse_dimensions: int = COARSE_DIMENSIONS,
    ) -> None:
        one_blas_thread()
        self._dimension = dimension
        self._max_rows = max_rows
        # A reduced copy only pays when it is much smaller than the vectors.
        self._coarse = (
            (coarse_rows, coarse_dimensions) if 2 * coarse_dimensions <= dimension else None
        )
        self._spaces: dict[str, _Space] = {}

    def loaded(self, workspace: str) -> bool:
        return workspace in self._spaces

    def rows(self, workspace: str) -> int:
        space = self._spaces.get(workspace)
        return len(space.row_of) if space else 0

    def upsert(self, workspace: str, ids: Sequence[str], vectors: Sequence[bytes]) -> None:
        space = self._spaces.pop(workspace, None) or _Space(self._dimension, self._coarse)
        self._spaces[workspace] = space  # most recently used last
        space.upsert(ids, vectors)
        self._evict(keep=workspace)

    def remove(self, workspace: str, ids: Sequence[str]) -> None:
        if space := self._spaces.get(workspace):
            space.remove(ids)

    def drop(self, workspace: str) -> None:
        self._spaces.pop(workspace, None)

    def nearest(
        self,
        workspace: str,
        vector: bytes,
        *,
        limit: int,
        kinds: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        space = self._spaces.pop(workspace, None)
        if space is None:
            return []
        self._spaces[workspace] = space
        return space.nearest(np.frombuffer(vector, dtype=np.float32), limit, kinds)

    def _evict(self, keep: str) -> None:
        total = sum(len(s.row_of) for s in self._spaces.values())
        for name in list(self._spaces):
            if total <= self._max_rows or name == keep:
                continue
            total -= len(self._spaces.pop(name).row_of)


@dataclass(frozen=True, slots=True)
class _Coarse:
    """The reduced copy of a space's vectors: each row projected on ``basis``, the leading
    eigenvectors of the second-moment matrix of a sample of rows (uncentred PCA: the directions
    that hold most of the rows' length, so ``(q·B)·(x·B)`` is close to ``q·x``). The scan only
    picks candidates; their scores are computed again from the full vectors. Fitted when the
    space reaches ``coarse_rows`` rows and again each time it has doubled since."""

    basis: Matrix  # (dimension, reduced)
    matrix: Matrix  # (capacity, reduced), rows as in the space's matrix
    fitted: int  # rows in use when it was fitted


class _Space:
    """The vectors of one workspace; ``kind_of`` holds a small code per row for filtering
    (0: a free row)."""

    def __init__(self, dimension: int, coarse: tuple[int, int] | None) -> None:
        self.matrix: Matrix = np.zeros((0, dimension), dtype=np.float32)
        self.kind_of = np.zeros(0, dtype=np.uint8)
        self.ids: list[str | None] = []
        self.row_of: dict[str, int] = {}
        self.free: list[int] = []
        self.kinds: dict[str, int] = {}
        self.coarse: _Coarse | None = None
        self._settings = coarse
        # Writers (the event loop) and a refit (a query's worker thread) exchange rows under
        # this lock; rows written while a refit runs are projected again at its end.
        self._lock = threading.Lock()
        self._refitting: set[int] | None = None

    def upsert(self, ids: Sequence[str], vectors: Sequence[bytes]) -> None:
        with self._lock:
            rows = []
            for item, vector in zip(ids, vectors, strict=True):
                row = self.row_of.get(item)
                if row is None:
                    row = self._new_row(item)
                self.matrix[row] = np.frombuffer(vector, dtype=np.float32)
                kind = item.partition(":")[0]
                self.kind_of[row] = self.kinds.setdefault(kind, len(self.kinds) + 1)
                rows.append(row)
            if self.coarse is not None and rows:
                self.coarse.matrix[rows] = self.matrix[rows] @ self.coarse.basis
            if self._refitting is not None:
                self._refitting.update(rows)

    def remove(self, ids: Sequence[str]) -> None:
        with self._lock:
            for item in ids:
                row = self.row_of.pop(item, None)
                if row is not None:
                    self.matrix[row] = 0.0
                    self.kind_of[row] = 0
                    self.ids[row] = None
                    self.free.append(row)

    def nearest(
        self, query: Matrix, limit: int, kinds: Collection[str] | None
    ) -> list[tuple[str, float]]:
        used = len(self.ids)
        if used == 0 or limit <= 0:
            return []
        if self._settings is not None and used >= self._settings[0]:
            coarse = self.coarse
            if coarse is None or used >= 2 * coarse.fitted:
                self._refit(self._settings[1])
        matrix, kind_of, coarse = self.matrix, self.kind_of[:used], self.coarse
        excluded = self._excluded(kind_of, kinds)
        rescored = max(RESCORED_PER_RESULT * limit, MIN_RESCORED)
        if coarse is not None and used > rescored:
            approximate = coarse.matrix[:used] @ (query @ coarse.basis)
            if excluded is not None:
                approximate[excluded] = -np.inf
            rows = np.argpartition(-approximate, rescored - 1)[:rescored]
            rows = rows[np.isfinite(approximate[rows])]
            scores = matrix[rows] @ query
        else:
            rows = np.arange(used)
            scores = matrix[:used] @ query
            if excluded is not None:
                scores[excluded] = -np.inf
        limit = min(limit, len(rows))
        if limit == 0:
            return []
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.lexsort((rows[top], -scores[top]))]  # best first, then by row
        return [
            (item, float(scores[n]))
            for n in top
            if np.isfinite(scores[n]) and (item := self.ids[rows[n]]) is not None
        ]

    def _excluded(
        self, kind_of: npt.NDArray[np.uint8], kinds: Collection[str] | None
    ) -> npt.NDArray[np.bool_] | None:
        """Rows not to answer (free ones, other kinds), or None when every row may be."""
        known = dict(self.kinds)  # a copy: the event loop may add a kind meanwhile
        if not self.free and (kinds is None or all(k in kinds for k in known)):
            return None
        allowed = np.zeros(256, dtype=np.bool_)
        for kind, code in known.items():
            allowed[code] = kinds is None or kind in kinds
        excluded: npt.NDArray[np.bool_] = ~allowed[kind_of]
        return excluded

    def _refit(self, reduced: int) -> None:
        """Fit the reduced copy again from a sample of the rows in use (a worker thread)."""
        with self._lock:
            if self._refitting is not None:
                return  # another query is at it: use the copy there is meanwhile
            self._refitting = set()
            matrix, used = self.matrix, len(self.ids)
            live = np.flatnonzero(self.kind_of[:used])
        try:
            rng = np.random.default_rng(used)
            sample = matrix[np.sort(rng.choice(live, min(len(live), COARSE_SAMPLE), replace=False))]
            second = (sample.T @ sample).astype(np.float64)
            _, vectors = np.linalg.eigh(second)  # ascending eigenvalues
            basis: Matrix = np.ascontiguousarray(vectors[:, ::-1][:, :reduced], dtype=np.float32)
            projected: Matrix = np.zeros((len(matrix), reduced), dtype=np.float32)
            projected[:used] = matrix[:used] @ basis
        finally:
            with self._lock:
                changed, self._refitting = self._refitting, None
                if "basis" in locals():
                    if len(projected) < len(self.matrix):
                        grown = np.zeros((len(self.matrix), reduced), dtype=np.float32)
                        grown[: len(projected)] = projected
                        projected = grown
                    if changed:
                        rows = sorted(changed)
                        projected[rows] = self.matrix[rows] @ basis
                    self.coarse = _Coarse(basis, projected, used)

    def _new_row(self, item: str) -> int:
        if self.free:
            row = self.free.pop()
            self.ids[row] = item
        else:
            row = len(self.ids)
            if row == len(self.matrix):
                grown = max(1024, 2 * len(self.matrix))
                matrix = np.zeros((grown, self.matrix.shape[1]), dtype=np.float32)
                matrix[:row] = self.matrix
                kind_of = np.zeros(grown, dtype=np.uint8)
                kind_of[:row] = self.kind_of
                self.matrix, self.kind_of = matrix, kind_of
                if self.coarse is not None:
                    coarse = np.zeros((grown, self.coarse.matrix.shape[1]), dtype=np.float32)
                    coarse[:row] = self.coarse.matrix[:row]
                    self.coarse = _Coarse(self.coarse.basis, coarse, self.coarse.fitted)
            self.ids.append(item)
        self.row_of[item] = row
        return row
