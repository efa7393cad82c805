"""Fixture writers for test_interchange.py and test_converters.py: tiny frames, the interchange
format, and each set's native layout (Cholec80, MultiBypass140, GraSP), all built here."""
import json
import os
import pickle

import numpy as np
from PIL import Image


def write_frame(path, value=0, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value % 256, np.uint8)).save(path)


def write_interchange(folder, videos, categories, name="set"):
    """`videos`: {video_name: [(frame_num, {task: value or absent})]}; `categories`: {task: [names]}.
    Frames go to `folder/frames/<video>/<frame_num>.png`; returns (json path, frame list path)."""
    images, annotations, rows = [], [], []
    for num, (video, frames) in enumerate(videos.items(), 1):
        for frame_num, labels in frames:
            rel = f"frames/{video}/{frame_num:04d}.png"
            write_frame(os.path.join(folder, rel), frame_num)
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": rel, "video_name": video, "frame_num": frame_num})
            annotations.append({"id": image_id, "image_id": image_id, **labels})
            rows.append(f"{video} {num} {frame_num} {rel}")
    data = {"images": images, "annotations": annotations}
    for task, names in categories.items():
        data[f"{task}_categories"] = [{"id": i, "name": n, "description": f"prompt for {n}"} for i, n in enumerate(names)]
    json_path, list_path = os.path.join(folder, f"{name}.json"), os.path.join(folder, f"{name}_frames.txt")
    write_json(json_path, data)
    with open(list_path, "w") as f:
        f.write("\n".join(rows) + "\n")
    return json_path, list_path


def write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------- Cholec80 native
CHOLEC_PHASES = ["Preparation", "CalotTriangleDissection", "ClippingCutting", "GallbladderDissection",
                 "GallbladderPackaging", "CleaningCoagulation", "GallbladderRetraction"]
CHOLEC_TOOLS = ["Grasper", "Bipolar", "Hook", "Scissors", "Clipper", "Irrigator", "SpecimenBag"]


def write_cholec80(root, video, phase_per_25fps_frame, tool_rows, frames):
    """`phase_per_25fps_frame`: phase names, one per 25 fps frame; `tool_rows`: {frame: 7 values};
    `frames`: how many 1 fps frames `frames/videoNN_K.png` (K = 1..) to write."""
    vid = f"video{video:02d}"
    os.makedirs(os.path.join(root, "phase_annotations"), exist_ok=True)
    with open(os.path.join(root, "phase_annotations", f"{vid}-phase.txt"), "w") as f:
        f.write("Frame\tPhase\n" + "".join(f"{i}\t{p}\n" for i, p in enumerate(phase_per_25fps_frame)))
    if tool_rows is not None:
        os.makedirs(os.path.join(root, "tool_annotations"), exist_ok=True)
        with open(os.path.join(root, "tool_annotations", f"{vid}-tool.txt"), "w") as f:
            f.write("Frame\t" + "\t".join(CHOLEC_TOOLS) + "\n")
            f.write("".join(f"{k}\t" + "\t".join(map(str, v)) + "\n" for k, v in sorted(tool_rows.items())))
    for k in range(1, frames + 1):
        write_frame(os.path.join(root, "frames", f"{vid}_{k}.png"), k)


# ----------------------------------------------------------------------------- MultiBypass140 native
def write_bypass(root, video, phases, steps, frames, centre="bern"):
    """`phases` / `steps`: lists of (start_ms, end_ms, label_id, label_name)."""
    def segs(items):
        return [{"start": s, "end": e, "label_id": i, "label_name": n} for s, e, i, n in items]

    write_json(os.path.join(root, "labels", centre, "labels_by70", f"{video}.mp4.json"),
               {"phases": segs(phases), "steps": segs(steps)})
    for k in range(1, frames + 1):
        write_frame(os.path.join(root, "frames", video, f"{video}_{k:08d}.jpg"), k)


def write_split_pickle(root, split, videos, centre="bern", payload=None):
    path = os.path.join(root, "labels", centre, "labels_by70_splits", "labels", f"{split}.pickle")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = payload if payload is not None else {
        v: [{"Frame_id": f"{v}_{k:08d}", "Original_frame_id": k - 1, "Phase_gt": 0, "Step_gt": 0, "unique_id": k}
            for k in range(1, 3)] for v in videos}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


