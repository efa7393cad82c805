"""The downstream sets by name. A set is one module of this package with `read_video(root, video,
transform=None, **options)` and `available_videos(root)`; adding a set is that file and one entry
in DATASETS. CONVERTERS names the native-release converters into the interchange format
(interchange.py): `convert-downstream` and `validate-data --downstream` use them."""
import functools
import tempfile
from dataclasses import dataclass
from typing import Callable

from . import DownstreamVideo, autolaparo, cholec80, cholect50, grasp, heichole, multibypass140, sar_rarp50
from .convert import ConversionReport
from .interchange import load_json, read_interchange, tasks_of


@dataclass(frozen=True)
class DownstreamSet:
    name: str
    read_video: Callable[..., DownstreamVideo]     # (root, video, transform=None, **options)
    available_videos: Callable[[str], list[int]]   # (root) -> the video numbers present, sorted


DATASETS: dict[str, DownstreamSet] = {s.name: s for s in (
    DownstreamSet("cholec80", cholec80.read_video, cholec80.available_videos),
    DownstreamSet("autolaparo", autolaparo.read_video, autolaparo.available_videos),
    DownstreamSet("cholect50", cholect50.read_video, cholect50.available_videos),
)}


def get_dataset(name: str) -> DownstreamSet:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown downstream set {name!r}; known: {', '.join(DATASETS)}") from None


def read_video(root: str, dataset: str, video: int, transform: Callable | None = None, **options) -> DownstreamVideo:
    """Video number `video` of `dataset` from the data folder `root` (the one holding
    `downstream_datasets/`, or the set's folder itself); `options` are the set's (e.g.
    `frame_index_offset` of the phase sets)."""
    return get_dataset(dataset).read_video(root, video, transform, **options)


def available_videos(root: str, dataset: str) -> list[int]:
    """Video numbers of `dataset` present in the data folder, sorted."""
    return get_dataset(dataset).available_videos(root)


@dataclass(frozen=True)
class Converter:
    """A native release -> interchange converter: `convert(root, out_dir, prompts=..., **options)`."""

    name: str
    convert: Callable[..., ConversionReport]
    options: tuple[str, ...]     # the keyword options it takes besides prompts (videos, split, tail_tolerance)
    layout: str                  # what it reads, in one line
    tasks: tuple[str, ...]       # the tasks it writes (what `prompts` may name)


CONVERTERS: dict[str, Converter] = {c.name: c for c in (
    Converter("cholec80", cholec80.convert, ("videos", "tail_tolerance"),
              "phase_annotations/videoNN-phase.txt, tool_annotations/videoNN-tool.txt, frames/videoNN_K.png",
              ("phases", "tools")),
    Converter("cholec80-csv", cholec80.convert_csvs, ("videos",),
              "CAMMA layout: [downstream_datasets/cholec80/]csvs/videoNN.csv (path,label) + frames/videoNN_K.png",
              ("phases",)),
    Converter("autolaparo", autolaparo.convert, ("videos",),
              "CAMMA layout: [downstream_datasets/autolaparo/]csvs/NN.csv (path,label) + frames/NN_K.png", ("phases",)),
    Converter("strasbypass70", functools.partial(multibypass140.convert, name="strasbypass70"),
              ("split", "tail_tolerance"), "labels/strasbourg/labels_by70/SBPnn.mp4.json, frames/SBPnn/SBPnn_%08d.jpg",
              ("phases", "steps")),
    Converter("bernbypass70", functools.partial(multibypass140.convert, name="bernbypass70"),
              ("split", "tail_tolerance"), "labels/bern/labels_by70/BBPnn.mp4.json, frames/BBPnn/BBPnn_%08d.jpg",
              ("phases", "steps")),
    Converter("grasp", grasp.convert, ("split",),
              "annotations/grasp_{long,short}-term_<split>.json, frames/CASEnnn/<frame:09d>.jpg",
              ("phases", "steps", "tools")),
    Converter("cholect50", cholect50.convert, ("videos", "tail_tolerance"),
              "labels/VIDxx.json (15-value instances), videos/VIDxx/NNNNNN.png",
              ("triplet", "instrument", "verb", "target", "phases")),
    Converter("heichole", heichole.convert, ("videos", "tail_tolerance"),
              "Hei-Chole<N>_Annotation_{Phase,Instrument}.csv (25 or 50 fps), frames/Hei-Chole<N>_K.png",
              ("phases", "tools")),
    Converter("sarrarp50", sar_rarp50.convert, ("split", "tail_tolerance"),
              "[<split>/]video_*/action_discrete.txt, video_*/rgb/<frame_id:09d>.png", ("actions",)),
)}


def get_converter(name: str) -> Converter:
    try:
        return CONVERTERS[name]
    except KeyError:
        raise ValueError(f"unknown native set {name!r}; known: {', '.join(CONVERTERS)}") from None


def check_native(name: str, root: str, **options) -> tuple[ConversionReport, dict[str, dict]]:
    """Convert `root` into a temporary folder and read every task back: (the report, {task: {"videos",
    "frames", "skipped"}}). Bad input raises one DataFormatError naming the file and row."""
    converter = get_converter(name)
    with tempfile.TemporaryDirectory() as tmp:
        report = converter.convert(root, tmp, **options)
        tasks = {}
        for task in tasks_of(load_json(report.json_path)):
            read = read_interchange(report.json_path, report.frame_list, task)
            tasks[task] = {"videos": len(read.videos), "frames": read.frames, "skipped": read.skipped}
    return report, tasks
