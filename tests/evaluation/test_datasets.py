"""Downstream layouts read from real PNG files and label files written here."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from surgvlp_fast.evaluation.datasets import EvalTransform, cholect50_videos, phase_videos
from surgvlp_fast.evaluation.protocols import parse_video_list
from surgvlp_fast.evaluation.runner import EvalOptions


def _png(path, value, size=(12, 20), mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size[::-1], (value,) * len(mode)).save(path)


def _cholec80(root, number, labels):
    base = root / "downstream_datasets" / "cholec80"
    os.makedirs(base / "csvs", exist_ok=True)
    rows = ["path,label"] + [f"video{number:02d}_{k}.png,{lab}" for k, lab in enumerate(labels)]
    (base / "csvs" / f"video{number:02d}.csv").write_text("\n".join(rows) + "\n")
    for k in range(len(labels)):  # files are 1-indexed; pixel value encodes the file index
        _png(base / "frames" / f"video{number:02d}_{k + 1}.png", 10 * (k + 1))


def test_cholec80_reads_every_row_with_the_camma_offset(tmp_path):
    _cholec80(tmp_path, 49, [1, 1, 2, 7])
    identity = lambda image: image  # noqa: E731
    (video,) = phase_videos(str(tmp_path), "cholec80", [49], identity)
    assert video.video_id == "video49"
    assert video.labels.tolist() == [0, 0, 1, 6]
    assert [int(video.frames[k][0, 0, 0]) for k in range(4)] == [10, 20, 30, 40]


def test_autolaparo_offset_is_an_option(tmp_path):
    base = tmp_path / "downstream_datasets" / "autolaparo"
    os.makedirs(base / "csvs")
    (base / "csvs" / "15.csv").write_text("path,label\n15_1.png,3\n15_2.png,4\n")
    for k in (1, 2, 3):
        _png(base / "frames" / f"15_{k}.png", 10 * k, mode="L")  # grey frames become RGB
    identity = lambda image: image  # noqa: E731
    (video,) = phase_videos(str(tmp_path), "autolaparo", [15], identity)
    assert video.video_id == "15" and video.labels.tolist() == [2, 3]
    assert [int(video.frames[k][0, 0, 0]) for k in range(2)] == [10, 20]
    assert video.frames[0].shape[0] == 3
    (shifted,) = phase_videos(str(tmp_path), "autolaparo", [15], identity, frame_offset=1)
    assert [int(shifted.frames[k][0, 0, 0]) for k in range(2)] == [20, 30]


def test_bad_downstream_data_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="video50.csv"):
        phase_videos(str(tmp_path), "cholec80", [50], None)
    _cholec80(tmp_path, 49, [1, 9])
    with pytest.raises(ValueError, match=r"video49.csv, line 3: bad row"):
        phase_videos(str(tmp_path), "cholec80", [49], None)
    _cholec80(tmp_path, 51, [1, 2])
    os.remove(tmp_path / "downstream_datasets" / "cholec80" / "frames" / "video51_2.png")
    with pytest.raises(FileNotFoundError, match="video51_2.png"):
        phase_videos(str(tmp_path), "cholec80", [51], None)


def test_cholect50_labels_and_frames(tmp_path):
    base = tmp_path / "downstream_datasets" / "CholecT50-challenge-train"
    rng = np.random.default_rng(0)
    tables = {}
    for kind, classes in (("triplet", 100), ("instrument", 6), ("verb", 10), ("target", 15)):
        os.makedirs(base / kind)
        tables[kind] = (rng.random((3, classes)) < 0.2).astype(int)
        np.savetxt(base / kind / "VID06.txt", np.c_[np.arange(3), tables[kind]], fmt="%d", delimiter=",")
    for k in range(3):
        _png(base / "data" / "VID06" / f"{k:06d}.png", 5 * k)
    (video,) = cholect50_videos(str(tmp_path), [6], lambda image: image)
    assert video.video_id == "VID06"
    for kind, table in tables.items():
        np.testing.assert_array_equal(video.labels[kind], table)
    assert int(video.frames[2][0, 0, 0]) == 10
    np.savetxt(base / "verb" / "VID06.txt", np.c_[np.arange(3), tables["verb"][:, :9]], fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match="VID06.txt: expected 11 columns"):
        cholect50_videos(str(tmp_path), [6], None)


def test_eval_transform_matches_the_reference_shape_and_normalisation():
    image = torch.randint(0, 256, (3, 480, 854), dtype=torch.uint8)
    out = EvalTransform()(image)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    flat = torch.full((3, 64, 64), 255, dtype=torch.uint8)
    small = EvalTransform((64, 64), 64)(flat)
    torch.testing.assert_close(small[:, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))


def test_video_lists_and_options():
    assert parse_video_list("49-52,60") == [49, 50, 51, 52, 60]
    with pytest.raises(ValueError, match="bad video"):
        parse_video_list("55-49")
    options = EvalOptions.from_mapping({"batch_size": 8, "cholec80.videos": "49-55", "autolaparo.videos": "15"},
                                       "cholec80")
    assert options.batch_size == 8 and options.videos == "49-55"
    assert options.resize_hw() == (360, 640)
    with pytest.raises(ValueError, match="unknown evaluation option 'bach_size'"):
        EvalOptions.from_mapping({"bach_size": 8})
