"""CholecT50 (reference.md §2.7), the dataset reader (the zero-shot triplet protocol is
evaluation/cholect50.py): action triplets of cholecystectomy videos, frames at 1 fps. `convert`
turns the release's `labels/VIDxx.json` into the interchange format (interchange.py).

Frames `CholecT50-challenge-train/data/VIDxx/{frame:06d}.png`, labels
`{triplet,instrument,verb,target}/VIDxx.txt` (`frame_id,` + C binary columns, no header).
"""
import os
import re
from collections import Counter
from typing import Callable

import numpy as np

from ...errors import DataFormatError
from . import DownstreamVideo, FrameFiles, dataset_dir, numbered_files, read_json
from .convert import Categories, ConvertedVideo, frame_files, readable, write_interchange

FOLDER = "CholecT50-challenge-train"
COLUMNS = {"instrument": 6, "verb": 10, "target": 15, "triplet": 100}
_LABEL_FILE = re.compile(r"^VID(\d+)\.txt$")


def read_video(root: str, video: int, transform: Callable | None = None) -> DownstreamVideo:
    """One CholecT50 video: frames `data/VIDxx/{frame:06d}.png` and the four label arrays."""
    base = dataset_dir(root, FOLDER)
    vid = f"VID{video:02d}"
    labels, frame_ids = {}, None
    for kind, columns in COLUMNS.items():
        path = os.path.join(base, kind, f"{vid}.txt")
        table = read_label_file(path, columns)
        if frame_ids is not None and not np.array_equal(table[:, 0], frame_ids):
            raise DataFormatError(path, "frame ids differ from the triplet file's")
        frame_ids = table[:, 0]
        labels[kind] = table[:, 1:]
    files = [os.path.join(base, "data", vid, f"{k:06d}.png") for k in frame_ids]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise DataFormatError(missing[0], f"frame missing ({len(missing)} of {len(files)} frames of {vid} are missing)")
    return DownstreamVideo(vid, FrameFiles(files, transform), labels)


def read_label_file(path: str, columns: int) -> np.ndarray:
    """`frame_id,` + `columns` binary values per line -> int32 (N, 1 + columns)."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    rows = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(path, f"not UTF-8 text ({err.reason} at byte {err.start})", line_no) from None
            if not line.strip():
                continue
            values = line.strip().rstrip(",").split(",")
            if len(values) != columns + 1:
                raise DataFormatError(path, f"expected {columns + 1} values, got {len(values)}", line_no)
            try:
                row = [int(v) for v in values]
            except ValueError:
                raise DataFormatError(path, "values must be integers", line_no) from None
            if any(v not in (0, 1) for v in row[1:]):
                raise DataFormatError(path, "label values must be 0 or 1", line_no)
            rows.append(row)
    return np.asarray(rows, np.int32).reshape(-1, columns + 1)


def available_videos(root: str) -> list[int]:
    """Video numbers with a triplet label file, sorted."""
    return numbered_files(os.path.join(dataset_dir(root, FOLDER), "triplet"), _LABEL_FILE)


# ----------------------------------------------------------------------------- the CholecT50 release -> interchange
_JSON_LABELS = re.compile(r"^VID(\d+)\.json$")
_PNG = re.compile(r"^(\d+)\.png$")
# instance vector (15 values): [0] triplet, [1] instrument (+ score, box), [7] verb, [8] target (+ score, box), [14] phase
INSTANCE_FIELDS = {"triplet": 0, "instrument": 1, "verb": 7, "target": 8}


def convert(root: str, out_dir: str, videos=None, prompts: dict | None = None, tail_tolerance: int = 0):
    """The CholecT50 release (`labels/VIDxx.json`, frames `videos/VIDxx/NNNNNN.png` at 1 fps) ->
    `<out>/cholect50.json` with multi-label `triplet`, `instrument`, `verb`, `target` and single-label
    `phases`; class names from each JSON's `categories` (every video must agree). -1 means null."""
    label_dir = os.path.join(root, "labels")
    numbers = list(videos) if videos else numbered_files(label_dir, _JSON_LABELS)
    if not numbers:
        raise DataFormatError(label_dir, "no VIDxx.json label files")
    skipped = Counter()
    categories, converted = None, []
    for n in numbers:
        vid = f"VID{n:02d}"
        path = os.path.join(label_dir, f"{vid}.json")
        data = _load_release_json(path)
        cats = {task: _category_names(path, data["categories"], key)
                for task, key in (*((t, t) for t in INSTANCE_FIELDS), ("phases", "phase"))}
        if categories is None:
            categories = cats
        elif cats != categories:
            raise DataFormatError(path, "`categories` differ from the first video's")
        files = frame_files(os.path.join(root, "videos", vid), _PNG, vid)
        first = int(files[0][:-4])
        labels = {task: [None] * len(files) for task in categories}
        past = []
        for key, instances in data["annotations"].items():
            where = f"annotations[{key!r}]"
            try:
                k = int(key) - first
            except ValueError:
                raise DataFormatError(path, f"{where}: frame id is not an integer") from None
            if k >= len(files) or k < 0:
                past.append(int(key))
                continue
            _frame_labels(path, where, instances, categories, labels, k)
        if len(past) > tail_tolerance:
            raise DataFormatError(path, f"annotations[{str(min(past))!r}]: frame past the last frame ({len(files)} frames; "
                                        f"{len(past)} such frame ids)")
        if past:
            skipped[f"label rows past the last frame (tolerance {tail_tolerance})"] += len(past)
        skipped["frames without a label"] += labels["triplet"].count(None)
        converted.append(ConvertedVideo(vid, n, [(first + k, os.path.join("videos", vid, f)) for k, f in enumerate(files)],
                                        labels))
    user = prompts or {}
    tasks = {task: Categories(ids, names, user.get(task) or [readable(x.replace(",", " ")) for x in names])
             for task, (ids, names) in categories.items()}
    return write_interchange(out_dir, "cholect50", converted, tasks, root, info={"fps": 1},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))


