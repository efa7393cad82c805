"""The downstream set readers on the tiny world's PNG and label files, through the registry."""
import pytest
import torch

from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.evaluation.downstream.registry import DATASETS, available_videos, get_dataset, read_video
from surgvlp_fast.models.preprocess import eval_transform


def test_phase_videos_every_frame_once_and_offsets(tiny_world):
    root, info = tiny_world
    assert available_videos(str(root), "cholec80") == [1, 49, 50]
    video = read_video(str(root), "cholec80", 49, transform=eval_transform)
    n = len(video.frames)
    rows = (root / "downstream_datasets" / "cholec80" / "csvs" / "video49.csv").read_text().splitlines()[1:]
    assert n == len(rows) == len(video.labels)
    assert video.labels.min() == 0 and video.labels.max() == 6
    assert video.frames[0].shape == (3, 224, 224)
    raw = read_video(str(root), "cholec80", 49)
    assert raw.frames.files[0].endswith("video49_1.png") and raw.frames.files[-1].endswith(f"video49_{n}.png")
    auto = read_video(str(root), "autolaparo", 15)
    assert auto.frames.files[0].endswith("15_1.png") and auto.frames[0].dtype == torch.uint8
    with pytest.raises(DataFormatError, match=r"row \d+: frame 15_\d+.png not found"):
        read_video(str(root), "autolaparo", 15, frame_index_offset=1)  # the reference's +1 runs off the end


def test_cholect50_video(tiny_world):
    root, _ = tiny_world
    video = read_video(str(root), "cholect50", 6)
    n = len(video.frames)
    assert {k: v.shape for k, v in video.labels.items()} == {
        "instrument": (n, 6), "verb": (n, 10), "target": (n, 15), "triplet": (n, 100)}
    assert video.frames[n - 1].shape == (3, 64, 64)
    assert 6 in available_videos(str(root), "cholect50")


def test_registry_names_every_set():
    assert list(DATASETS) == ["cholec80", "autolaparo", "cholect50"]
    with pytest.raises(ValueError, match="unknown downstream set 'cholec81'; known: cholec80, autolaparo"):
        get_dataset("cholec81")
