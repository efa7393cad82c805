"""What every native-release converter shares: the converted video, the interchange writer and the report.

A converter (one per set: cholec80.py, multibypass140.py, grasp.py, ...) reads a set's native release
into `ConvertedVideo`s, one label list per task aligned with the frames (a class id, None for an
unlabelled frame, or a list of class ids for a multi-label task), and `write_interchange` writes
`<out>/<name>.json` + `<out>/<name>_frames.txt` (interchange.py reads them back).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from ...errors import DataFormatError


@dataclass
class ConvertedVideo:
    video_name: str
    video_num: int
    frames: list[tuple[int, str]]              # (frame_num, path relative to the frames root), in order
    labels: dict[str, list] = field(default_factory=dict)   # task -> one value per frame


@dataclass(frozen=True)
class Categories:
    """A task's classes: ids, names and zero-shot prompts (the interchange `description`)."""

    ids: list[int]
    names: list[str]
    prompts: list[str]

    @classmethod
    def from_names(cls, names, prompts=None, first_id: int = 0) -> "Categories":
        prompts = ([readable(n) for n in names] if prompts is None else
                   prompts if isinstance(prompts, list) else list(prompts))   # a PromptLines keeps its path
        return cls(list(range(first_id, first_id + len(names))), list(names), prompts)


class PromptLines(list):
    """A task's class prompts read from a user's file (one line per class); `path` names the file in errors."""

    def __init__(self, lines, path: str):
        super().__init__(lines)
        self.path = path


@dataclass
class ConversionReport:
    name: str
    json_path: str
    frame_list: str
    videos: int
    frames: int
    labelled: dict[str, int]                   # task -> labelled frames
    skipped: dict[str, int]                    # reason -> count

    def lines(self) -> list[str]:
        out = [f"{self.name}: {self.videos} video(s), {self.frames} frame(s) -> {self.json_path}, {self.frame_list}"]
        out += [f"  {task}: {n} labelled frame(s)" for task, n in self.labelled.items()]
        out += [f"  skipped: {n} {why}" for why, n in self.skipped.items()]
        return out


def readable(name: str) -> str:
    """A class name as plain words (the default prompt when a set ships none): `gastric_pouch_creation`
    -> `gastric pouch creation`, `CalotTriangleDissection` -> `calot triangle dissection`."""
    words, current = [], ""
    for ch in name.replace("_", " ").replace("-", " "):
        if ch.isupper() and current and not current[-1].isupper() and current[-1] != " ":
            words.append(current)
            current = ""
        current += ch
    words.append(current)
    return " ".join(" ".join(words).lower().split())


def write_interchange(out_dir: str, name: str, videos: list[ConvertedVideo], tasks: dict[str, Categories],
                      frames_root: str, info: dict | None = None, skipped: Counter | None = None) -> ConversionReport:
    """`<out_dir>/<name>.json` (images, annotations, `<task>_categories`, `info`) and `<name>_frames.txt`."""
    for task, c in tasks.items():
        if not len(c.ids) == len(c.names) == len(c.prompts):
            source = getattr(c.prompts, "path", None)
            raise ValueError(f"{source + ': ' if source else ''}{len(c.prompts)} prompt line(s) for the "
                             f"{len(c.names)} {task} classes of {name} (one line per class)")
    os.makedirs(out_dir, exist_ok=True)
    images, annotations, rows = [], [], []
    labelled = Counter()
    for video in videos:
        for i, (frame_num, path) in enumerate(video.frames):
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": path, "video_name": video.video_name, "frame_num": frame_num})
            annotation = {"id": image_id, "image_id": image_id}
            for task in tasks:
                value = video.labels.get(task, [None] * len(video.frames))[i]
                annotation[task] = value
                labelled[task] += value is not None
            annotations.append(annotation)
            rows.append(f"{video.video_name} {video.video_num} {frame_num} {path}")
    # what the conversion dropped (label rows past the last frame, videos without a label file) travels
    # with the set, so every later run reports it; frames kept without a label the reader counts itself
    dropped = {k: v for k, v in (skipped or {}).items() if v and not k.startswith("frames without")}
    data = {"info": {"set": name, "frames_root": os.path.abspath(frames_root), **(info or {}), "skipped": dropped},
            "images": images, "annotations": annotations}
    for task, c in tasks.items():
        data[f"{task}_categories"] = [{"id": i, "name": n, "description": p, "supercategory": task}
                                      for i, n, p in zip(c.ids, c.names, c.prompts)]
    json_path = os.path.join(out_dir, f"{name}.json")
    frame_list = os.path.join(out_dir, f"{name}_frames.txt")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    with open(frame_list, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + ("\n" if rows else ""))
    return ConversionReport(name, json_path, frame_list, len(videos), len(images),
                            {t: labelled[t] for t in tasks}, dict(skipped or {}))


def frame_files(folder: str, pattern, what: str) -> list[str]:
    """The frame files of one video in `folder` whose names match `pattern` (group 1 = the frame
    number), in number order; numbers must run 1..n (or 0..n-1) without a gap."""
    if not os.path.isdir(folder):
        raise DataFormatError(folder, f"frame folder of {what} not found")
    numbered = sorted((int(m[1]), name) for name in os.listdir(folder) if (m := pattern.match(name)))
    if not numbered:
        raise DataFormatError(folder, f"no frames of {what} (expected names like {pattern.pattern})")
    first = numbered[0][0]
    for i, (number, name) in enumerate(numbered):
        if number != first + i:
            raise DataFormatError(os.path.join(folder, name), f"frame {first + i} of {what} is missing (next is {number})")
    return [name for _, name in numbered]


class LabelTail:
    """Label rows past a video's last frame: up to `tolerance` are skipped and counted (frame extraction
    often drops the video's last partial second); more are a DataFormatError naming the first row."""

    def __init__(self, tolerance: int, skipped: Counter):
        self.tolerance, self.skipped = tolerance, skipped

    def check(self, path: str, rows_past: list[int], frames: int, what: str = "label row") -> None:
        if not rows_past:
            return
        if len(rows_past) > self.tolerance:
            raise DataFormatError(path, f"{what} past the last frame ({frames} frames; {len(rows_past)} such rows)",
                                  rows_past[0])
        self.skipped[f"{what}s past the last frame (tolerance {self.tolerance})"] += len(rows_past)


def convert_phase_set(phase_set, name: str, root: str, out_dir: str, categories: Categories, videos=None):
    """A CAMMA phase-CSV set (downstream.PhaseSet: `csvs/` + `frames/`) -> `<out>/<name>.json` (task `phases`)."""
    numbers = list(videos) if videos else phase_set.available_videos(root)
    if not numbers:
        raise DataFormatError(root, f"no {name} phase CSVs (csvs/*.csv)")
    base = os.path.abspath(os.path.join(root, "downstream_datasets", phase_set.folder)
                           if os.path.isdir(os.path.join(root, "downstream_datasets", phase_set.folder)) else root)
    converted = []
    for n in numbers:
        video = phase_set.read_video(root, n)
        files = [os.path.relpath(os.path.abspath(f), base) for f in video.frames.files]
        converted.append(ConvertedVideo(video.video_id, n, [(k + 1, f) for k, f in enumerate(files)],
                                        {"phases": [int(v) for v in video.labels]}))
    return write_interchange(out_dir, name, converted, {"phases": categories}, base,
                             info={"fps": 1, "source": f"CAMMA phase CSVs ({phase_set.folder})"})
