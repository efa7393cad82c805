"""Evaluation videos from a downstream data folder (reference.md §2.7), as `EvalVideo`s.

- Cholec80: `cholec80/csvs/videoNN.csv` (`path,label`, path `videoNN_{k}.png` from k = 0, labels
  1..7) with frames `cholec80/frames/videoNN_{k+1}.png` (the 1-indexed CAMMA extraction).
- AutoLaparo: `autolaparo/csvs/NN.csv` (path `NN_{k}.png` from k = 1) with frames
  `autolaparo/frames/NN_{k}.png`. The reference adds 1 here too (reference.md §8.16), which reads
  the next frame and runs past the last one; `frame_offset=1` restores it.
- CholecT50: `CholecT50-challenge-train/data/VIDxx/{k:06d}.png` with the label files
  `triplet|instrument|verb|target/VIDxx.txt` (frame id, then 0/1 columns).
"""
from __future__ import annotations

import csv
import os
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .features import EvalVideo

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FRAME_OFFSET = {"cholec80": 1, "autolaparo": 0}
CHOLECT50_FOLDER = "CholecT50-challenge-train"
CHOLECT50_CLASSES = {"triplet": 100, "instrument": 6, "verb": 10, "target": 15}


class EvalTransform:
    """uint8 (3,H,W) → resize to `resize` (aspect not kept), centre crop `crop`, [0,1], ImageNet
    normalisation (reference.md §6.1: 360×640 then 224)."""

    def __init__(self, resize=(360, 640), crop=224):
        self.resize, self.crop = tuple(resize), crop
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = image.float().div(255).unsqueeze(0)
        if tuple(x.shape[-2:]) != self.resize:
            x = F.interpolate(x, size=self.resize, mode="bilinear", antialias=True, align_corners=False)
        h, w = x.shape[-2:]
        top, left = (h - self.crop) // 2, (w - self.crop) // 2
        x = x[..., top:top + self.crop, left:left + self.crop]
        return ((x[0] - self.mean) / self.std).contiguous()


class FrameFiles(Dataset):
    """Image files read on demand (RGB, grey and RGBA all become 3 channels) and transformed."""

    def __init__(self, paths: list[str], transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        path = self.paths[i]
        try:
            with Image.open(path) as image:
                array = np.array(image.convert("RGB"))
        except OSError as err:
            raise RuntimeError(f"cannot read frame {path}: {err}") from None
        return self.transform(torch.from_numpy(array).permute(2, 0, 1))


def _phase_csv(dataset: str, number: int) -> str:
    return f"video{number:02d}.csv" if dataset == "cholec80" else f"{number:02d}.csv"


def phase_videos(data_root: str, dataset: str, numbers, transform, frame_offset: int | None = None) -> list[EvalVideo]:
    """One `EvalVideo` per video number, every CSV row a frame, labels 1..7 → 0..6."""
    offset = FRAME_OFFSET[dataset] if frame_offset is None else frame_offset
    base = os.path.join(data_root, "downstream_datasets", dataset)
    videos = []
    for number in numbers:
        csv_path = os.path.join(base, "csvs", _phase_csv(dataset, number))
        if not os.path.exists(csv_path):
            raise FileNotFoundError(f"{csv_path} not found (protocol video {number} of {dataset})")
        paths, labels = [], []
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
                raise ValueError(f"{csv_path}: expected columns path,label, found {reader.fieldnames}")
            for row in reader:
                match = re.fullmatch(r"(.*)_(\d+)\.png", row["path"].strip())
                if not match or not row["label"].strip().isdigit() or not 1 <= int(row["label"]) <= 7:
                    raise ValueError(f"{csv_path}, line {reader.line_num}: bad row {row}")
                paths.append(os.path.join(base, "frames", f"{match[1]}_{int(match[2]) + offset}.png"))
                labels.append(int(row["label"]) - 1)
        if not paths:
            raise ValueError(f"{csv_path}: no frames")
        missing = [p for p in (paths[0], paths[-1]) if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"{csv_path}: frame file {missing[0]} not found (frame offset {offset})")
        videos.append(EvalVideo(os.path.splitext(_phase_csv(dataset, number))[0], FrameFiles(paths, transform),
                                np.asarray(labels, dtype=np.int64)))
    return videos


def cholect50_videos(data_root: str, numbers, transform) -> list[EvalVideo]:
    """CholecT50 videos with their four label arrays, frames in label-file order."""
    base = os.path.join(data_root, "downstream_datasets", CHOLECT50_FOLDER)
    videos = []
    for number in numbers:
        vid = f"VID{number:02d}"
        labels, frame_ids = {}, None
        for kind, classes in CHOLECT50_CLASSES.items():
            path = os.path.join(base, kind, f"{vid}.txt")
            table = np.loadtxt(path, dtype=np.int64, delimiter=",", ndmin=2)
            if table.shape[1] != classes + 1:
                raise ValueError(f"{path}: expected {classes + 1} columns (frame id + {classes}), found {table.shape[1]}")
            if frame_ids is not None and not np.array_equal(frame_ids, table[:, 0]):
                raise ValueError(f"{path}: frame ids differ from the triplet file's")
            frame_ids, labels[kind] = table[:, 0], table[:, 1:]
        paths = [os.path.join(base, "data", vid, f"{k:06d}.png") for k in frame_ids]
        videos.append(EvalVideo(vid, FrameFiles(paths, transform), labels))
    return videos
