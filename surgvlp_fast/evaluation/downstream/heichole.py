"""HeiChole (laparoscopic cholecystectomy), native release -> interchange (`phases`, `tools`).

Layout under ROOT (format [unconfirmed] against the release; see field-data.md B.8):
`Hei-Chole<N>_Annotation_Phase.csv` (comma-separated `frame,phase_id`, one row per 25 fps frame, no
header, ids 0-6 with Cholec80's phase names), optionally `Hei-Chole<N>_Annotation_Instrument.csv`
(`frame` + 7 binary columns, the 7 instrument categories) in ROOT or `ROOT/Annotations/`, and
1 fps frames `frames/Hei-Chole<N>_K.png` (K = 1.., `extract-frames`). 1 fps frame K = row (K-1)*25.
"""
import os
import re
from collections import Counter

from ... import resources
from ...errors import DataFormatError
from .cholec80 import one_fps_rows
from .convert import Categories, ConvertedVideo, LabelTail, frame_files, write_interchange

INSTRUMENTS = ["Grasper", "Clipper", "Coagulation instruments", "Scissors", "Suction-irrigation", "Specimen bag",
               "Stapler"]
_PHASE_FILE = re.compile(r"^Hei-Chole(\d+)_Annotation_Phase\.csv$")


def _folder(root: str) -> str:
    nested = os.path.join(root, "Annotations")
    return nested if os.path.isdir(nested) else root


def _csv(path: str, columns: int):
    """(row, frame, values) of a headerless `frame,v1..` CSV with `columns` values per row."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    with open(path, encoding="utf-8") as f:
        for row, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = [v.strip() for v in line.strip().rstrip(",").split(",")]
            if len(fields) != columns + 1:
                raise DataFormatError(path, f"expected frame + {columns} value(s), got {len(fields)} fields", row)
            try:
                yield row, int(fields[0]), [int(v) for v in fields[1:]]
            except ValueError:
                raise DataFormatError(path, f"values must be integers, got {line.strip()!r}", row) from None


def convert(root: str, out_dir: str, videos=None, prompts: dict | None = None, tail_tolerance: int = 1):
    """Every `Hei-Chole<N>_Annotation_Phase.csv` (or `videos`) -> `<out>/heichole.json` + `heichole_frames.txt`."""
    folder = _folder(root)
    found = sorted(int(m[1]) for m in map(_PHASE_FILE.match, os.listdir(folder) if os.path.isdir(folder) else []) if m)
    numbers = list(videos) if videos else found
    if not numbers:
        raise DataFormatError(folder, "no Hei-Chole<N>_Annotation_Phase.csv files")
    names = resources.phase_names("cholec80")
    user = prompts or {}
    tasks = {"phases": Categories.from_names(names, user.get("phases") or resources.class_prompts("cholec80")),
             "tools": Categories.from_names(INSTRUMENTS, user.get("tools"))}
    skipped, converted = Counter(), []
    tail = LabelTail(tail_tolerance, skipped)
    for n in numbers:
        vid = f"Hei-Chole{n}"
        files = frame_files(os.path.join(root, "frames"), re.compile(rf"^{vid}_(\d+)\.(?:png|jpg)$"), vid)
        phase_path = os.path.join(folder, f"{vid}_Annotation_Phase.csv")
        phases = [None] * len(files)
        for k, (row, (value,)) in one_fps_rows(phase_path, _csv(phase_path, 1), len(files), tail, 1).items():
            if not 0 <= value < len(names):
                raise DataFormatError(phase_path, f"unknown phase id {value}; known 0..{len(names) - 1}", row)
            phases[k] = value
        tools = [None] * len(files)
        tool_path = os.path.join(folder, f"{vid}_Annotation_Instrument.csv")
        if os.path.exists(tool_path):
            for k, (row, values) in one_fps_rows(tool_path, _csv(tool_path, len(INSTRUMENTS)), len(files), tail,
                                                 1).items():
                if any(v not in (0, 1) for v in values):
                    raise DataFormatError(tool_path, "instrument values must be 0 or 1", row)
                tools[k] = [i for i, v in enumerate(values) if v]
            skipped["frames without a tool label"] += tools.count(None)
        else:
            skipped["videos without an instrument file"] += 1
        skipped["frames without a phase label"] += phases.count(None)
        converted.append(ConvertedVideo(vid, n, [(k + 1, os.path.join("frames", f)) for k, f in enumerate(files)],
                                        {"phases": phases, "tools": tools}))
    return write_interchange(out_dir, "heichole", converted, tasks, root, info={"fps": 1},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
