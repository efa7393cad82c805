"""The clip / keystep / video recipes (reference.md §2.4-2.6) over a real reader."""
import numpy as np
import pytest
import torch

from surgvlp_fast.video import open_video
from surgvlp_fast.pretrain.recipes import (clip_frames, keystep_frames, pick_frames, square_crop,
                                        video_frames)


class Recorder:
    """A reader that records the requests the recipes make (and serves them for real)."""

    def __init__(self, reader):
        self.reader, self.calls = reader, []
        self.metadata = reader.metadata

    def frames_at(self, timestamps, **options):
        self.calls.append((np.asarray(timestamps, float), options))
        return self.reader.frames_at(timestamps, **options)


def test_pick_frames_centered_and_reference_quirk():
    assert pick_frames(6, 4, "reference").tolist() == [0, 1, 2, 3]  # biased to the start
    assert pick_frames(10, 4, "reference").tolist() == [0, 2, 4, 6]
    assert pick_frames(6, 4, "centered").tolist() == [0, 2, 3, 5]
    assert pick_frames(8, 4, "centered").tolist() == [1, 3, 5, 7]
    with pytest.raises(ValueError):
        pick_frames(6, 4, "middle")


def test_square_crop_like_ffmpeg_expression():
    rng = np.random.default_rng(0)
    assert square_crop(1280, 720, rng, center=True) == (280, 0, 720, 720)
    x, y, w, h = square_crop(1280, 720, np.random.default_rng(3), center=False)
    a = np.random.default_rng(3).uniform()
    assert (x, y, w, h) == (int(560 * a), 0, 720, 720)


@pytest.mark.parametrize("frame_pick", ["centered", "reference"])
def test_clip_recipe(videos, frame_pick):
    reader = Recorder(open_video(videos["h264_short_gop"]))
    seen_flips, lengths = set(), set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        out = clip_frames(reader, rng, 0.0, 4.0, clip_min=2, clip_max=3, size=48, frame_pick=frame_pick)[0]
        assert out.shape == (4, 3, 48, 48) and out.dtype == torch.uint8
        timestamps, options = reader.calls[-1]
        assert options["crop"][2:] == (120, 120) and options["size"] == 48
        assert timestamps[0] >= 0 and timestamps[-1] < 4.0
        seen_flips.add(options["flip"])
        lengths.add((round(float(timestamps[0]), 2), round(float(timestamps[-1] - timestamps[0]), 2)))
        # the same seed gives the same clip
        assert torch.equal(out, clip_frames(reader, np.random.default_rng(seed), 0.0, 4.0, clip_min=2,
                                            clip_max=3, size=48, frame_pick=frame_pick)[0])
    assert seen_flips == {True, False}
    assert len(lengths) > 2  # the seek and the window length L vary


def test_clip_recipe_window_near_the_end_and_short_video(videos):
    reader = Recorder(open_video(videos["odd_size"]))  # 2 s long: shorter than any L
    out = clip_frames(reader, np.random.default_rng(1), 0.0, 10.0, size=32, center_crop=True)[0]
    assert out.shape == (4, 3, 32, 32)
    timestamps, options = reader.calls[-1]
    assert timestamps[0] < 1.0 and options["crop"] == (20, 0, 121, 121)  # seek clamped to 0


def test_keystep_and_video_recipes(videos):
    reader = Recorder(open_video(videos["h264_long_gop"]))
    out = keystep_frames(reader, np.random.default_rng(0), 0.5, 3.5, size=40)
    assert out.shape == (16, 3, 40, 40)
    timestamps, _ = reader.calls[-1]
    rate = np.ceil(16 / 3.0)  # integer fps as in the reference
    count = int(np.ceil(3.0 * rate))
    want = 0.5 + np.clip(torch.linspace(0, count, 16).long().numpy(), 0, count - 1) / rate
    np.testing.assert_allclose(timestamps, want)
    out = video_frames(reader, np.random.default_rng(0), 0.0, 4.0, size=24, random_flip=False)
    assert out.shape == (64, 3, 24, 24)
    timestamps, options = reader.calls[-1]
    assert options["flip"] is False and np.all(np.diff(timestamps) >= 0)
