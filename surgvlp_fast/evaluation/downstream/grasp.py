"""GraSP (robotic radical prostatectomy), native release -> interchange (`phases`, `steps`, `tools`).

Layout under ROOT: `annotations/grasp_long-term_<split>.json` (COCO-like: `images` with `id`,
`video_name`, `frame_num`, optional `file_name`; `annotations` with `image_id`, `phases`, `steps`;
`phases_categories`, `steps_categories`), optionally `annotations/grasp_short-term_<split>.json`
(one annotation per instrument instance: `image_id`, `instruments` (an id from 1, what TAPIS reads;
else the COCO `category_id`), `bbox`; an instance whose bbox is [0, 0, 0, 0] is ignored and counted, as
TAPIS ignores it; classes in `instruments_categories` or `categories`) and frames `frames/CASEnnn/<frame_num:09d>.jpg` (or the images' `file_name`
under `frames/`). Images of both files are joined on (video_name, frame_num); a task is unlabelled
on the images its file does not cover (counted).
"""
import os
from collections import Counter

from ...errors import DataFormatError
from . import read_json
from .convert import Categories, ConvertedVideo, write_interchange


def _load(path: str) -> dict:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise DataFormatError(path, "expected a COCO-like object with `images` and `annotations` lists")
    return data


def _categories(path: str, data: dict, keys, prompts) -> Categories:
    for key in keys:
        if isinstance(data.get(key), list) and data[key]:
            try:
                entries = sorted((int(c["id"]), str(c["name"]), c.get("description")) for c in data[key])
            except (KeyError, TypeError, ValueError):
                raise DataFormatError(path, f"every entry of `{key}` needs an integer id and a name") from None
            default = Categories.from_names([e[1] for e in entries]).prompts
            return Categories([e[0] for e in entries], [e[1] for e in entries],
                              prompts or [e[2] or d for e, d in zip(entries, default)])
    raise DataFormatError(path, f"no {' or '.join(keys)} list")


def _images(path: str, data: dict) -> dict[int, tuple[str, int, str | None]]:
    out = {}
    for i, image in enumerate(data["images"]):
        try:
            out[int(image["id"])] = (str(image["video_name"]), int(image["frame_num"]), image.get("file_name"))
        except (KeyError, TypeError, ValueError):
            raise DataFormatError(path, f"images[{i}] needs id, video_name and frame_num") from None
    return out


def _instrument_ids(path: str, index: int, ann: dict) -> list:
    """The instrument ids of a short-term annotation: its `instruments` (an id, 1-based as the release
    numbers them, or a list of ids; what TAPIS reads), else the COCO `category_id`."""
    value = ann["instruments"] if "instruments" in ann else ann.get("category_id")
    values = value if isinstance(value, list) else [value]
    if not values or not all(type(v) is int for v in values):
        raise DataFormatError(path, f"annotations[{index}]: expected an integer `instruments` (or `category_id`), "
                                    f"got {value!r}")
    return values


def convert(root: str, out_dir: str, split: str = "test", prompts: dict | None = None):
    """`annotations/grasp_*_<split>.json` -> `<out>/grasp.json` + `grasp_frames.txt`."""
    user = prompts or {}
    long_path = os.path.join(root, "annotations", f"grasp_long-term_{split}.json")
    short_path = os.path.join(root, "annotations", f"grasp_short-term_{split}.json")
    long_term = _load(long_path)
    tasks = {task: _categories(long_path, long_term, [f"{task}_categories"], user.get(task)) for task in ("phases", "steps")}
    frames: dict[tuple[str, int], dict] = {}      # (video, frame) -> {"file": ..., task: value}
    skipped = Counter()
    for image_id, (video, frame, file_name) in _images(long_path, long_term).items():
        frames[(video, frame)] = {"file": file_name, "long": image_id}
    by_image = {v["long"]: k for k, v in frames.items()}
    for i, ann in enumerate(long_term["annotations"]):
        key = by_image.get(ann.get("image_id"))
        if key is None:
            raise DataFormatError(long_path, f"annotations[{i}]: image_id {ann.get('image_id')!r} is not an image")
        for task, cats in tasks.items():
            value = ann.get(task)
            if value is None:
                continue
            if value not in cats.ids:
                raise DataFormatError(long_path, f"annotations[{i}]: unknown {task} id {value!r}; known: {cats.ids}")
            if frames[key].get(task, value) != value:
                raise DataFormatError(long_path, f"annotations[{i}]: image {ann['image_id']} has two {task} labels")
            frames[key][task] = value
    if os.path.exists(short_path):
        short = _load(short_path)
        tasks["tools"] = _categories(short_path, short, ["instruments_categories", "categories"], user.get("tools"))
        short_images = _images(short_path, short)
        for video, frame, file_name in short_images.values():
            frames.setdefault((video, frame), {"file": file_name})["tools"] = []
        for i, ann in enumerate(short["annotations"]):
            image = short_images.get(ann.get("image_id"))
            if image is None:
                raise DataFormatError(short_path, f"annotations[{i}]: image_id {ann.get('image_id')!r} is not an image")
            if ann.get("bbox") == [0, 0, 0, 0]:    # no instrument box: TAPIS keeps no label of it either
                skipped["instrument annotations with an empty box [0, 0, 0, 0] (ignored)"] += 1
                continue
            present = frames[image[:2]]["tools"]
            for category in _instrument_ids(short_path, i, ann):
                if category not in tasks["tools"].ids:
                    raise DataFormatError(short_path, f"annotations[{i}]: unknown instrument id {category!r}; "
                                                      f"known: {tasks['tools'].ids}")
                if category not in present:
                    present.append(category)
    converted = []
    videos = sorted({v for v, _ in frames})
    for number, video in enumerate(videos, 1):
        keys = sorted(k for k in frames if k[0] == video)
        rels = []
        for key in keys:
            rel = os.path.join("frames", frames[key]["file"] or os.path.join(video, f"{key[1]:09d}.jpg"))
            if not os.path.isfile(os.path.join(root, rel)):
                raise DataFormatError(long_path, f"frame {rel} of {video} (frame_num {key[1]}) not found under {root}")
            rels.append(rel)
        labels = {task: [frames[k].get(task) for k in keys] for task in tasks}
        for task, values in labels.items():
            skipped[f"frames without a {task} label"] += values.count(None)
        converted.append(ConvertedVideo(video, number, [(k[1], r) for k, r in zip(keys, rels)], labels))
    for values in (v for c in converted for v in c.labels.get("tools", [])):
        if values:
            values.sort()
    return write_interchange(out_dir, "grasp", converted, tasks, root, info={"split": split},
                             skipped=Counter({k: v for k, v in skipped.items() if v}))
