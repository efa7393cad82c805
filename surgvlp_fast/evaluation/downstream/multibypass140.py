"""MultiBypass140 (StrasBypass70 + BernBypass70), native release -> interchange (tasks `phases`, `steps`).

Layout under ROOT: `labels/<centre>/labels_by70/XBPnn.mp4.json` (`{"phases": [...], "steps": [...]}`,
segments `{start, end, label_name, label_id}` in milliseconds), frames at 1 fps
`frames/XBPnn/XBPnn_%08d.jpg` (k = 1..; frame k is the time (k-1) s) and, optionally, the official
split pickles `labels/<centre>/labels_by70_splits/labels/<split>.pickle` (e.g. `test/1fps_0`), read
with a restricted unpickler that accepts plain containers, strings and numbers only.

A frame takes the segment with start <= t < end. Precedence where segments overlap: `out_of_body`
(12) > `severe_index` (13) > the main phases; two main phases (or two steps) over one frame are an
error. Phase and step classes are the release's tables (`tables/phase.csv`, 14 with the two overlays;
`tables/step.csv`, 46); a segment whose id and name disagree with the table is an error.
"""
import io
import json
import os
import pickle
import re
from collections import Counter

from ...errors import DataFormatError
from .convert import Categories, ConvertedVideo, LabelTail, frame_files, write_interchange

PHASES = ["preparation", "gastric_pouch_creation", "omentum_division", "gastrojejunal_anastomosis",
          "anastomosis_test", "jejunal_separation", "closure_petersen_space", "jejunojejunal_anastomosis",
          "closure_mesenteric_defect", "cleaning_coagulation", "disassembling", "other_intervention",
          "out_of_body", "severe_index"]
# tables/step.csv of the release (CAMMA-public/MultiBypass140): every step is a class of the step column,
# whether or not the converted videos show it (the classifier's choice set does not depend on the split)
STEPS = ["s0_null_step", "s1_cavity_exploration", "s2_trocar_placement", "s3_retractor_placement",
         "s4_crura_dissection", "s5_his_angle_dissection", "s6_horizontal_stapling", "s7_retrogastric_dissection",
         "s8_vertical_stapling", "s9_gastric_remnant_reinforcement", "s10_gastric_pouch_reinforcement",
         "s11_gastric_opening", "s12_omental_lifting", "s13_omental_section", "s14_adhesiolysis",
         "s15_treitz_angle_identification", "s16_biliary_limb_measurement", "s17_jejunum_opening",
         "s18_gastrojejunal_stapling", "s19_gastrojejunal_defect_closing", "s20_mesenteric_opening",
         "s21_jejunal_section", "s22_gastric_tube_placement", "s23_jejunal_clamping", "s24_ink_injection",
         "s25_visual_assessment", "s26_gastrojejunal_anastomosis_reinforcement", "s27_petersen_space_exposure",
         "s28_petersen_space_closing", "s29_biliary_limb_opening", "s30_alimentary_limb_measurement",
         "s31_alimentary_limb_opening", "s32_jejunojejunal_stapling", "s33_jejunojejunal_defect_closing",
         "s34_jejunojejunal_anastomosis_reinforcement", "s35_staple_line_reinforcement",
         "s36_mesenteric_defect_exposure", "s37_mesenteric_defect_closing", "s38_anastomosis_fixation",
         "s39_coagulation", "s40_irrigation_aspiration", "s41_parietal_closure", "s42_trocar_removal",
         "s43_calibration", "s44_drainage_insertion", "s45_specimen_retrieval"]
OVERLAY_RANK = {12: 2, 13: 1}        # out_of_body beats severe_index beats any main phase (rank 0)
CENTRES = {"strasbypass70": ("strasbourg", "SBP"), "bernbypass70": ("bern", "BBP")}


