"""MultiBypass140 (StrasBypass70 + BernBypass70), native release -> interchange (tasks `phases`, `steps`).

Layout under ROOT: `labels/<centre>/labels_by70/XBPnn.mp4.json` (`{"phases": [...], "steps": [...]}`,
segments `{start, end, label_name, label_id}` in milliseconds), frames at 1 fps
`frames/XBPnn/XBPnn_%08d.jpg` (K = 1..; frame K is the time K s) and, optionally, the official
split pickles `labels/<centre>/labels_by70_splits/labels/<split>.pickle` (e.g. `test/1fps_0`), read
with a restricted unpickler that accepts plain containers, strings and numbers only.

Frame K takes the segment with start < K*1000 <= end (a boundary second goes to the segment ending there).
Precedence where segments overlap: the main phase beats the overlays `out_of_body` (12) and `severe_index`
(13), which label no frame: a frame covered by an overlay alone is unlabelled (counted). Both rules reproduce
the release's own 1 fps ground truth (the split pickles' `Phase_gt` / `Step_gt`: checked against every frame
of the Bern test fold 1 and val fold 0). Two main phases (or two steps) overlapping in time are an error; with
`split`, only the frames the pickle lists are labelled, and one whose label differs from the pickle's is an
error. Classes: the 12 main phases of `tables/phase.csv` and all 46 steps of
`tables/step.csv`; a segment whose id and name disagree with the tables is an error.
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
MAIN_PHASES = PHASES[:12]            # the phase classes: the overlays (12, 13) label no frame
OVERLAYS = {12, 13}
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


def frame_labels(path: str, segments, numbers: list[int], task: str, tail: LabelTail) -> list:
    """One label per frame (`numbers`: the frame files' K, consecutive; frame K at K s), None where no
    segment covers it; two segments of different labels overlapping in time are an error."""
    latest = None                                                # the segment reaching furthest so far
    for i, start, end, label, _ in sorted(segments, key=lambda seg: (seg[1], seg[0])):
        if latest is not None and start < latest[2] and label != latest[3]:
            raise DataFormatError(path, f"{task}[{i}] ({label}) overlaps {task}[{latest[0]}] ({latest[3]}) at "
                                        f"{start / 1000:g} s and no precedence rule orders them")
        if latest is None or end > latest[2]:
            latest = (i, start, end, label)
    labels = [None] * len(numbers)
    first, past = numbers[0], []
    for i, start, end, label, _ in segments:
        if start >= numbers[-1] * 1000.0:
            past.append(i)
            continue
        low = max(first, int(start // 1000) + 1)               # the K with start < K*1000 <= end
        high = min(numbers[-1] + 1, int(end // 1000) + 1)
        for k in range(low - first, high - first):
            labels[k] = label
    if len(past) > tail.tolerance:
        raise DataFormatError(path, f"{task}[{past[0]}] starts past the last frame ({numbers[-1]} s, frame "
                                    f"{numbers[-1]}); {len(past)} such segment(s), --tail-tolerance {tail.tolerance}")
    if past:
        tail.skipped[f"{task} segments past the last frame (tolerance {tail.tolerance})"] += len(past)
    return labels


def _check_against_split(split_path: str, video: str, records, numbers: list[int], labels: dict) -> set[int]:
    """The split pickle's `Phase_gt` / `Step_gt` of each frame must be the label converted here; returns the
    frames (K) the pickle lists."""
    if not isinstance(records, list):
        raise DataFormatError(split_path, f"video {video}: expected a list of frame records")
    index, listed = {k: i for i, k in enumerate(numbers)}, set()
    for j, record in enumerate(records):
        try:
            k = int(str(record["Frame_id"]).rsplit("_", 1)[1])
            truth = {"phases": int(record["Phase_gt"]), "steps": int(record["Step_gt"])}
        except (KeyError, TypeError, ValueError, IndexError):
            raise DataFormatError(split_path, f"video {video} record {j}: expected Frame_id XBPnn_K, Phase_gt and "
                                              f"Step_gt") from None
        if k not in index:
            raise DataFormatError(split_path, f"video {video} record {j}: frame {k} is not in frames/{video}")
        for task, value in truth.items():
            ours = labels[task][index[k]]
            if ours is not None and ours != value:
                raise DataFormatError(split_path, f"video {video} frame {k}: {task} {value} in the split pickle but "
                                                  f"{ours} from labels_by70/{video}.mp4.json")
        listed.add(k)
    return listed


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
        split_records = read_split_pickle(split_path)
        wanted = sorted(split_records)
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
        pattern = re.compile(rf"^{re.escape(video)}_(\d+)\.(?:jpg|png)$")
        frame_names = frame_files(os.path.join(root, "frames", video), pattern, video)
        numbers = [int(pattern.match(f)[1]) for f in frame_names]
        phases = _segments(path, data, "phases")
        for i, _, _, label, label_name in phases:
            if not 0 <= label < len(PHASES) or PHASES[label] != label_name:
                raise DataFormatError(path, f"phases[{i}]: label {label} {label_name!r} is not in the phase table")
        steps = _segments(path, data, "steps")
        for i, _, _, label, label_name in steps:
            if not 0 <= label < len(STEPS) or STEPS[label] != label_name:
                raise DataFormatError(path, f"steps[{i}]: label {label} {label_name!r} is not in the step table")
        main = [seg for seg in phases if seg[3] not in OVERLAYS]
        labels = {"phases": frame_labels(path, main, numbers, "phases", tail),
                  "steps": frame_labels(path, steps, numbers, "steps", tail)}
        overlays = [(start, end) for _, start, end, label, _ in phases if label in OVERLAYS]
        alone = sum(1 for k, m in zip(numbers, labels["phases"])
                    if m is None and any(start < k * 1000 <= end for start, end in overlays))
        skipped["frames without a phase label (out_of_body / severe_index alone covers them)"] += alone
        skipped["frames without a phase label"] += labels["phases"].count(None) - alone
        skipped["frames without a step label"] += labels["steps"].count(None)
        if split:   # the split's frames only, as the release evaluates them
            listed = _check_against_split(split_path, video, split_records[video], numbers, labels)
            for task, values in labels.items():
                outside = [i for i, k in enumerate(numbers) if k not in listed and values[i] is not None]
                skipped[f"frames without a {task[:-1]} label (labelled, but not in the split pickle)"] += len(outside)
                for i in outside:
                    values[i] = None
        number = int(re.sub(r"\D", "", video) or 0)
        converted.append(ConvertedVideo(video, number, [(k, os.path.join("frames", video, f))
                                                        for k, f in zip(numbers, frame_names)], labels))
    user = prompts or {}
    tasks = {"phases": Categories.from_names(MAIN_PHASES, user.get("phases")),
             "steps": Categories.from_names(STEPS, user.get("steps"))}
    return write_interchange(out_dir, name, converted, tasks, root,
                             info={"fps": 1, "centre": centre, "split": split or "all",
                                   "time": "frame K at K s",
                                   "precedence": "main phase; out_of_body / severe_index label no frame"},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
