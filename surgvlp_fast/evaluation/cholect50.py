"""CholecT50 zero-shot triplet recognition (reference.md §6.2).

Four text classifiers (instrument 6, verb 10, target 15, triplet 100) score each frame with
sigmoid(cosine). i / v / t mAP come from the separate classifiers; iv / it / ivt from the
triplet classifier, disentangled as `ivtmetrics` does: a component class scores (and is
labelled) the maximum over the triplets that contain it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
import torch

from ..collectives import lockstep
from ..models.modes import eval_mode
from ..resources import resource_path
from ..zeroshot import encode_class_prompts, scores
from .downstream import DownstreamVideo
from .features import encode_frames
from .metrics import video_wise_ap
from .sharding import gather_dicts, rank_and_world, shard

COMPONENTS = ("i", "v", "t", "iv", "it", "ivt")
_MAP_COLUMN = {"ivt": 0, "i": 1, "v": 2, "t": 3, "iv": 4, "it": 5}
# The separate classifiers and their label arrays.
CLASSIFIERS = {"i": "instrument", "v": "verb", "t": "target", "ivt": "triplet"}


@functools.lru_cache(maxsize=None)
def triplet_map() -> np.ndarray:
    """(100, 6) the official decomposition: triplet, instrument, verb, target, iv, it ids."""
    table = np.loadtxt(resource_path("cholect50_triplet_map.csv"), delimiter=",", dtype=np.int64, comments="#")
    if table.shape != (100, 6) or not (table[:, 0] == np.arange(100)).all():
        raise RuntimeError(f"corrupt CholecT50 triplet map: shape {table.shape}")
    return table


def disentangle(triplet_values: np.ndarray, component: str) -> np.ndarray:
    """(N, 100) triplet scores or labels → (N, C) of the component (max over its triplets),
    columns in increasing component id."""
    if component == "ivt":
        return np.asarray(triplet_values)
    ids = triplet_map()[:, _MAP_COLUMN[component]]
    order = np.argsort(ids, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(ids[order]) != 0])
    return np.maximum.reduceat(np.asarray(triplet_values)[:, order], starts, axis=1)


def triplet_map_scores(videos: list[dict[str, tuple[np.ndarray, np.ndarray]]], absent: str = "nan") -> dict:
    """Video-wise mAP (in %) of the six components.

    Each video is a dict {"instrument"|"verb"|"target"|"triplet": (labels (N,C), scores (N,C))}.
    """
    out = {}
    for component in COMPONENTS:
        if component in ("i", "v", "t"):
            pairs = [v[CLASSIFIERS[component]] for v in videos]
        else:
            pairs = [tuple(disentangle(a, component) for a in v["triplet"]) for v in videos]
        result = video_wise_ap(pairs, absent=absent)
        out[component] = {"mAP": 100.0 * result["mAP"], "AP": (100.0 * result["AP"]).tolist()}
    return out


@dataclass
class TripletResult:
    name: str
    metrics: dict
    per_video: dict = field(repr=False)

    table_header: ClassVar[tuple[str, ...]] = ("protocol", "mAP i", "v", "t", "iv", "it", "ivt")

    def scalars(self, name: str) -> dict[str, float]:
        return {f"{name}/mAP_{c}": self.metrics[c]["mAP"] for c in COMPONENTS}

    def table_rows(self, name: str) -> list[list]:
        return [[name, *(self.metrics[c]["mAP"] for c in COMPONENTS)]]

    def write_pictures(self, out_dir, name: str) -> dict:
        return {}


def zero_shot_triplets(model, tokenizer, videos: Sequence[DownstreamVideo], class_texts: dict[str, Sequence[str]], *,
                       name: str = "cholect50", max_length: int = 35, batch_size: int = 400, device="cpu",
                       num_workers: int = 0, amp_dtype=None, absent: str = "nan",
                       distributed: bool = False) -> TripletResult:
    """`class_texts` has the keys instrument / verb / target / triplet; each video's labels is a
    dict with the same keys of (N, C) 0/1 arrays. `distributed` as in `zero_shot_phase`."""
    with lockstep(distributed):
        missing = set(CLASSIFIERS.values()) - set(class_texts)
        if missing:
            raise ValueError(f"class texts missing for {sorted(missing)}")
        with eval_mode(model):
            classifiers = {key: encode_class_prompts(model, tokenizer, class_texts[key], max_length=max_length,
                                                     device=device) for key in CLASSIFIERS.values()}
            rank, world = rank_and_world(distributed)
            local = {}
            for video in shard(videos, rank, world):
                features = encode_frames(model, video.frames, batch_size=batch_size, device=device,
                                         num_workers=num_workers, amp_dtype=amp_dtype)
                local[video.video_id] = {
                    key: (np.asarray(video.labels[key]), torch.sigmoid(scores(features, text)).numpy())
                    for key, text in classifiers.items()
                }
        per_video = gather_dicts(local, distributed)
    ordered = [per_video[v.video_id] for v in videos]
    metrics = triplet_map_scores(ordered, absent=absent)
    metrics["absent_classes"] = absent
    return TripletResult(name, metrics, per_video)