class _PlainUnpickler(pickle.Unpickler):
    """Refuses every global (class, function): only dicts, lists, tuples, sets, strings and numbers load."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain containers, strings and numbers")


def read_split_pickle(path: str) -> dict:
    """An official split pickle: `{video: [frame records]}` (plain data only)."""
    if not os.path.exists(path):
        raise DataFormatError(path, "file not found")
    with open(path, "rb") as f:
        payload = f.read()
    try:
        data = _PlainUnpickler(io.BytesIO(payload)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as err:
        raise DataFormatError(path, f"not a plain-data split pickle ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise DataFormatError(path, "expected a dict of video name -> frame records")
    return data


def label_files(root: str, centre: str) -> dict[str, str]:
    """video name (e.g. BBP02) -> its label JSON."""
    folder = os.path.join(root, "labels", centre, "labels_by70")
    if not os.path.isdir(folder):
        return {}
    return {name[: -len(".mp4.json")]: os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if name.endswith(".mp4.json")}


def _segments(path: str, data: dict, task: str) -> list[tuple[int, float, float, int, str]]:
    """(index, start, end, label_id, label_name) of `data[task]`, checked."""
    out = []
    for i, seg in enumerate(data.get(task) or []):
        try:
            start, end, label, name = float(seg["start"]), float(seg["end"]), int(seg["label_id"]), str(seg["label_name"])
        except (KeyError, TypeError, ValueError):
            raise DataFormatError(path, f"{task}[{i}] needs numeric start, end, label_id and a label_name") from None
        if end < start:
            raise DataFormatError(path, f"{task}[{i}] ends ({end:g} ms) before it starts ({start:g} ms)")
        out.append((i, start, end, label, name))
    return out


def frame_labels(path: str, segments, frames: int, task: str, tail: LabelTail, overlay_rank: dict) -> list:
    """One label per 1 fps frame (None where no segment covers it), overlaps resolved by `overlay_rank`."""
    labels, owner = [None] * frames, [None] * frames
    past = []
    for i, start, end, label, _ in segments:
        if start >= frames * 1000.0:
            past.append(i)
            continue
        rank = overlay_rank.get(label, 0)
        first, last = int(-(-start // 1000)), min(frames, int(-(-end // 1000)))   # frames k-1 with start <= t < end
        for k in range(first, last):
            if owner[k] is None or rank > owner[k][1]:
                labels[k], owner[k] = label, (i, rank)
            elif rank == owner[k][1] and labels[k] != label:
                raise DataFormatError(path, f"{task}[{i}] ({label}) overlaps {task}[{owner[k][0]}] ({labels[k]}) at "
                                            f"{k} s and no precedence rule orders them")
    tail.check(path, past, frames, what=f"{task} segment")
    return labels


def convert(root: str, out_dir: str, name: str = "bernbypass70", split: str = "", prompts: dict | None = None,
            tail_tolerance: int = 0):
    """One centre's videos (all, or those of the split pickle `split`, e.g. `test/1fps_0`) -> `<out>/<name>.json`."""
    centre, prefix = CENTRES[name]
    files = {v: p for v, p in label_files(root, centre).items() if v.startswith(prefix)}
    if not files:
        raise DataFormatError(os.path.join(root, "labels", centre, "labels_by70"), "no XBPnn.mp4.json label files")
    videos = sorted(files)
    if split:
        split_path = os.path.join(root, "labels", centre, "labels_by70_splits", "labels", f"{split}.pickle")
        wanted = sorted(read_split_pickle(split_path))
        missing = [v for v in wanted if v not in files]
        if missing:
            raise DataFormatError(split_path, f"video {missing[0]} has no label file in labels/{centre}/labels_by70")
        videos = wanted
    skipped = Counter()
    tail = LabelTail(tail_tolerance, skipped)
    converted = []
    for video in videos:
        path = files[video]
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataFormatError(path, f"not valid JSON ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("phases"), list):
            raise DataFormatError(path, "expected an object with a `phases` list")
        frame_names = frame_files(os.path.join(root, "frames", video), re.compile(rf"^{re.escape(video)}_(\d+)\.(?:jpg|png)$"),
                                  video)
        phases = _segments(path, data, "phases")
        for i, _, _, label, label_name in phases:
            if not 0 <= label < len(PHASES) or PHASES[label] != label_name:
                raise DataFormatError(path, f"phases[{i}]: label {label} {label_name!r} is not in the phase table")
        steps = _segments(path, data, "steps")
        for i, _, _, label, label_name in steps:
            if not 0 <= label < len(STEPS) or STEPS[label] != label_name:
                raise DataFormatError(path, f"steps[{i}]: label {label} {label_name!r} is not in the step table")
        labels = {"phases": frame_labels(path, phases, len(frame_names), "phases", tail, OVERLAY_RANK),
                  "steps": frame_labels(path, steps, len(frame_names), "steps", tail, {})}
        for task, values in labels.items():
            skipped[f"frames without a {task[:-1]} label"] += values.count(None)
        number = int(re.sub(r"\D", "", video) or 0)
        converted.append(ConvertedVideo(video, number, [(k + 1, os.path.join("frames", video, f))
                                                        for k, f in enumerate(frame_names)], labels))
    user = prompts or {}
    tasks = {"phases": Categories.from_names(PHASES, user.get("phases")),
             "steps": Categories.from_names(STEPS, user.get("steps"))}
    return write_interchange(out_dir, name, converted, tasks, root,
                             info={"fps": 1, "centre": centre, "split": split or "all",
                                   "precedence": "out_of_body > severe_index > main phase"},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
