"""The field's interchange format (SurgLaVi/SurgCLIP evaluation, decisions.md §12): one reader for every task.

A set is a COCO-like JSON plus a whitespace frame list:

- JSON `images`: `[{id, file_name, video_name, frame_num, ...}]`; `annotations`: `[{image_id, <task>: value}]`
  with one field per task (`phases`, `steps`, `actions`, `tools`, `instruments`, `triplet`, ...);
  `<task>_categories`: `[{id, name, description}]`, where `description` is the class's zero-shot prompt.
  A single-label value is a class id (null or -1: unlabelled); a multi-label value is a list of class
  ids (`[]`: no class present). A task is single- or multi-label by its values, never both.
- Frame list: one row per frame, `video_name video_num frame_num relative_frame_path`.

Every image must be a frame-list row and every row an image; each frame file must exist. Frames of
a video keep the frame list's frame_num order; unlabelled frames are left out and counted in
`skipped`. Any other disagreement is one DataFormatError naming the file and row.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import DataFormatError
from . import DownstreamVideo, FrameFiles, read_json

SINGLE, MULTI = "single", "multi"


@dataclass(frozen=True)
class TaskClasses:
    """One task's classes in category order (sorted by id): ids, names and zero-shot prompts."""

    task: str
    kind: str                 # SINGLE | MULTI
    ids: list[int]
    names: list[str]
    prompts: list[str]


@dataclass
class InterchangeSet:
    """A read task: its classes, its videos (labels (N,) indices or (N, C) multi-hot) and what was skipped."""

    json_path: str
    classes: TaskClasses
    videos: list[DownstreamVideo]
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return sum(len(v.frames) for v in self.videos)


@dataclass(frozen=True)
class FrameRow:
    row: int
    video_name: str
    video_num: int
    frame_num: int
    path: str


def load_json(path: str) -> dict:
    """The interchange JSON (a dict with `images` and `annotations` lists)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataFormatError(path, "the top level must be an object with `images` and `annotations`")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise DataFormatError(path, f"`{key}` must be a list")
    return data


def tasks_of(data: dict) -> list[str]:
    """The tasks a JSON defines: the `X` of every `X_categories` key."""
    return sorted(k[: -len("_categories")] for k in data if k.endswith("_categories"))


def read_frame_list(path: str) -> list[FrameRow]:
    """The whitespace frame list: `video_name video_num frame_num relative_frame_path` rows."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    rows, seen = [], {}
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                parts = raw.decode("utf-8").split()
            except UnicodeDecodeError as err:
                raise DataFormatError(path, f"not UTF-8 text ({err.reason})", line_no) from None
            if not parts:
                continue
            if len(parts) != 4:
                raise DataFormatError(path, f"expected 4 fields `video_name video_num frame_num path`, got {len(parts)}",
                                      line_no)
            try:
                video_num, frame_num = int(parts[1]), int(parts[2])
            except ValueError:
                raise DataFormatError(path, f"video_num and frame_num must be integers, got {parts[1]!r} {parts[2]!r}",
                                      line_no) from None
            key = (parts[0], frame_num)
            if key in seen:
                raise DataFormatError(path, f"frame {frame_num} of video {parts[0]} listed twice (first at row {seen[key]})",
                                      line_no)
            seen[key] = line_no
            rows.append(FrameRow(line_no, parts[0], video_num, frame_num, parts[3]))
    return rows


def task_classes(data: dict, task: str, json_path: str) -> TaskClasses:
    """`<task>_categories` sorted by id (names, prompts = descriptions, or the names when absent); the kind
    comes from the annotations' values."""
    categories = data.get(f"{task}_categories")
    if not isinstance(categories, list) or not categories:
        known = ", ".join(tasks_of(data)) or "none"
        raise DataFormatError(json_path, f"no `{task}_categories` list (tasks defined: {known})")
    entries = []
    for i, c in enumerate(categories):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not isinstance(c.get("name"), str):
            raise DataFormatError(json_path, f"{task}_categories[{i}] needs an integer `id` and a string `name`")
        entries.append((c["id"], c["name"], c.get("description") or c["name"]))
    duplicates = [i for i, n in Counter(e[0] for e in entries).items() if n > 1]
    if duplicates:
        raise DataFormatError(json_path, f"{task}_categories: id {duplicates[0]} appears twice")
    entries.sort()
    kinds = {type(a[task]) is list for a in data["annotations"] if isinstance(a, dict) and a.get(task) is not None}
    if len(kinds) > 1:
        raise DataFormatError(json_path, f"`{task}` values mix single ids and lists")
    return TaskClasses(task, MULTI if kinds == {True} else SINGLE, [e[0] for e in entries], [e[1] for e in entries],
                       [e[2] for e in entries])