# ----------------------------------------------------------------------------- GraSP native
GRASP_PHASES = [f"phase {i}" for i in range(11)]
GRASP_STEPS = [f"step {i}" for i in range(21)]
GRASP_TOOLS = [f"tool {i}" for i in range(1, 8)]


def write_grasp(root, long_images, short_images=None, split="test"):
    """`long_images`: [(video, frame_num, phase, step)]; `short_images`: [(video, frame_num, [instrument ids])]
    (ids 1..7). Frames `frames/<video>/<frame_num:09d>.jpg` for every image."""
    images = [{"id": i, "file_name": f"{v}/{f:09d}.jpg", "video_name": v, "frame_num": f, "width": 8, "height": 8}
              for i, (v, f, _, _) in enumerate(long_images, 1)]
    annotations = [{"id": i, "image_id": i, "phases": p, "steps": s} for i, (_, _, p, s) in enumerate(long_images, 1)]
    write_json(os.path.join(root, "annotations", f"grasp_long-term_{split}.json"), {
        "images": images, "annotations": annotations,
        "phases_categories": [{"id": i, "name": n, "description": f"{n} happens"} for i, n in enumerate(GRASP_PHASES)],
        "steps_categories": [{"id": i, "name": n} for i, n in enumerate(GRASP_STEPS)]})
    frames = {(v, f) for v, f, _, _ in long_images}
    if short_images is not None:
        s_images = [{"id": 100 + i, "video_name": v, "frame_num": f} for i, (v, f, _) in enumerate(short_images)]
        s_annotations = [{"image_id": 100 + i, "category_id": c, "bbox": [0, 0, 1, 1]}
                         for i, (_, _, ids) in enumerate(short_images) for c in ids]
        write_json(os.path.join(root, "annotations", f"grasp_short-term_{split}.json"), {
            "images": s_images, "annotations": s_annotations,
            "categories": [{"id": i, "name": n} for i, n in enumerate(GRASP_TOOLS, 1)]})
        frames |= {(v, f) for v, f, _ in short_images}
    for v, f in frames:
        write_frame(os.path.join(root, "frames", v, f"{f:09d}.jpg"), f)


# ----------------------------------------------------------------------------- SAR-RARP50 native
def write_sar(root, video, rows, frame_ids, split="test"):
    """`rows`: `action_discrete.txt` lines (strings); frames `rgb/<id:09d>.png` for `frame_ids`."""
    folder = os.path.join(root, split, f"video_{video}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "action_discrete.txt"), "w") as f:
        f.write("".join(r + "\n" for r in rows))
    for i in frame_ids:
        write_frame(os.path.join(folder, "rgb", f"{i:09d}.png"), i)


# ----------------------------------------------------------------------------- CholecT50 release
def instance(triplet, instrument, verb, target, phase):
    """A 15-value CholecT50 instance (scores and boxes filled with placeholders)."""
    return [triplet, instrument, 1, 0.1, 0.1, 0.2, 0.2, verb, target, 1, 0.3, 0.3, 0.1, 0.1, phase]


def write_cholect50(root, video, annotations, frames, categories=None):
    """`annotations`: {frame id: [instances]}; frames `videos/VIDxx/<id:06d>.png` for ids 0..frames-1."""
    vid = f"VID{video:02d}"
    categories = categories or {
        "triplet": {str(i): f"tool{i % 3},verb{i % 4},target{i % 5}" for i in range(6)},
        "instrument": {str(i): f"tool{i}" for i in range(3)}, "verb": {str(i): f"verb{i}" for i in range(4)},
        "target": {str(i): f"target{i}" for i in range(5)}, "phase": {str(i): f"phase{i}" for i in range(3)}}
    write_json(os.path.join(root, "labels", f"{vid}.json"), {
        "video": video, "fps": 1, "num_frames": frames, "categories": categories,
        "annotations": {str(k): v for k, v in annotations.items()}})
    for k in range(frames):
        write_frame(os.path.join(root, "videos", vid, f"{k:06d}.png"), k)