def _load_release_json(path: str) -> dict:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), dict) or not isinstance(
            data.get("categories"), dict):
        raise DataFormatError(path, "expected an object with `categories` and `annotations` objects")
    return data


def _category_names(path: str, categories: dict, key: str) -> tuple[list[int], list[str]]:
    table = categories.get(key)
    if not isinstance(table, dict) or not table:
        raise DataFormatError(path, f"categories.{key} must be an object of id -> name")
    try:
        entries = sorted((int(i), str(name)) for i, name in table.items())
    except ValueError:
        raise DataFormatError(path, f"categories.{key}: ids must be integers") from None
    return [i for i, _ in entries], [name for _, name in entries]


def _frame_labels(path, where, instances, categories, labels, k):
    if not isinstance(instances, list):
        raise DataFormatError(path, f"{where} must be a list of instances")
    present = {task: [] for task in INSTANCE_FIELDS}
    phases = set()
    for j, inst in enumerate(instances):
        if not isinstance(inst, list) or len(inst) != 15:
            raise DataFormatError(path, f"{where}[{j}]: an instance has 15 values, got {inst!r}")
        try:
            values = [int(inst[i]) for i in (*INSTANCE_FIELDS.values(), 14)]
        except (TypeError, ValueError):
            raise DataFormatError(path, f"{where}[{j}]: ids must be integers") from None
        for (task, _), value in zip(INSTANCE_FIELDS.items(), values):
            if value == -1:
                continue
            if value not in categories[task][0]:
                raise DataFormatError(path, f"{where}[{j}]: unknown {task} id {value}")
            if value not in present[task]:
                present[task].append(value)
        if values[-1] != -1:
            if values[-1] not in categories["phases"][0]:
                raise DataFormatError(path, f"{where}[{j}]: unknown phase id {values[-1]}")
            phases.add(values[-1])
    if len(phases) > 1:
        raise DataFormatError(path, f"{where}: instances disagree on the phase ({sorted(phases)})")
    for task, ids in present.items():
        labels[task][k] = sorted(ids)
    labels["phases"][k] = phases.pop() if phases else None