def read_interchange(json_path: str, frame_list: str, task: str, frames_root: str | None = None,
                     transform: Callable | None = None, check_files: bool = True) -> InterchangeSet:
    """Task `task` of an interchange set. `frames_root` holds the frame list's relative paths (default:
    the JSON's `info.frames_root`, else the frame list's folder)."""
    data = load_json(json_path)
    classes = task_classes(data, task, json_path)
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    if frames_root is None:
        frames_root = info.get("frames_root") or os.path.dirname(os.path.abspath(frame_list))
    rows = read_frame_list(frame_list)
    images = _images(data, json_path)
    row_of_image = _match_frames(rows, images, json_path, frame_list)
    labels = _labels(data, task, classes, images, json_path)
    skipped = Counter({f"at conversion: {k}": v for k, v in _conversion_skips(info, json_path).items()})
    by_video: dict[str, list[FrameRow]] = {}
    video_nums: dict[str, int] = {}
    for r in rows:
        if video_nums.setdefault(r.video_name, r.video_num) != r.video_num:
            raise DataFormatError(frame_list, f"video {r.video_name} has video_num {r.video_num} here and "
                                              f"{video_nums[r.video_name]} before", r.row)
        if check_files and not os.path.isfile(os.path.join(frames_root, r.path)):
            raise DataFormatError(frame_list, f"frame {r.path} not found under {frames_root}", r.row)
        by_video.setdefault(r.video_name, []).append(r)
    label_of_row = {row_of_image[image_id].row: value for image_id, value in labels.items()}
    videos = []
    for name in sorted(by_video, key=lambda v: (video_nums[v], v)):
        frames = sorted(by_video[name], key=lambda r: r.frame_num)
        kept = [r for r in frames if r.row in label_of_row]
        skipped["unlabelled frames"] += len(frames) - len(kept)
        if not kept:
            skipped["videos without labels"] += 1
            continue
        values = [label_of_row[r.row] for r in kept]
        if classes.kind == SINGLE:
            array = np.asarray(values, np.int64)
        else:
            array = np.zeros((len(values), len(classes.ids)), np.int64)
            for i, ids in enumerate(values):
                array[i, ids] = 1
        videos.append(DownstreamVideo(name, FrameFiles([os.path.join(frames_root, r.path) for r in kept], transform),
                                      array))
    return InterchangeSet(json_path, classes, videos, {k: v for k, v in skipped.items() if v})


def _conversion_skips(info: dict, json_path: str) -> dict[str, int]:
    """`info.skipped` ({reason: count}, written by convert-downstream), checked."""
    skips = info.get("skipped") or {}
    if not isinstance(skips, dict) or not all(isinstance(k, str) and type(v) is int and v >= 0
                                              for k, v in skips.items()):
        raise DataFormatError(json_path, f"info.skipped must map reasons to counts, got {skips!r}")
    return skips


def _images(data: dict, json_path: str) -> dict[int, tuple[str, int]]:
    images = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            raise DataFormatError(json_path, f"images[{i}] is not an object")
        image_id, video, frame = image.get("id"), image.get("video_name"), image.get("frame_num")
        if not isinstance(image_id, int) or not isinstance(frame, int) or not isinstance(video, (str, int)):
            raise DataFormatError(json_path, f"images[{i}] needs integer `id`, `frame_num` and a `video_name`")
        if image_id in images:
            raise DataFormatError(json_path, f"images[{i}]: image id {image_id} appears twice")
        images[image_id] = (str(video), frame)
    return images


def _match_frames(rows: list[FrameRow], images: dict, json_path: str, frame_list: str) -> dict[int, FrameRow]:
    """image id -> its frame-list row; any image without a row or row without an image is an error."""
    row_of_key = {(r.video_name, r.frame_num): r for r in rows}
    matched, used = {}, set()
    for image_id, key in images.items():
        row = row_of_key.get(key)
        if row is None:
            raise DataFormatError(json_path, f"image {image_id} (video {key[0]}, frame {key[1]}) is not in the frame "
                                             f"list {frame_list}")
        if key in used:
            raise DataFormatError(json_path, f"image {image_id}: video {key[0]} frame {key[1]} has two images")
        used.add(key)
        matched[image_id] = row
    for r in rows:
        if (r.video_name, r.frame_num) not in used:
            raise DataFormatError(frame_list, f"video {r.video_name} frame {r.frame_num} has no image in {json_path}",
                                  r.row)
    return matched


def _labels(data: dict, task: str, classes: TaskClasses, images: dict, json_path: str) -> dict[int, object]:
    """image id -> class index (single) or list of class indices (multi), for the labelled images."""
    index = {cid: i for i, cid in enumerate(classes.ids)}
    known = f"known ids: {classes.ids[0]}..{classes.ids[-1]}" if classes.ids == list(
        range(classes.ids[0], classes.ids[-1] + 1)) else f"known ids: {classes.ids}"
    out = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise DataFormatError(json_path, f"{where} is not an object")
        value = ann.get(task)
        if value is None:
            continue
        image_id = ann.get("image_id")
        if image_id not in images:
            raise DataFormatError(json_path, f"{where}: image_id {image_id!r} is not an image")
        if classes.kind == SINGLE:
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataFormatError(json_path, f"{where}: `{task}` must be a class id, got {value!r}")
            if value == -1 and -1 not in index:
                continue
            ids = [value]
        else:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise DataFormatError(json_path, f"{where}: `{task}` must be a list of class ids, got {value!r}")
            if len(set(value)) != len(value):
                raise DataFormatError(json_path, f"{where}: `{task}` repeats a class id in {value!r} (multi-label "
                                                 f"values are lists of class ids, not multi-hot vectors)")
            ids = value
        unknown = [v for v in ids if v not in index]
        if unknown:
            raise DataFormatError(json_path, f"{where} (image {image_id}): unknown `{task}` class id {unknown[0]}; {known}")
        if image_id in out:
            raise DataFormatError(json_path, f"{where}: image {image_id} has a second `{task}` label")
        out[image_id] = index[ids[0]] if classes.kind == SINGLE else [index[v] for v in ids]
    return out
