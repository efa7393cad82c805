"""Downstream evaluation sets (reference.md §2.7): what every set's reader shares.

Each video is a `DownstreamVideo(video_id, frames, labels)`: `frames` is a Dataset whose item i is
frame i (uint8 (3, H, W), or `transform(frame)` when a transform is given), in order, every frame
once; `labels` is an (N,) array of phase ids, or a dict of (N, C) multi-hot arrays (CholecT50).
Every evaluation runner takes these records.

One file per set (cholec80.py, autolaparo.py, cholect50.py) reads its on-disk layout with the
parts here: frames read from image files, the data-root lookup, and `PhaseSet` (phase CSVs of
`path,label` rows naming frames in `frames/`). registry.py names the sets: a new set is one file
and one entry there.
"""
import csv
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import DataFormatError


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


def read_json(path: str):
    """A JSON file's value; a missing file or one that does not parse is one DataFormatError naming it."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFormatError(path, f"not valid JSON ({err})") from None


def dataset_dir(root: str, folder: str) -> str:
    """The set's folder: `root/downstream_datasets/<folder>` when it exists, else `root` itself."""
    nested = os.path.join(root, "downstream_datasets", folder)
    return nested if os.path.isdir(nested) else root


def numbered_files(folder: str, pattern: re.Pattern) -> list[int]:
    """The numbers (`pattern`'s first group) of the files in `folder` that match it, sorted."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(m[1]) for m in map(pattern.match, os.listdir(folder)) if m)


# ----------------------------------------------------------------------------- phase CSVs
PHASE_CSV = re.compile(r"^(?:video)?(\d+)\.csv$")
_INDEXED = re.compile(r"^(?P<prefix>.*)_(?P<k>\d+)(?P<ext>\.\w+)$")


@dataclass(frozen=True)
class PhaseSet:
    """A phase-recognition set in `downstream_datasets/<folder>/`: one CSV per video,
    `csvs/<csv_name.format(video)>`, rows `NAME_K.EXT,label` naming the frame
    `frames/NAME_{K + frame_index_offset}.EXT`; labels 1-7 become 0-6."""

    folder: str
    csv_name: str                 # e.g. "video{:02d}.csv"
    frame_index_offset: int       # the set's own; a reader call may pass another (the reference's)

    def available_videos(self, root: str) -> list[int]:
        """Video numbers of the phase CSVs, sorted."""
        return numbered_files(os.path.join(dataset_dir(root, self.folder), "csvs"), PHASE_CSV)

    def read_video(self, root: str, video: int, transform: Callable | None = None,
                   frame_index_offset: int | None = None) -> DownstreamVideo:
        """Video `video` from the data folder `root` (the one holding `downstream_datasets/`, or the
        set's folder itself)."""
        offset = self.frame_index_offset if frame_index_offset is None else frame_index_offset
        base = dataset_dir(root, self.folder)
        csv_path = os.path.join(base, "csvs", self.csv_name.format(video))
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
