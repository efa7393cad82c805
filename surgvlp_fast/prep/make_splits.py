"""`surgvlp-fast make-splits DIR`: write `splits/{train_narration,train_keystep,train_abstract,val}.csv`.

Lectures are the videos in DIR/videos that have the text CSVs of a level: narration (aws + whisper),
keystep (+ keystep_texts), abstract (+ abstract_texts + keystep_texts). A seeded random fraction of the
narration lectures (--val-fraction) is held out as `val` and left out of every training split.
"""
import csv
import os

import numpy as np

from ..pretrain.text_sources import TEXT_FOLDERS, video_id_of

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
LEVEL_SOURCES = {"train_narration": ("aws", "whisper"), "train_keystep": ("aws", "whisper", "keystep"),
                 "train_abstract": ("abstract", "keystep")}


def make_splits(root: str, val_fraction: float = 0.05, seed: int = 0, overwrite: bool = False) -> dict[str, list[str]]:
    videos_dir = os.path.join(root, "videos")
    videos = sorted(n for n in os.listdir(videos_dir) if n.lower().endswith(VIDEO_EXTENSIONS))
    has = {source: {n for n in videos
                    if os.path.exists(os.path.join(root, folder, f"{video_id_of(n)}.csv"))}
           for source, folder in TEXT_FOLDERS.items()}
    narrated = [n for n in videos if all(n in has[s] for s in LEVEL_SOURCES["train_narration"])]
    rng = np.random.default_rng(seed)
    n_val = int(round(val_fraction * len(narrated))) if len(narrated) > 1 else 0
    val = set(rng.permutation(narrated)[:n_val].tolist())
    splits = {name: [n for n in videos if n not in val and all(n in has[s] for s in sources)]
              for name, sources in LEVEL_SOURCES.items()}
    splits["val"] = [n for n in narrated if n in val]
    out = os.path.join(root, "splits")
    os.makedirs(out, exist_ok=True)
    for name, names in splits.items():
        path = os.path.join(out, f"{name}.csv")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists (use --overwrite)")
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video_path"])
            writer.writerows([n] for n in names)
    return splits


def add_arguments(parser):
    parser.add_argument("root", metavar="DIR", help="data folder with videos/ and the *_texts/ folders")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")


def run(args) -> int:
    splits = make_splits(args.root, args.val_fraction, args.seed, args.overwrite)
    for name, names in splits.items():
        print(f"{name}: {len(names)} videos")
    return 0
