"""Exact top-k over float16 embeddings and the merging of adjacent hit seconds into moments.

Scores are computed by float16 matrix-vector products (fp32 accumulation on x86; output rounded to
float16) over the memory-mapped rows, chunk by chunk; every row whose approximate score is within a
bound of the k-th is then rescored in float64 from the stored values, so the top k are exact."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CHUNK_ROWS = 1 << 18
# |approximate - exact| for unit vectors: the query rounded to float16 (<= 2^-11), the float16 output
# (<= 2^-11 |s|), fp32 accumulation over d terms (<= d 2^-24); doubled for safety
MARGIN = 2 * (2 ** -11 + 2 ** -11 + 4096 * 2 ** -24)


@dataclass(frozen=True)
class Moment:
    """A hit: seconds [start, end) of `video` whose best second scores `score` (cosine), at `best`."""

    video: str
    start: float
    end: float
    score: float
    best: float

    def as_dict(self) -> dict:
        return {"video": self.video, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4), "best": round(self.best, 3)}


def approximate_scores(embeddings: np.ndarray, query: torch.Tensor) -> torch.Tensor:
    """(N,) float16 scores of float16 rows (N, d) (a memory map) against a (d,) query."""
    q = query.to(torch.float16)
    out = torch.empty(len(embeddings), dtype=torch.float16)
    for start in range(0, len(embeddings), CHUNK_ROWS):
        rows = torch.from_numpy(np.asarray(embeddings[start:start + CHUNK_ROWS]))
        torch.mv(rows, q, out=out[start:start + len(rows)])
    return out


def exact_top(embeddings: np.ndarray, query: torch.Tensor, k: int, scores: torch.Tensor | None = None):
    """(rows, float64 scores) of the k best rows, best first (ties: lower row first)."""
    n = len(embeddings)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    scores = approximate_scores(embeddings, query) if scores is None else scores
    kth = torch.topk(scores, k, sorted=False).values.float().min().item()
    candidates = torch.nonzero(scores.float() >= kth - MARGIN).squeeze(1).numpy()
    exact = np.asarray(embeddings[candidates], dtype=np.float64) @ query.double().numpy()
    order = np.lexsort((candidates, -exact))[:k]
    return candidates[order], exact[order]


def merge_hits(rows: np.ndarray, scores: np.ndarray, video_of: np.ndarray, time_of: np.ndarray, step: float,
               names: list[str], durations: list[float]) -> list[Moment]:
    """Hit rows -> moments: rows of one video one step apart join; a moment scores its best row."""
    order = np.lexsort((time_of[rows], video_of[rows]))
    moments, run = [], []

    def close():
        best = max(run, key=lambda i: (scores[i], -i))
        video = int(video_of[rows[run[0]]])
        end = min(float(time_of[rows[run[-1]]]) + step, durations[video])
        moments.append(Moment(names[video], float(time_of[rows[run[0]]]), end, float(scores[best]),
                              float(time_of[rows[best]])))

    for i in order:
        if run:
            last = rows[run[-1]]
            if video_of[rows[i]] != video_of[last] or abs(time_of[rows[i]] - time_of[last] - step) > 1e-6:
                close()
                run = []
        run.append(i)
    if run:
        close()
    return sorted(moments, key=lambda m: (-m.score, m.video, m.start))
