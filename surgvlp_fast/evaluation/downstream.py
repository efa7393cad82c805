"""Downstream evaluation sets (reference.md §2.7): Cholec80, AutoLaparo, CholecT50.

Each video is a `DownstreamVideo(video_id, frames, labels)`: `frames` is a Dataset whose item i is
frame i (uint8 (3, H, W), or `transform(frame)` when a transform is given), in order, every frame
once; `labels` is an (N,) array of phase ids 0-6, or for CholecT50 a dict of (N, C) multi-hot arrays
(instrument 6, verb 10, target 15, triplet 100). Every evaluation runner takes these records.

Frame naming:
- Cholec80: `csvs/videoNN.csv` rows `videoNN_{k}.png,label` with k = 0..n-1; the files are 1-indexed
  (CAMMA extraction), so row k is the file `videoNN_{k+1}.png` (frame_index_offset=1, the reference's).
- AutoLaparo: `csvs/NN.csv` rows `NN_{k}.png` from k = 1, files from 1: offset 0. The reference
  applies +1 here too (reference.md §8 item 16), which reads the next second's frame and fails on the
  last row: pass frame_index_offset=1 to reproduce it.
- CholecT50: `data/VIDxx/{frame:06d}.png`, labels `{triplet,instrument,verb,target}/VIDxx.txt`
  (`frame_id,` + C binary columns, no header).
"""
import csv
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError

PHASE_LAYOUT = {  # dataset: (folder, csv name, default frame index offset)
    "cholec80": ("cholec80", "video{:02d}.csv", 1),
    "autolaparo": ("autolaparo", "{:02d}.csv", 0),
}
CHOLECT50_FOLDER = "CholecT50-challenge-train"
CHOLECT50_COLUMNS = {"instrument": 6, "verb": 10, "target": 15, "triplet": 100}


@dataclass
class DownstreamVideo:
    """One evaluation video: its frames (item i is frame i, the transformed (3,H,W) float tensor
    when a transform is given) and its labels ((N,) phase ids, or a dict of (N, C) multi-hot arrays)."""

    video_id: str
    frames: Dataset
    labels: Any

    def __post_init__(self):
        n = len(self.frames)
        for name, array in (self.labels.items() if isinstance(self.labels, dict) else [("labels", self.labels)]):
            if len(array) != n:
                raise ValueError(f"video {self.video_id}: {len(array)} {name} for {n} frames")


def read_image(path: str) -> torch.Tensor:
    """A PNG/JPEG file -> uint8 (3, H, W) RGB (grey and RGBA converted, unlike the reference's no-op)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise DataFormatError(path, f"cannot read image ({err})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


class FrameFiles(Dataset):
    """Image files in a fixed order; item i = transform(uint8 (3, H, W)) of file i."""

    def __init__(self, files: list[str], transform: Callable | None = None):
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        frame = read_image(self.files[i])
        return self.transform(frame.unsqueeze(0))[0] if self.transform is not None else frame


_INDEXED = re.compile(r"^(?P<prefix>.*)_(?P<k>\d+)(?P<ext>\.\w+)$")


def phase_video(root: str, dataset: str, video: int, transform: Callable | None = None,
                frame_index_offset: int | None = None) -> DownstreamVideo:
    """One Cholec80 / AutoLaparo video from the data folder `root` (the one holding
    `downstream_datasets/`, or the dataset folder itself). Labels 1-7 become 0-6."""
    folder, csv_name, default_offset = PHASE_LAYOUT[dataset]
    offset = default_offset if frame_index_offset is None else frame_index_offset
    base = _dataset_dir(root, folder)
    csv_path = os.path.join(base, "csvs", csv_name.format(video))
    files, labels = [], []
    for line, row in _csv_rows(csv_path, ("path", "label")):
        match = _INDEXED.match(row["path"].strip())
        if not match:
            raise DataFormatError(csv_path, f"path {row['path']!r} is not NAME_K.EXT", line)
        name = f"{match['prefix']}_{int(match['k']) + offset}{match['ext']}"
        file = os.path.join(base, "frames", name)
        if not os.path.exists(file):
            raise DataFormatError(csv_path, f"frame {name} not found in {os.path.dirname(file)}", line)
        try:
            label = int(row["label"])
        except ValueError:
            raise DataFormatError(csv_path, f"label {row['label']!r} is not an integer", line) from None
        if not 1 <= label <= 7:
            raise DataFormatError(csv_path, f"label {label} outside 1..7", line)
        files.append(file)
        labels.append(label - 1)
    return DownstreamVideo(os.path.splitext(os.path.basename(csv_path))[0], FrameFiles(files, transform),
                           np.asarray(labels, np.int64))


def cholect50_video(root: str, video: int, transform: Callable | None = None) -> DownstreamVideo:
    """One CholecT50 video: frames `data/VIDxx/{frame:06d}.png` and the four label arrays."""
    base = _dataset_dir(root, CHOLECT50_FOLDER)
    vid = f"VID{video:02d}"
    labels, frame_ids = {}, None
    for kind, columns in CHOLECT50_COLUMNS.items():
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


def available_videos(root: str, dataset: str) -> list[int]:
    """Video numbers present in the data folder, sorted."""
    if dataset == "cholect50":
        folder = os.path.join(_dataset_dir(root, CHOLECT50_FOLDER), "triplet")
        pattern = re.compile(r"^VID(\d+)\.txt$")
    else:
        folder = os.path.join(_dataset_dir(root, PHASE_LAYOUT[dataset][0]), "csvs")
        pattern = re.compile(r"^(?:video)?(\d+)\.csv$")
    if not os.path.isdir(folder):
        return []
    return sorted(int(m[1]) for m in map(pattern.match, os.listdir(folder)) if m)


def _dataset_dir(root: str, folder: str) -> str:
    nested = os.path.join(root, "downstream_datasets", folder)
    return nested if os.path.isdir(nested) else root


def _csv_rows(path: str, required):
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            missing = [c for c in required if c not in header]
            if missing:
                raise DataFormatError(path, f"missing column(s) {missing}; found {header}", 1)
            for row in reader:
                yield reader.line_num, row
        except (UnicodeDecodeError, csv.Error) as err:
            raise DataFormatError(path, f"not a readable CSV ({err})", reader.line_num + 1) from None
