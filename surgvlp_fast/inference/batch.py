"""`predict` over many videos into a folder: per video `<name>.csv`, `<name>.json` and `<name>.png`,
skipping videos whose three files exist (unless `overwrite`); a video that cannot be read is
named in one line and the others go on; `--shard I/N` (or torchrun's RANK / WORLD_SIZE) splits them."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..video import VideoError
from .predict import ClassEmbeddings, predict
from .probe import ProbeClassifier
from .ribbon import plot_timeline

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                    ".mts", ".m2ts", ".3gp", ".ogv")
OUTPUTS = (".csv", ".json", ".png")


@dataclass
class RunReport:
    """What a run did: videos predicted, skipped (outputs present) and failed (video -> reason)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, dict] = field(default_factory=dict)   # video -> its JSON summary


def expand_videos(paths: Sequence[str]) -> list[str]:
    """Files as given; a folder -> its video files (by extension, sorted, not recursive). A folder
    holding none stays in the list (it then fails as one line, with the other inputs going on)."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, n) for n in os.listdir(path)
                           if n.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(os.path.join(path, n)))
            out.extend(found or [path])
        else:
            out.append(path)
    return out


def output_names(videos: Sequence[str]) -> dict[str, str]:
    """video -> output stem (its file name without the extension); two videos with one stem get
    their parent folder's name prefixed."""
    stems = {v: Path(v).stem or Path(v).name for v in videos}
    counts = {}
    for s in stems.values():
        counts[s] = counts.get(s, 0) + 1
    named = {v: (f"{Path(v).parent.name}_{s}" if counts[s] > 1 else s) for v, s in stems.items()}
    if len(set(named.values())) != len(named):
        raise ValueError("two inputs would write the same output files: " +
                         ", ".join(v for v in videos if list(named.values()).count(named[v]) > 1))
    return named


def outputs_of(out_dir, name: str) -> list[Path]:
    return [Path(out_dir) / f"{name}{ext}" for ext in OUTPUTS]


def predict_videos(model, tokenizer, videos: Sequence[str], classes, out_dir, *, overwrite: bool = False,
                   shard: tuple[int, int] = (0, 1), echo: Callable[[str], None] = print, progress: bool = True,
                   debug: bool = False, **options) -> RunReport:
    """Predict every video of this shard into `out_dir`; `options` go to `predict`."""
    from tqdm import tqdm

    videos = expand_videos(videos)
    names = output_names(videos)
    index, count = shard
    videos = videos[index::count]
    report = RunReport()
    classes = classes if isinstance(classes, (ClassEmbeddings, ProbeClassifier)) else ClassEmbeddings(
        model, tokenizer, classes, max_length=options.pop("max_length", None), device=options.get("device"))
    for number, video in enumerate(videos, start=1):
        name = names[video]
        files = outputs_of(out_dir, name)
        if not overwrite and all(f.exists() for f in files):
            previous = json.loads(files[1].read_text())
            wanted = {"classes": list(classes.classes.names), "fps": float(options.get("fps", 1.0)),
                      "smooth_seconds": float(options.get("smooth", 0.0)),
                      "classifier": "zero-shot" if isinstance(classes, ClassEmbeddings) else
                      f"probe {classes.classes.source}"}
            differ = [k for k, v in wanted.items() if previous.get(k, "zero-shot" if k == "classifier" else None) != v]
            if differ:
                report.failed[video] = (f"{video}: {files[1]} holds a prediction with other {', '.join(differ)} "
                                        f"(--overwrite to replace it, or another --out)")
                echo(f"[{number}/{len(videos)}] failed: {report.failed[video]}")
                continue
            report.skipped.append(video)
            report.summaries[video] = previous
            echo(f"[{number}/{len(videos)}] {video}: outputs exist, skipped (--overwrite to redo)")
            continue
        bars = []

        def opened(total, label=f"[{number}/{len(videos)}] {name}"):
            bars.append(tqdm(total=total, desc=label, unit="frame", disable=not progress, leave=False))

        try:
            if os.path.isdir(video):
                raise VideoError(video, "is a folder holding no video files")
            timeline = predict(model, video, classes, progress=lambda n: bars[-1].update(n), on_open=opened,
                               **options)
        except (VideoError, OSError) as e:
            if debug:
                raise
            report.failed[video] = str(e) if str(video) in str(e) else f"{video}: {e}"
            echo(f"[{number}/{len(videos)}] failed: {report.failed[video]}")
            continue
        finally:
            for bar in bars:
                bar.close()
        timeline.write_csv(files[0])
        plot_timeline(files[2], timeline)
        timeline.write_json(files[1])    # last: a complete set of outputs
        report.done.append(video)
        report.summaries[video] = timeline.summary()
        segments = timeline.summary()["segments"]
        echo(f"[{number}/{len(videos)}] {video}: {timeline.duration:.0f} s, {len(segments)} segments -> "
             f"{files[1].with_suffix('.*')}")
    return report


def summary_rows(report: RunReport, class_names: Sequence[str]) -> tuple[list[str], list[list]]:
    """The run's table: per video its duration, segments and seconds per class."""
    header = ["video", "duration s", "segments", *class_names]
    rows = []
    for video, s in report.summaries.items():
        per_class = s.get("time_per_class", {})
        rows.append([os.path.basename(video), float(s["duration"]), len(s["segments"]),
                     *(float(per_class.get(c, 0.0)) for c in class_names)])
    return header, rows
