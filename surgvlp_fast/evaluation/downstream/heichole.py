"""HeiChole (laparoscopic cholecystectomy), native release -> interchange (`phases`, `tools`).

Layout under ROOT (the release's `Annotations/Phase/` and `Annotations/Instrument/` folders, or the files
in ROOT or `ROOT/Annotations/`; file names matched case-insensitively):
- `Hei-Chole<N>_Annotation_Phase.csv`: comma-separated `frame,phase_id`, no header, one row per native
  frame, ids 0-6 with Cholec80's phase names;
- optionally `Hei-Chole<N>_Annotation_Instrument.csv`: `frame` + 21 binary columns, the 7 instrument
  categories in columns 0-6, columns 7-19 reserved (must be 0), column 20 "undefined instrument shaft"
  (not a class: its marks are counted, not scored); `frame` + 7 columns are read too;
- 1 fps frames `frames/Hei-Chole<N>_K.png` (K = 1.., `extract-frames`): frame K = row (K-1)*fps.
Native frame rate: 50 fps for videos 16-20, 23 and 24, 25 fps for the others. These facts come from a
third-party description of the release ([unconfirmed] against the official README); a video read at the
wrong rate fails on label rows past its last frame instead of being scored wrong.
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
CATEGORY_COLUMNS = 21             # the release's category file: 7 categories, 13 reserved, undefined shaft
FPS_50 = {16, 17, 18, 19, 20, 23, 24}
_PHASE_FILE = re.compile(r"^Hei-Chole(\d+)_Annotation_Phase\.csv$", re.IGNORECASE)


def native_fps(video: int) -> int:
    return 50 if video in FPS_50 else 25


def _find(root: str, kind: str, name: str) -> str | None:
    """`name` (case-insensitive) in ROOT/Annotations/<kind>, ROOT/Annotations or ROOT; None when absent."""
    for folder in (os.path.join(root, "Annotations", kind), os.path.join(root, "Annotations"), root):
        if os.path.isdir(folder):
            for entry in sorted(os.listdir(folder)):
                if entry.lower() == name.lower():
                    return os.path.join(folder, entry)
    return None


def _phase_files(root: str) -> dict[int, str]:
    found = {}
    for folder in (os.path.join(root, "Annotations", "Phase"), os.path.join(root, "Annotations"), root):
        if os.path.isdir(folder):
            for entry in sorted(os.listdir(folder)):
                m = _PHASE_FILE.match(entry)
                if m and int(m[1]) not in found:
                    found[int(m[1])] = os.path.join(folder, entry)
    return found


def _csv(path: str, columns):
    """(row, frame, values) of a headerless `frame,v1..` CSV with one of `columns` value counts per row."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    with open(path, encoding="utf-8") as f:
        for row, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = [v.strip() for v in line.strip().rstrip(",").split(",")]
            if len(fields) - 1 not in columns:
                raise DataFormatError(path, f"expected frame + {' or '.join(map(str, columns))} value(s), "
                                            f"got {len(fields)} fields", row)
            try:
                yield row, int(fields[0]), [int(v) for v in fields[1:]]
            except ValueError:
                raise DataFormatError(path, f"values must be integers, got {line.strip()!r}", row) from None


def _instruments(path: str, row: int, values: list[int], skipped: Counter) -> list[int]:
    """The category ids present in one instrument row (7 or 21 values)."""
    if any(v not in (0, 1) for v in values):
        raise DataFormatError(path, "instrument values must be 0 or 1", row)
    if len(values) == CATEGORY_COLUMNS:
        if any(values[len(INSTRUMENTS):CATEGORY_COLUMNS - 1]):
            raise DataFormatError(path, f"reserved instrument columns {len(INSTRUMENTS)}-{CATEGORY_COLUMNS - 2} "
                                        f"must be 0", row)
        skipped["undefined-instrument-shaft marks (not a class)"] += values[-1]
    return [i for i, v in enumerate(values[:len(INSTRUMENTS)]) if v]


def convert(root: str, out_dir: str, videos=None, prompts: dict | None = None, tail_tolerance: int = 1):
    """Every `Hei-Chole<N>_Annotation_Phase.csv` (or `videos`) -> `<out>/heichole.json` + `heichole_frames.txt`."""
    files_of = _phase_files(root)
    numbers = list(videos) if videos else sorted(files_of)
    if not numbers:
        raise DataFormatError(root, "no Hei-Chole<N>_Annotation_Phase.csv files (in Annotations/Phase, Annotations "
                                    "or the folder itself)")
    names = resources.phase_names("cholec80")
    user = prompts or {}
    tasks = {"phases": Categories.from_names(names, user.get("phases") or resources.class_prompts("cholec80")),
             "tools": Categories.from_names(INSTRUMENTS, user.get("tools"))}
    skipped, converted = Counter(), []
    tail = LabelTail(tail_tolerance, skipped)
    for n in numbers:
        vid, fps = f"Hei-Chole{n}", native_fps(n)
        files = frame_files(os.path.join(root, "frames"), re.compile(rf"^{vid}_(\d+)\.(?:png|jpg)$"), vid)
        phase_path = files_of.get(n) or os.path.join(root, "Annotations", "Phase", f"{vid}_Annotation_Phase.csv")
        phases = [None] * len(files)
        for k, (row, (value,)) in one_fps_rows(phase_path, _csv(phase_path, (1,)), len(files), tail, 1, fps).items():
            if not 0 <= value < len(names):
                raise DataFormatError(phase_path, f"unknown phase id {value}; known 0..{len(names) - 1}", row)
            phases[k] = value
        tools = [None] * len(files)
        tool_path = _find(root, "Instrument", f"{vid}_Annotation_Instrument.csv")
        if tool_path:
            rows = _csv(tool_path, (len(INSTRUMENTS), CATEGORY_COLUMNS))
            for k, (row, values) in one_fps_rows(tool_path, rows, len(files), tail, 1, fps).items():
                tools[k] = _instruments(tool_path, row, values, skipped)
            skipped["frames without a tool label"] += tools.count(None)
        else:
            skipped["videos without an instrument file"] += 1
        skipped["frames without a phase label"] += phases.count(None)
        converted.append(ConvertedVideo(vid, n, [(k + 1, os.path.join("frames", f)) for k, f in enumerate(files)],
                                        {"phases": phases, "tools": tools}))
    info = {"fps": 1, "native_fps": {f"Hei-Chole{n}": native_fps(n) for n in numbers}}
    return write_interchange(out_dir, "heichole", converted, tasks, root, info=info,
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
