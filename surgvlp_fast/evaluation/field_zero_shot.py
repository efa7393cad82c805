"""Zero-shot recognition on an interchange set (downstream/interchange.py), every number with its protocol.

Single-label tasks (phases, steps, actions): each frame's class is the argmax of 100·cosine against
the class prompts; accuracy and macro-F1 per video then averaged, and pooled over all frames
(metrics.field_recognition_metrics). Multi-label tasks (tools): the cosine scores of every frame,
per-class average precision over all frames pooled, NaN-mean (metrics.pooled_map), or, for triplets,
video-wise as ivtmetrics defines it (metrics.video_wise_ap, `video_wise_ap=True`). The result's
`protocol` string says how each number was made: the averaging, the F1 classes, the frames, the
preprocessing and where the prompts came from.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np

from ..collectives import lockstep
from ..models.modes import eval_mode
from ..zeroshot import encode_class_prompts, predict, scores, smooth_features
from .downstream.interchange import MULTI, InterchangeSet
from .features import encode_frames
from .metrics import field_recognition_metrics, pooled_map, video_wise_ap
from .sharding import gather_dicts, rank_and_world, shard

SINGLE_KEYS = ("video_accuracy", "video_f1", "video_f1_all", "pooled_accuracy", "pooled_f1", "pooled_f1_all")


def protocol_tag(kind: str, prompts: str, preprocessing: str, smooth_window: int, video_wise: bool = False) -> str:
    """The protocol of a field result, printed beside its numbers."""
    common = f"every labelled frame of the interchange list; {preprocessing}; prompts: {prompts}"
    window = f"; frame embeddings smoothed over {smooth_window} frames" if smooth_window > 1 else ""
    if kind == MULTI and video_wise:
        return (f"zero-shot multi-label: ivtmetrics video-wise AP (per class within each video, nan-mean over "
                f"videos, then over classes; a class absent from a video skipped); {common}{window}")
    if kind == MULTI:
        return f"zero-shot multi-label: per-class AP over all frames pooled, nan-mean over classes; {common}{window}"
    return (f"zero-shot argmax of 100*cos: acc and macro-F1 per video then mean (video_*) and over all frames "
            f"(pooled_*); f1 = classes in labels or predictions, f1_all = all classes, zero_division=0; "
            f"{common}{window}")


@dataclass
class FieldResult:
    """A field protocol's metrics (JSON-ready, with `protocol`, `task`, `classes`, `skipped`)."""

    name: str
    metrics: dict
    per_video: dict = field(default_factory=dict, repr=False)   # video -> (labels, predictions or scores)
    table_header: ClassVar[tuple[str, ...]] = ("protocol", "task", "metric", "value %", "videos", "frames",
                                               "protocol tag")

    def _numbers(self) -> dict:
        keys = ("mAP",) if self.metrics["kind"] == MULTI else SINGLE_KEYS
        return {k: self.metrics[k] for k in keys}

    def scalars(self, name: str) -> dict[str, float]:
        return {f"{name}/{k}": v for k, v in self._numbers().items()}

    def table_rows(self, name: str) -> list[list]:
        m = self.metrics
        return [[name, m["task"], k, v, m["videos"], m["frames"], m["protocol"] if i == 0 else ""
                 ] for i, (k, v) in enumerate(self._numbers().items())]

    def write_pictures(self, out_dir, name: str) -> dict:
        return {}


def _frames_key(video) -> str:
    """A cache key naming exactly the video's frame files (a re-converted set gets new keys)."""
    files = getattr(video.frames, "files", None)
    digest = hashlib.sha1("\n".join(files).encode()).hexdigest()[:12] if files is not None else f"n{len(video.frames)}"
    return f"{video.video_id}-{digest}"


def zero_shot_field(model, tokenizer, data: InterchangeSet, prompts: Sequence, *, protocol: str, name: str = "field",
                    smooth_window: int = 1, max_length: int = 77, batch_size: int = 400, device="cpu",
                    num_workers: int = 0, amp_dtype=None, distributed: bool = False, cache=None,
                    cache_key: str = "", video_wise: bool = False) -> FieldResult:
    """Score every video of `data` (sharded over ranks with `distributed=True`; every rank gets the result).
    With `cache` (linear_probe.FeatureCache) the frame embeddings are kept under `cache_key`; `video_wise`:
    multi-label AP per video as ivtmetrics (triplets) instead of pooled over frames."""
    classes = data.classes
    with lockstep(distributed):
        if len(prompts) != len(classes.names):
            raise ValueError(f"{name}: {len(prompts)} prompt groups for {len(classes.names)} classes")
        if not data.videos:
            raise ValueError(f"{name}: {data.json_path} has no labelled {classes.task} frames")
        with eval_mode(model):
            class_features = encode_class_prompts(model, tokenizer, prompts, max_length=max_length, device=device)
            rank, world = rank_and_world(distributed)
            local = {}
            for video in shard(data.videos, rank, world):
                def compute(video=video):
                    return encode_frames(model, video.frames, batch_size=batch_size, device=device,
                                         num_workers=num_workers, amp_dtype=amp_dtype)

                raw = cache.get(cache_key, _frames_key(video), compute) if cache is not None else compute()
                features = smooth_features(raw, smooth_window)
                if classes.kind == MULTI:
                    local[video.video_id] = (video.labels, scores(features, class_features).float().numpy())
                else:
                    local[video.video_id] = (np.asarray(video.labels), predict(features, class_features).numpy())
        gathered = gather_dicts(local, distributed)
    per_video = {v.video_id: gathered[v.video_id] for v in data.videos}
    if classes.kind == MULTI and video_wise:
        result = video_wise_ap(list(per_video.values()))
        metrics = {"mAP": 100.0 * result["mAP"], "AP": (100.0 * result["AP"]).tolist(), "videos": len(per_video),
                   "frames": sum(len(t) for t, _ in per_video.values())}
    elif classes.kind == MULTI:
        targets = np.concatenate([t for t, _ in per_video.values()])
        metrics = pooled_map(targets, np.concatenate([s for _, s in per_video.values()]))
        metrics["videos"] = len(per_video)
    else:
        metrics = field_recognition_metrics(per_video, len(classes.names))
    metrics.update(task=classes.task, kind=classes.kind, protocol=protocol, classes=list(classes.names),
                   skipped=dict(data.skipped), source=data.json_path)
    return FieldResult(name, metrics, per_video)
