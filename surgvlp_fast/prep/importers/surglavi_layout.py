"""SurgLaVi's three caption levels mapped onto the data folder's lectures (docs/data.md, "SurgLaVi").

- a source video `<name>` becomes the lecture `<id>` (`videos/<id>.mp4`, a link to the user's file):
  its task captions are the clip level's narrations (`aws_narration_texts`: the anchor,
  `whisper_narration_texts`: the candidates), its step captions its keysteps (`keystep_texts`);
- each phase caption becomes the lecture `<id>__phase<caption_id>` (a link to the same file): its
  caption is the abstract (`abstract_texts`, one row over the phase) and the steps whose midpoint lies
  inside the phase, in time order, its procedure (`keystep_texts`), which the video level reads.

`--text` picks the views: `both` = ASR anchor / enhanced candidates, keystep `text` enhanced and `step`
ASR, abstract `text` enhanced and `original` ASR; `enhanced` or `raw` = that text everywhere.
"""
import re
from dataclasses import dataclass, field

from ..shards import video_rank

# a source video name -> a lecture id: video_id_of() cuts file names at the first '.', so only these stay
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
PHASE_SUFFIX = "__phase"


def lecture_id(name: str) -> str:
    return UNSAFE.sub("_", name)


@dataclass
class Lecture:
    """The rows of one lecture of the data folder (times in the source video's seconds)."""

    lecture_id: str
    source: str                                  # the lecture id of the source video (itself for a whole video)
    narrations: list = field(default_factory=list)   # task captions
    keysteps: list = field(default_factory=list)     # step captions
    abstract: object = None                          # the phase caption (phase lectures)
    path: str = ""                                   # the source video file


def _ordered(captions):
    return sorted(captions, key=lambda c: (c.start, c.end, c.caption_id))


def build_lectures(vid: str, captions, levels) -> tuple[list, int]:
    """The lectures of one source video from its kept captions, and the number of phases dropped
    because no kept step lies inside them."""
    tasks = _ordered(c for c in captions if c.level == "task")
    steps = _ordered(c for c in captions if c.level == "step")
    phases = _ordered(c for c in captions if c.level == "phase")
    out = []
    whole = Lecture(vid, vid, tasks if "task" in levels else [], steps if "step" in levels else [])
    if whole.narrations or whole.keysteps:
        out.append(whole)
    empty = 0
    if "phase" in levels:
        for phase in phases:
            inside = [s for s in steps if phase.start <= (s.start + s.end) / 2 <= phase.end]
            if not inside:
                empty += 1
                continue
            out.append(Lecture(f"{vid}{PHASE_SUFFIX}{phase.caption_id}", vid, [], inside, phase))
    return out, empty


def _time(t: float) -> str:
    return f"{round(t, 3):.3f}".rstrip("0").rstrip(".")


def _csv_line(values) -> str:
    out = []
    for v in values:
        v = str(v)
        out.append('"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\n\r') else v)
    return ",".join(out) + "\n"


def text_files(lecture: Lecture, texts: str) -> dict:
    """{text folder: CSV text} of one lecture."""
    primary = "raw" if texts == "raw" else "caption"     # the enhanced text unless --text raw
    files = {}
    if lecture.narrations:
        anchor = "raw" if texts in ("raw", "both") else "caption"
        for folder, attr in (("aws_narration_texts", anchor), ("whisper_narration_texts", primary)):
            files[folder] = "start,end,text\n" + "".join(
                _csv_line((_time(c.start), _time(c.end), getattr(c, attr))) for c in lecture.narrations)
    if lecture.keysteps:
        if texts == "both":
            body = "".join(_csv_line((_time(c.start), _time(c.end), c.raw, c.caption)) for c in lecture.keysteps)
            files["keystep_texts"] = "start,end,step,text\n" + body
        else:
            files["keystep_texts"] = "start,end,text\n" + "".join(
                _csv_line((_time(c.start), _time(c.end), getattr(c, primary))) for c in lecture.keysteps)
    if lecture.abstract is not None:
        a = lecture.abstract
        if texts == "both":
            files["abstract_texts"] = "start,end,text,original\n" + _csv_line((_time(a.start), _time(a.end), a.caption, a.raw))
        else:
            files["abstract_texts"] = "start,end,text\n" + _csv_line((_time(a.start), _time(a.end), getattr(a, primary)))
    return files


def assign_splits(lectures, val_videos: set) -> dict:
    """{split name: [file names]}: a source video and its phases are in val or in training, never both."""
    splits = {"train_narration": [], "train_keystep": [], "train_abstract": [], "val": []}
    for lec in sorted(lectures, key=lambda x: x.lecture_id):
        name = f"{lec.lecture_id}.mp4"
        if lec.source in val_videos:
            if lec.abstract is None and lec.narrations:
                splits["val"].append(name)
            continue
        if lec.abstract is not None:
            splits["train_abstract"].append(name)
            continue
        if lec.narrations:
            splits["train_narration"].append(name)
            if lec.keysteps:
                splits["train_keystep"].append(name)
    return splits


def pick_val(candidates, fraction: float) -> set:
    """The validation videos: the `round(fraction * n)` candidates (at least one of two or more when
    fraction > 0) of lowest video_rank."""
    candidates = sorted(candidates, key=lambda v: (video_rank(v), v))
    if fraction <= 0 or len(candidates) < 2:
        return set()
    n = min(len(candidates) - 1, max(1, round(fraction * len(candidates))))
    return set(candidates[:n])
