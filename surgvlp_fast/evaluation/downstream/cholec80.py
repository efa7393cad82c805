"""Cholec80 (reference.md §2.7): cholecystectomy videos, 7 phases, 7 tools, frames at 1 fps.

The CAMMA layout the phase protocol reads: `cholec80/csvs/videoNN.csv` rows `videoNN_{k}.png,label`
with k = 0..n-1 and labels 1-7, frames in `cholec80/frames/`. The files are 1-indexed (CAMMA
extraction), so row k is the file `videoNN_{k+1}.png` (frame_index_offset=1, the reference's).

The native release (`convert`): `phase_annotations/videoNN-phase.txt` (TSV `Frame Phase`, one row
per 25 fps frame, phase names), `tool_annotations/videoNN-tool.txt` (TSV `Frame` + 7 tool columns,
rows every 25th frame) and 1 fps frames `frames/videoNN_K.png` (K = 1.., `extract-frames` naming).
1 fps frame K is 25 fps frame (K-1)*25.
"""
import os
import re
from collections import Counter

from ... import resources
from ...errors import DataFormatError
from . import PhaseSet
from .convert import Categories, ConvertedVideo, LabelTail, convert_phase_set, frame_files, write_interchange

CHOLEC80 = PhaseSet(folder="cholec80", csv_name="video{:02d}.csv", frame_index_offset=1)
read_video, available_videos = CHOLEC80.read_video, CHOLEC80.available_videos

TOOLS = ["Grasper", "Bipolar", "Hook", "Scissors", "Clipper", "Irrigator", "SpecimenBag"]
NATIVE_FPS = 25
_PHASE_FILE = re.compile(r"^video(\d+)-phase\.txt$")


def native_videos(root: str) -> list[int]:
    """Video numbers with a `phase_annotations/videoNN-phase.txt`, sorted."""
    folder = os.path.join(root, "phase_annotations")
    return sorted(int(m[1]) for m in map(_PHASE_FILE.match, os.listdir(folder)) if m) if os.path.isdir(folder) else []


def _tsv(path: str, header: list[str]):
    """(row number, fields) of a tab-separated file whose first row is `header`."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    with open(path, encoding="utf-8", errors="strict") as f:
        lines = f.read().splitlines()
    found = lines[0].split() if lines else []
    if found != header:
        raise DataFormatError(path, f"header must be {' '.join(header)!r}, found {' '.join(found)!r}", 1)
    for row, line in enumerate(lines[1:], 2):
        if line.strip():
            fields = line.split()
            if len(fields) != len(header):
                raise DataFormatError(path, f"expected {len(header)} fields, got {len(fields)}", row)
            try:
                frame = int(fields[0])
            except ValueError:
                raise DataFormatError(path, f"frame {fields[0]!r} is not an integer", row) from None
            yield row, frame, fields[1:]


def one_fps_rows(path: str, rows, frames: int, tail: LabelTail, every: int,
                 fps: int = NATIVE_FPS) -> dict[int, tuple[int, list[str]]]:
    """1 fps frame index -> (row, fields) of the rows at multiples of `every` native frames (`fps` a second)."""
    out, past = {}, []
    for row, frame, fields in rows:
        if frame < 0:
            raise DataFormatError(path, f"negative frame {frame}", row)
        if frame % every:
            raise DataFormatError(path, f"frame {frame} is not a multiple of {every}", row)
        k = frame // fps
        if frame % fps:
            continue
        if k in out:
            raise DataFormatError(path, f"frame {frame} appears twice (first at row {out[k][0]})", row)
        if k >= frames:
            past.append(row)
            continue
        out[k] = (row, fields)
    tail.check(path, past, frames)
    return out


def convert(root: str, out_dir: str, videos=None, prompts: dict | None = None, tail_tolerance: int = 1):
    """The native release under `root` -> `<out_dir>/cholec80.json` + `cholec80_frames.txt` (tasks
    `phases` and `tools`). `videos`: the numbers to convert (default: every phase file)."""
    numbers = list(videos) if videos else native_videos(root)
    if not numbers:
        raise DataFormatError(os.path.join(root, "phase_annotations"), "no videoNN-phase.txt files")
    names = resources.phase_names("cholec80")
    tasks = {"phases": Categories.from_names(names, (prompts or {}).get("phases")
                                             or resources.class_prompts("cholec80")),
             "tools": Categories.from_names(TOOLS, (prompts or {}).get("tools"))}
    phase_id = {n: i for i, n in enumerate(names)}
    skipped, converted = Counter(), []
    tail = LabelTail(tail_tolerance, skipped)
    for n in numbers:
        vid = f"video{n:02d}"
        frame_pattern = re.compile(rf"^{vid}_(\d+)\.(?:png|jpg)$")
        files = frame_files(os.path.join(root, "frames"), frame_pattern, vid)
        phase_path = os.path.join(root, "phase_annotations", f"{vid}-phase.txt")
        phases = [None] * len(files)
        for k, (row, (name,)) in one_fps_rows(phase_path, _tsv(phase_path, ["Frame", "Phase"]), len(files), tail, 1).items():
            if name not in phase_id:
                raise DataFormatError(phase_path, f"unknown phase {name!r}; known: {', '.join(names)}", row)
            phases[k] = phase_id[name]
        tools = [None] * len(files)
        tool_path = os.path.join(root, "tool_annotations", f"{vid}-tool.txt")
        if os.path.exists(tool_path):
            for k, (row, values) in one_fps_rows(tool_path, _tsv(tool_path, ["Frame"] + TOOLS), len(files), tail,
                                             NATIVE_FPS).items():
                if any(v not in ("0", "1") for v in values):
                    raise DataFormatError(tool_path, f"tool values must be 0 or 1, got {' '.join(values)}", row)
                tools[k] = [i for i, v in enumerate(values) if v == "1"]
        else:
            skipped["videos without a tool file"] += 1
        skipped["frames without a phase label"] += phases.count(None)
        skipped["frames without a tool label"] += tools.count(None) if os.path.exists(tool_path) else 0
        converted.append(ConvertedVideo(vid, n, [(k + 1, os.path.join("frames", f)) for k, f in enumerate(files)],
                                        {"phases": phases, "tools": tools}))
    return write_interchange(out_dir, "cholec80", converted, tasks, root,
                             info={"fps": 1, "source": "Cholec80 native release (25 fps phases, 1 fps tools)"},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))


def convert_csvs(root: str, out_dir: str, videos=None, prompts: dict | None = None):
    """The CAMMA layout (`csvs/videoNN.csv` + `frames/`, what the `cholec80` protocol reads) ->
    `<out>/cholec80.json` (task `phases`, the field's packaged prompts unless `prompts["phases"]`)."""
    categories = Categories.from_names(resources.phase_names("cholec80"),
                                       (prompts or {}).get("phases") or resources.class_prompts("cholec80"))
    return convert_phase_set(CHOLEC80, "cholec80", root, out_dir, categories, videos)
