"""Zero-shot surgical phase recognition (reference.md §6.1).

Class embeddings come from prompts (one per class, or several averaged); each frame's
L2-normalised embedding is scored against them with 100·cosine and the argmax is the phase
(surgvlp_fast.zeroshot). Accuracy and macro-F1 are computed per video and averaged over videos.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..collectives import lockstep
from ..models.modes import eval_mode
from ..zeroshot import encode_class_prompts, predict, smooth_features
from . import reports
from .downstream import DownstreamVideo
from .features import encode_frames
from .metrics import phase_metrics
from .sharding import gather_dicts, rank_and_world, shard


class PhaseScores:
    """Accuracy / F1 of a phase result (zero-shot or linear probe): its scalars and table rows.
    Subclasses have `name` and `metrics` (phase_metrics)."""

    table_header: ClassVar[tuple[str, ...]] = ("protocol", "accuracy %", "F1 %", "videos", "frames")
    metrics: dict

    def scalars(self, name: str) -> dict[str, float]:
        return {f"{name}/accuracy": self.metrics["accuracy"], f"{name}/f1": self.metrics["f1"]}

    def table_rows(self, name: str) -> list[list]:
        m = self.metrics
        return [[name, m["accuracy"], m["f1"], len(m["videos"]), m["frames"]]]

    def write_pictures(self, out_dir, name: str) -> dict:
        return {}


@dataclass
class PhaseResult(PhaseScores):
    """Metrics (JSON-ready) and, per video, the labels and predictions (for the pictures)."""

    name: str
    class_names: list[str]
    metrics: dict
    per_video: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)

    def write_pictures(self, out_dir, name: str) -> dict:
        """`<name>_ribbons.png` and `<name>_confusion.png` in `out_dir`: {what: path}."""
        out_dir = Path(out_dir)
        return {
            f"{name} ribbons": reports.plot_phase_ribbons(out_dir / f"{name}_ribbons.png", self.per_video,
                                                          self.class_names,
                                                          title=f"{self.name}: ground truth vs prediction"),
            f"{name} confusion": reports.plot_confusion(out_dir / f"{name}_confusion.png", self.metrics["confusion"],
                                                        self.class_names,
                                                        title=f"{self.name}: confusion (row-normalised)"),
        }


def zero_shot_phase(model, tokenizer, videos: Sequence[DownstreamVideo], prompts: Sequence, class_names: Sequence[str], *,
                    smooth_window: int = 1, **kwargs) -> PhaseResult:
    """Evaluate every frame of every video once. With `distributed=True` (every rank calls) each
    rank encodes its share of the videos and every rank receives the full result; when one rank
    raises, every rank does (the others RankFailed naming it: surgvlp_fast.collectives.lockstep)."""
    return zero_shot_phase_windows(model, tokenizer, videos, prompts, class_names, windows=(smooth_window,),
                                   **kwargs)[smooth_window]


def zero_shot_phase_windows(model, tokenizer, videos: Sequence[DownstreamVideo], prompts: Sequence,
                            class_names: Sequence[str], *, windows: Sequence[int] = (1,), name: str = "zero-shot",
                            max_length: int = 77, batch_size: int = 400, device="cpu", num_workers: int = 0,
                            amp_dtype=None, distributed: bool = False) -> dict[int, PhaseResult]:
    """`zero_shot_phase` for several smoothing windows from one encoding pass: {window: result}."""
    with lockstep(distributed):
        if len(prompts) != len(class_names):
            raise ValueError(f"{len(prompts)} prompt groups for {len(class_names)} classes")
        with eval_mode(model):
            classes = encode_class_prompts(model, tokenizer, prompts, max_length=max_length, device=device)
            rank, world = rank_and_world(distributed)
            local = {}
            for video in shard(videos, rank, world):
                features = encode_frames(model, video.frames, batch_size=batch_size, device=device,
                                         num_workers=num_workers, amp_dtype=amp_dtype)
                labels = np.asarray(video.labels, dtype=np.int64)
                local[video.video_id] = {w: (labels, predict(smooth_features(features, w), classes).numpy())
                                         for w in windows}
        gathered = gather_dicts(local, distributed)
    results = {}
    for w in windows:
        per_video = {v.video_id: gathered[v.video_id][w] for v in videos}  # protocol order
        metrics = phase_metrics(per_video, len(class_names))
        metrics["smooth_window"] = w
        results[w] = PhaseResult(name, list(class_names), metrics, per_video)
    return results
