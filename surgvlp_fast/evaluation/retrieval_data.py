"""Retrieval segments from a pretraining data folder's hold-out lectures (reference.md §6.3).

Levels: `clip` (each narration row and its sentence), `phase` (each keystep row and its text),
`video` (the whole lecture and its abstract). Each segment is `frames` frames sampled uniformly
over its time span (at the centres of equal sub-intervals), centre-cropped to a square, resized and
normalised as at training time.
"""
from __future__ import annotations

import os

import numpy as np

from .retrieval import Segment

LEVEL_SOURCES = {"clip": "aws", "phase": "keystep", "video": "abstract"}


def uniform_timestamps(start: float, end: float, count: int) -> np.ndarray:
    return start + (np.arange(count) + 0.5) * (max(end, start) - start) / count


def retrieval_segments(data_root: str, split: str = "splits/val.csv", levels=("clip", "phase", "video"), *,
                       frames: int = 10, size: int = 224, narration: str = "aws", max_segments: int = 1000,
                       seed: int = 0) -> dict[str, list[Segment]]:
    """{level: segments} of the lectures named in `split` (at most `max_segments` per level, drawn
    with a fixed seed when there are more)."""
    from surgvlp_fast.pretrain.text_sources import TEXT_FOLDERS, read_split, read_timed_csv, video_id_of
    from surgvlp_fast.models.preprocess import normalize
    from surgvlp_fast.video import open_video

    unknown = set(levels) - set(LEVEL_SOURCES)
    if unknown:
        raise ValueError(f"unknown retrieval level(s) {sorted(unknown)}; known: {', '.join(LEVEL_SOURCES)}")
    sources = dict(LEVEL_SOURCES, clip=narration)
    names = read_split(os.path.join(data_root, split), os.path.join(data_root, "videos"))
    if not names:
        raise ValueError(f"{os.path.join(data_root, split)}: no lectures")
    wanted = {level: [] for level in levels}  # level -> [(video file, start, end, text)]
    for name in names:
        vid = video_id_of(name)
        for level in levels:
            table = read_timed_csv(os.path.join(data_root, TEXT_FOLDERS[sources[level]], f"{vid}.csv"),
                                   sources[level])
            wanted[level] += [(name, float(s), float(e), t) for s, e, t in zip(table.start, table.end, table.text)]
    rng = np.random.default_rng(seed)
    for level, items in wanted.items():
        if len(items) > max_segments:
            wanted[level] = [items[i] for i in sorted(rng.choice(len(items), max_segments, replace=False))]
    segments = {level: [None] * len(items) for level, items in wanted.items()}
    by_lecture = {}  # read each lecture once
    for level, items in wanted.items():
        for index, item in enumerate(items):
            by_lecture.setdefault(item[0], []).append((level, index, item))
    for name, requests in by_lecture.items():
        with open_video(os.path.join(data_root, "videos", name)) as reader:
            meta = reader.metadata
            side = min(meta.width, meta.height)
            crop = ((meta.width - side) // 2, (meta.height - side) // 2, side, side)
            for level, index, (_, start, end, text) in requests:
                if level == "video":
                    start, end = 0.0, meta.duration
                clip = reader.frames_at(uniform_timestamps(start, end, frames).tolist(), crop=crop, size=size)
                segments[level][index] = Segment(normalize(clip), [text])
    return segments
