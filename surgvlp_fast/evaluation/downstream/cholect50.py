"""CholecT50 (reference.md §2.7), the dataset reader (the zero-shot triplet protocol is
evaluation/cholect50.py): action triplets of cholecystectomy videos, frames at 1 fps.

Frames `CholecT50-challenge-train/data/VIDxx/{frame:06d}.png`, labels
`{triplet,instrument,verb,target}/VIDxx.txt` (`frame_id,` + C binary columns, no header).
"""
import os
import re
from typing import Callable

import numpy as np

from ...errors import DataFormatError
from . import DownstreamVideo, FrameFiles, dataset_dir, numbered_files

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
