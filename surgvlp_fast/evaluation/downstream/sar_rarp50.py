"""SAR-RARP50 (RARP suturing), native release -> interchange (task `actions`, single-label, 8 classes).

Layout under ROOT (or ROOT/<split>, e.g. `test`): `video_*/action_discrete.txt` (CSV without header,
`frame_id,action_id`, one row per 10 Hz sample of the 60 fps video; the id may be zero-padded) and the
10 Hz frames `video_*/rgb/<frame_id:09d>.png`, named by their 60 fps frame index (every 6th frame:
the challenge's `scripts/sample_video.py` / `rarptk unpack --frequency 10`): a label row names the frame
file with its frame_id. Frame files without a label row are counted as unlabelled.
"""
import os
import re
from collections import Counter

from ...errors import DataFormatError
from .convert import Categories, ConvertedVideo, LabelTail, write_interchange

ACTIONS = ["Other", "Picking-up the needle", "Positioning the needle tip", "Pushing the needle through the tissue",
           "Pulling the needle out of the tissue", "Tying a knot", "Cutting the suture", "Returning/dropping the needle"]
_VIDEO = re.compile(r"^video_(\d+)$")
_FRAME = re.compile(r"^(\d+)\.png$")


def read_actions(path: str) -> list[tuple[int, int, int]]:
    """(row, frame_id, action_id) of an `action_discrete.txt`."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    out, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for row, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = [v.strip() for v in line.split(",")]
            try:
                frame, action = (int(v) for v in fields)
            except ValueError:
                raise DataFormatError(path, f"expected `frame_id,action_id` integers, got {line.strip()!r}", row) from None
            if not 0 <= action < len(ACTIONS):
                raise DataFormatError(path, f"unknown action id {action}; known 0..{len(ACTIONS) - 1}", row)
            if frame in seen:
                raise DataFormatError(path, f"frame {frame} appears twice (first at row {seen[frame]})", row)
            seen[frame] = row
            out.append((row, frame, action))
    return out


def convert(root: str, out_dir: str, split: str = "", prompts: dict | None = None, tail_tolerance: int = 0):
    """Every `video_*` folder of ROOT (or ROOT/<split>) -> `<out>/sarrarp50.json` + `sarrarp50_frames.txt`."""
    base = os.path.join(root, split) if split else root
    videos = sorted((int(m[1]), name) for name in (os.listdir(base) if os.path.isdir(base) else [])
                    if (m := _VIDEO.match(name)) and os.path.isdir(os.path.join(base, name)))
    if not videos:
        raise DataFormatError(base, "no video_* folders")
    skipped = Counter()
    tail, converted = LabelTail(tail_tolerance, skipped), []
    for number, name in videos:
        rgb = os.path.join(base, name, "rgb")
        frames = sorted(int(m[1]) for f in (os.listdir(rgb) if os.path.isdir(rgb) else []) if (m := _FRAME.match(f)))
        if not frames:
            raise DataFormatError(rgb, f"no frames of {name} (expected rgb/<frame_id:09d>.png)")
        path = os.path.join(base, name, "action_discrete.txt")
        present, labels, past = set(frames), {}, []
        for row, frame, action in read_actions(path):
            if frame > frames[-1]:
                past.append(row)
            elif frame not in present:
                raise DataFormatError(path, f"frame {frame:09d}.png is missing from {rgb}", row)
            else:
                labels[frame] = action
        tail.check(path, past, len(frames))
        values = [labels.get(f) for f in frames]
        skipped["frames without an action label"] += values.count(None)
        rel = os.path.relpath(rgb, root)
        converted.append(ConvertedVideo(name, number, [(f, os.path.join(rel, f"{f:09d}.png")) for f in frames],
                                        {"actions": values}))
    tasks = {"actions": Categories.from_names(ACTIONS, (prompts or {}).get("actions"))}
    return write_interchange(out_dir, "sarrarp50", converted, tasks, root, info={"fps": 10, "split": split or "."},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
