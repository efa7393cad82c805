"""decode_clips: a batch of clips equals each clip's frames_at bit for bit, errors stay per clip."""
import subprocess

import numpy as np
import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.video import (ClipBatchError, ClipRequest, VideoError, available_backends, decode_clips,
                                open_video)
from surgvlp_fast.video.index import load_index
from surgvlp_fast.video.native_backend import NativeReader

SOURCES = ("odd_size", "width_8_mod_16", "h264_bframes", "h264_long_gop", "vfr", "hevc")


def broken_files(tmp_path, videos):
    """A file cut before its index (unreadable) and one whose frame data is cut short."""
    data = open(videos["h264_short_gop"], "rb").read()
    cut = tmp_path / "cut_moov_at_end.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    faststart = str(tmp_path / "faststart.mp4")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", videos["h264_short_gop"], "-c", "copy",
                    "-movflags", "+faststart", faststart], check=True)
    data = open(faststart, "rb").read()
    short = tmp_path / "cut_frames.mp4"
    short.write_bytes(data[: len(data) // 2])
    return str(cut), str(short), str(tmp_path / "missing.mp4")


def batch(videos, extra_paths=()):
    """Many clips of several videos, odd shapes and options, in an order that mixes the videos."""
    rng = np.random.default_rng(7)
    requests = []
    for k in range(3):
        for name in SOURCES:
            path = videos[name]
            with open_video(path) as reader:
                m = reader.metadata
            start = float(rng.uniform(0, m.duration))
            times = start + np.sort(rng.uniform(-0.5, 1.5, size=int(rng.integers(1, 6))))
            crop = None if k == 0 else (1, 3, m.width - 2, m.height - 5)
            size = None if k == 0 else ((17, 23) if k == 1 else 9)
            requests.append(ClipRequest(path, times.tolist(), crop=crop, size=size, flip=k == 2,
                                        layout="THWC" if k == 1 else "TCHW"))
    for j, path in enumerate(extra_paths):
        requests.insert(2 + 3 * j, ClipRequest(path, [0.1, 0.5, 3.0], size=8))
    requests.append(dict(path=videos["odd_size"], timestamps=[], size=5))  # no frames wanted
    return requests


def expected(request):
    with open_video(request.path) as reader:
        return reader.frames_at(request.timestamps, crop=request.crop, size=request.size, flip=request.flip,
                                layout=request.layout)


def assert_matches_readers(requests, results):
    assert len(results) == len(requests)
    for i, (request, got) in enumerate(zip(requests, results)):
        request = request if isinstance(request, ClipRequest) else ClipRequest(**request)
        try:
            want = expected(request)
        except VideoError:
            assert isinstance(got, VideoError) and got.path == request.path, (i, got)
            continue
        assert isinstance(got, torch.Tensor), (i, got)
        assert got.dtype == torch.uint8 and got.shape == want.shape and torch.equal(got, want), i


@pytest.mark.parametrize("threads", [1, 3])
def test_batch_equals_frames_at_with_broken_files(tmp_path, videos, threads):
    cut, short, missing = broken_files(tmp_path, videos)
    requests = batch(videos, (cut, short, missing))
    results = decode_clips(requests, threads=threads, errors="return")
    assert_matches_readers(requests, results)
    failed = {r.path for r in results if isinstance(r, VideoError)}
    assert {cut, missing} <= failed and len([r for r in results if isinstance(r, torch.Tensor)]) >= 19
    with pytest.raises(ClipBatchError) as err:
        decode_clips(requests, threads=threads)
    assert cut in str(err.value) and missing in str(err.value)
    assert [i for i, _ in err.value.failures] == [i for i, r in enumerate(results) if isinstance(r, VideoError)]


def test_many_clips_of_one_video(videos):
    path = videos["h264_long_gop"]
    starts = np.linspace(0, 3.5, 16)
    requests = [ClipRequest(path, (s + np.arange(4) * 0.12).tolist(), size=(31, 45), flip=bool(i % 2))
                for i, s in enumerate(starts)]
    results = decode_clips(requests, threads=2)
    assert_matches_readers(requests, results)
    assert torch.equal(decode_clips(requests[::-1], threads=4)[0], results[-1])  # input order kept


def test_a_bad_request_fails_its_clip_only(videos):
    path = videos["odd_size"]
    requests = [ClipRequest(path, [0.5], crop=(0, 0, 500, 10)), ClipRequest(path, [float("nan")]),
                ClipRequest(path, [0.5, 1.0], size=12)]
    results = decode_clips(requests, errors="return")
    assert isinstance(results[0], VideoError) and "does not fit" in str(results[0]) and path in str(results[0])
    assert isinstance(results[1], VideoError) and "finite" in str(results[1])
    assert torch.equal(results[2], expected(requests[2]))


def test_malformed_calls_raise_clearly(videos):
    path = videos["odd_size"]
    with pytest.raises(ValueError, match="threads"):
        decode_clips([ClipRequest(path, [0.0])], threads=0)
    with pytest.raises(ValueError, match="errors"):
        decode_clips([], errors="ignore")
    with pytest.raises(TypeError, match="clip 0"):
        decode_clips([(path, [0.0])])
    with pytest.raises(ValueError, match="unknown option"):
        decode_clips([dict(path=path, timestamps=[0.0], colour="red")])
    with pytest.raises(ValueError, match="layout"):
        decode_clips([dict(path=path, timestamps=[0.0], layout="CHW")])
    assert decode_clips([]) == []


@pytest.mark.skipif("pyav" not in available_backends(), reason="PyAV is not installed")
def test_clip_by_clip_backend(videos):
    requests = [ClipRequest(videos[name], [0.2, 1.1], size=(13, 11)) for name in SOURCES[:3]]
    for request, got in zip(requests, decode_clips(requests, backend="pyav")):
        with open_video(request.path, backend="pyav") as reader:
            assert torch.equal(got, reader.frames_at(request.timestamps, size=request.size))


def test_native_boundary_is_checked(videos):
    sampler = native_submodule("sampler")
    if sampler is None:
        with pytest.raises(ValueError, match="native"):
            decode_clips([ClipRequest(videos["odd_size"], [0.0])], backend="native")
        return
    index = load_index(videos["odd_size"])
    video = (videos["odd_size"], index.stream_index, torch.from_numpy(index.pts),
             torch.from_numpy(index.keyframe.astype(np.uint8)))
    with pytest.raises(ValueError, match="threads"):
        sampler.decode_clips([video], [], 0)
    with pytest.raises(TypeError, match="video 0"):
        sampler.decode_clips([video[:3]], [], 1)
    with pytest.raises(ValueError, match="lengths differ"):
        sampler.decode_clips([(*video[:3], video[3][:-1])], [], 1)
    with pytest.raises(ValueError, match="refers to video 1"):
        sampler.decode_clips([video], [(1, torch.tensor([0]))], 1)
    with pytest.raises(TypeError, match="clip 0"):
        sampler.decode_clips([video], [(0, "frames")], 1)
    with pytest.raises(RuntimeError, match="integers"):
        sampler.decode_clips([video], [(0, torch.tensor([0.5]))], 1)
    n = len(index.pts)
    out = sampler.decode_clips([video, ("/nonexistent.mp4", *video[1:])],
                               [(0, torch.tensor([2, 1])), (0, torch.tensor([n])), (1, torch.tensor([0])),
                                (0, torch.tensor([0, n - 1]))], 2)
    assert [e is None for _, e in out] == [False, False, False, True]
    assert "sorted" in out[0][1] and "out of range" in out[1][1] and out[3][0].shape == (2, 121, 161, 3)


def test_batch_equals_the_native_reader_or_says_it_is_off(videos):
    path = videos["width_8_mod_16"]
    reader = NativeReader(path, load_index(path), threads=2)
    request = ClipRequest(path, [0.3, 0.1, 1.7], crop=(8, 2, 300, 90), size=(45, 150), flip=True)
    if native_submodule("sampler") is None:
        with pytest.raises(VideoError, match="switched off"):
            reader.frames_at(request.timestamps)
        return
    want = reader.frames_at(request.timestamps, crop=request.crop, size=request.size, flip=True)
    assert torch.equal(decode_clips([request], backend="native")[0], want)
