"""The downstream sets by name. A set is one module of this package with `read_video(root, video,
transform=None, **options)` and `available_videos(root)`; adding a set is that file and one entry
in DATASETS."""
from dataclasses import dataclass
from typing import Callable

from . import DownstreamVideo, autolaparo, cholec80, cholect50


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
