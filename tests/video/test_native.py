"""The native (C++ / FFmpeg) sampler: its index, its seeking, and its memory over many clips."""
import os

import numpy as np
import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.video import open_video
from surgvlp_fast.video.index import scan_native, scan_pyav
from surgvlp_fast.pretrain.recipes import clip_frames

pytestmark = pytest.mark.skipif(native_submodule("sampler") is None,
                                reason="native sampler not built or switched off (SURGVLP_FAST_DISABLE_NATIVE=1)")


@pytest.mark.parametrize("name", ["h264_bframes", "hevc", "vp9_webm", "vfr", "audio_first"])
def test_native_index_equals_pyav_index(videos, name):
    a, b = scan_native(videos[name]), scan_pyav(videos[name])
    np.testing.assert_array_equal(a.pts, b.pts)
    np.testing.assert_array_equal(a.keyframe, b.keyframe)
    assert (a.time_base, a.last_duration, a.width, a.height, a.stream_index, a.codec) == \
           (b.time_base, b.last_duration, b.width, b.height, b.stream_index, b.codec)


def test_describe_reports_ffmpeg():
    text = native_submodule("sampler").describe()
    assert "libavcodec 59." in text or "libavcodec" in text
    assert "NVDEC" in text


def test_seeks_once_per_clip_and_decodes_little(videos):
    reader = open_video(videos["h264_short_gop"], backend="native")  # keyframe every 5 frames
    reader.frames_at([2.0, 2.04, 2.08])  # frames 50-52: 50 is a keyframe
    handle = reader._handle
    assert handle.seeks == 1 and handle.decoded_frames <= 4
    before = handle.decoded_frames
    reader.frames_at([0.0, 3.9])  # far apart: a second seek instead of decoding 90 frames
    assert handle.seeks == 3 and handle.decoded_frames - before <= 8
    long_gop = open_video(videos["h264_long_gop"], backend="native")  # one keyframe
    long_gop.frames_at([1.0, 1.5, 2.0])
    assert long_gop._handle.seeks == 1


@pytest.mark.parametrize("name", ["h264_short_gop", "h264_bframes", "hevc", "vp9_webm", "vfr", "h264_long_gop"])
def test_keyframe_segments_on_several_threads_equal_one(videos, name):
    """threads=N spreads a request's keyframe segments over N decoders: the same frames, in order."""
    one = open_video(videos[name], backend="native", threads=1)
    n = one.metadata.num_frames
    requests = [list(range(0, n, 3)), [0, n - 1], list(range(n // 3, n // 3 + 7)), list(range(n - 4, n)), [n // 2]]
    for threads in (2, 3, 8):
        many = open_video(videos[name], backend="native", threads=threads)
        for numbers in requests:
            want = one._current_handle().decode(torch.tensor(numbers))
            assert torch.equal(many._current_handle().decode(torch.tensor(numbers)), want), (threads, numbers)
        handle = many._current_handle()
        with pytest.raises(RuntimeError, match="out of range"):
            handle.decode(torch.tensor([0, 5, n + 10]))
        with pytest.raises(RuntimeError, match="sorted"):
            handle.decode(torch.tensor([n - 1, 0]))
        assert torch.equal(handle.decode(torch.tensor([0, n - 1])), one._current_handle().decode(torch.tensor([0, n - 1])))


@pytest.mark.parametrize("threads, opened", [(1, 1), (2, 2), (8, 4)])
def test_segments_spread_over_decoders(videos, threads, opened):
    """A request within one keyframe segment uses the first decoder; one over four segments opens
    min(threads, 4) decoders, each seeking once per segment it takes."""
    handle = open_video(videos["h264_short_gop"], backend="native", threads=threads)._current_handle()  # GOP 5
    handle.decode(torch.tensor([50, 51, 52]))
    assert (handle.decoders, handle.seeks) == (1, 1)
    handle.decode(torch.tensor([0, 10, 20, 30]))
    assert (handle.decoders, handle.seeks) == (opened, 5)


def test_b_frames_skip_only_frames_nobody_needs(videos):
    reader = open_video(videos["h264_bframes"], backend="native")
    want = open_video(videos["h264_bframes"], backend="pyav").frames_at([0.9, 1.7])
    assert torch.equal(reader.frames_at([0.9, 1.7]), want)
    assert reader._handle.decoded_frames < 43  # frames 0..42 without the skipped non-reference B-frames


def test_bad_arguments_at_the_native_boundary(videos):
    sampler = native_submodule("sampler")
    reader = open_video(videos["h264_short_gop"], backend="native")
    handle = reader._current_handle()
    with pytest.raises(RuntimeError, match="sorted"):
        handle.decode(torch.tensor([5, 2]))
    with pytest.raises(RuntimeError, match="out of range"):
        handle.decode(torch.tensor([1000]))
    with pytest.raises(RuntimeError, match="integers"):
        handle.decode(torch.tensor([1.0]))
    with pytest.raises(RuntimeError, match="no video stream"):
        sampler.scan(videos["audio_only"])


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_stable_over_2000_clips(videos):
    reader = open_video(videos["tiny_intra"], backend="native")
    rng = np.random.default_rng(0)
    for _ in range(200):  # warm up: pools and caches reach their size
        clip_frames(reader, rng, 0.0, 4.0, clip_min=1, clip_max=2, size=16)[0]
    before = _rss_mib()
    for _ in range(2000):
        clip_frames(reader, rng, 0.0, 4.0, clip_min=1, clip_max=2, size=16)[0]
    assert _rss_mib() - before < 20.0
    for _ in range(100):  # opening and closing readers leaks nothing either
        with open_video(videos["h264_bframes"], backend="native") as r:
            r.frames_at([1.0], size=8)
    assert _rss_mib() - before < 25.0
