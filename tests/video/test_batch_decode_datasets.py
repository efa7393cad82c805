"""The pretraining datasets' `samples(indices)`: a batch's clips through decode_clips, the same
samples as one `dataset[i]` at a time, a corrupt lecture failing only its own sample."""
import shutil

import pytest
import torch

from surgvlp_fast.errors import CorruptVideoError
from surgvlp_fast.pretrain.datasets import ClipLevelDataset, KeystepLevelDataset, VideoLevelDataset
from surgvlp_fast.prep.extract_frames import extract_frames

S = 24


def assert_same_sample(got, want):
    assert list(got) == list(want)
    for key, value in want.items():
        assert torch.equal(got[key], value) if torch.is_tensor(value) else got[key] == value, key


@pytest.mark.parametrize("cls", [ClipLevelDataset, KeystepLevelDataset, VideoLevelDataset])
@pytest.mark.parametrize("threads", [1, 2])
def test_samples_equal_one_at_a_time(tiny_world, cls, threads):
    root, _ = tiny_world
    ds = cls(str(root), size=S, decode_threads=threads)
    indices = [i % len(ds) for i in (2, 0, 1, 2, 3)]   # a lecture twice too
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        for got, i in zip(ds.samples(indices), indices):
            assert_same_sample(got, ds[i])


def test_samples_from_the_frames_cache(tiny_world, tmp_path):
    root, info = tiny_world
    cache = tmp_path / "cache"
    for lecture in info["lectures"]:
        vid = lecture["video_id"]
        extract_frames(str(root / "videos" / f"{vid}.mp4"), str(cache / vid), name=vid)
    ds = VideoLevelDataset(str(root), size=S, video_root=str(cache))
    for got, i in zip(ds.samples([0, 1]), [0, 1]):
        assert_same_sample(got, ds[i])


def test_a_corrupt_lecture_fails_only_its_sample(tiny_world, tmp_path):
    root, _ = tiny_world
    dst = tmp_path / "w"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("downstream_datasets", "*.npz"))
    (dst / "videos" / "vd0001syn.mp4").write_bytes(b"\x00" * 1000)
    ds = ClipLevelDataset(str(dst), size=S, decode_threads=2)
    got = ds.samples([1, 0, 2])
    assert isinstance(got[1], CorruptVideoError) and "vd0001syn.mp4" in str(got[1])
    assert_same_sample(got[0], ds[1])
    assert_same_sample(got[2], ds[2])
