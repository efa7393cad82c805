"""A video's predicted timeline: per-frame classes and scores, its segments, and its files
(`<video>.csv`: time, class, score per class; `<video>.json`: segments and time per class)."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Segment:
    """A run of consecutive frames of one class: [start, end) seconds, its mean score."""

    label: str
    start: float
    end: float
    mean_score: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict:
        return {"class": self.label, "start": round(self.start, 3), "end": round(self.end, 3),
                "duration": round(self.duration, 3), "mean_score": round(self.mean_score, 4)}


@dataclass
class Timeline:
    """`labels[i]` is the class of the frame played at `times[i]`; `scores[i]` the class probabilities
    (softmax of the logits: 100 x cosine zero-shot, as the protocols; a probe head's own)."""

    video: str
    class_names: list[str]
    times: np.ndarray
    labels: np.ndarray
    scores: np.ndarray = field(repr=False)
    duration: float
    fps: float
    smooth: float = 0.0
    classifier: str = "zero-shot"   # or "probe <head file>"

    def segments(self) -> list[Segment]:
        """Runs of equal labels; a segment ends where the next starts (the last at the video's end)."""
        if len(self.labels) == 0:
            return []
        cuts = np.flatnonzero(np.diff(self.labels)) + 1
        starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(self.labels)]])
        out = []
        for a, b in zip(starts, ends):
            label = int(self.labels[a])
            end = float(self.times[b]) if b < len(self.times) else max(self.duration, float(self.times[-1]))
            out.append(Segment(self.class_names[label], float(self.times[a]), end,
                               float(self.scores[a:b, label].mean())))
        return out

    def time_per_class(self) -> dict[str, float]:
        totals = dict.fromkeys(self.class_names, 0.0)
        for s in self.segments():
            totals[s.label] += s.duration
        return {k: round(v, 3) for k, v in totals.items()}

    def summary(self) -> dict:
        """What the JSON file holds."""
        return {"video": os.path.abspath(self.video), "duration": round(self.duration, 3), "fps": self.fps,
                "smooth_seconds": self.smooth, "frames": len(self.labels), "classes": list(self.class_names),
                "classifier": self.classifier,
                "segments": [s.as_dict() for s in self.segments()], "time_per_class": self.time_per_class()}

    def write_csv(self, path) -> Path:
        def rows(f):
            writer = csv.writer(f)
            writer.writerow(["time", "class", *self.class_names])
            for t, label, row in zip(self.times, self.labels, self.scores):
                writer.writerow([f"{t:.3f}", self.class_names[int(label)], *(f"{s:.5f}" for s in row)])
        return _atomic(path, rows)

    def write_json(self, path) -> Path:
        return _atomic(path, lambda f: f.write(json.dumps(self.summary(), indent=1) + "\n"))


def _atomic(path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        write(f)
    os.replace(tmp, path)
    return path
