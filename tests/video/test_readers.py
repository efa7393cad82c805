"""Readers against the ffmpeg CLI, and against each other, on real generated videos."""
import pickle
import threading

import numpy as np
import pytest
import torch

from surgvlp_fast.video import available_backends, open_video
from video_helpers import cli_frames, ffprobe_stream

DECODERS = [b for b in available_backends() if b != "frames"]
FORMATS = ["h264_long_gop", "h264_short_gop", "h264_bframes", "hevc", "vp9_webm", "h264_mkv",
           "odd_size", "audio_first", "vfr", "bt709_full_range", "width_8_mod_16"]


def probe(path):
    info = ffprobe_stream(path)
    stream = info["streams"][0]
    starts = np.array(sorted(float(f["pts_time"]) for f in info["frames"]))
    return stream, starts


def expected_numbers(starts, timestamps):
    """The frame played at t, from ffprobe's frame times (t measured from the first frame)."""
    t = np.asarray(timestamps) + starts[0]
    return np.clip(np.searchsorted(starts, t + 1e-6, side="right") - 1, 0, len(starts) - 1)


@pytest.mark.parametrize("backend", DECODERS)
@pytest.mark.parametrize("name", FORMATS)
def test_frames_and_metadata_match_ffmpeg_cli(videos, name, backend):
    path = videos[name]
    stream, starts = probe(path)
    with open_video(path, backend=backend) as reader:
        meta = reader.metadata
        assert (meta.width, meta.height) == (stream["width"], stream["height"])
        assert meta.num_frames == len(starts)
        last = starts[-1] - starts[0]
        assert last < meta.duration <= last + 0.1
        assert meta.fps == pytest.approx(meta.num_frames / meta.duration)
        rng = np.random.default_rng(7)
        timestamps = np.concatenate([rng.uniform(0, meta.duration, 9), starts[[3, 10]] - starts[0], [0.0]])
        got = reader.frames_at(timestamps, layout="THWC").numpy()
    reference = cli_frames(path, meta.width, meta.height)
    assert len(reference) == meta.num_frames
    want = reference[expected_numbers(starts, timestamps)]
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # bit-exact at native size


def test_vfr_and_audio_first_metadata(videos):
    stream, starts = probe(videos["vfr"])
    assert np.ptp(np.diff(starts)) > 0.01  # really variable
    with open_video(videos["audio_first"]) as reader:
        assert reader.index.stream_index == 1
        assert reader.metadata.duration == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("name", ["h264_bframes", "vfr", "odd_size"])
def test_backends_agree_with_crop_resize_flip(videos, name):
    path = videos[name]
    readers = [open_video(path, backend=b) for b in DECODERS]
    meta = readers[0].metadata
    side = min(meta.width, meta.height)
    request = dict(crop=(meta.width - side - 1, 1, side - 1, side - 1), size=(37, 41), flip=True)
    timestamps = [2.5, 0.3, 1.0, 1.0, 0.0, 99.0, -1.0]
    outs = [r.frames_at(timestamps, **request) for r in readers]
    assert outs[0].shape == (7, 3, 37, 41)
    for other in outs[1:]:
        assert torch.equal(outs[0], other)
    # the pipeline by hand: full frames, crop, resize, flip
    full = readers[0].frames_at(timestamps, layout="THWC")
    x, y, w, h = request["crop"]
    manual = torch.nn.functional.interpolate(full[:, y:y + h, x:x + w].permute(0, 3, 1, 2), size=(37, 41),
                                             mode="bilinear", antialias=True).flip(3)
    assert torch.equal(outs[0], manual)


def test_rotation_is_applied_like_the_cli(tmp_path, videos):
    import subprocess

    path = str(tmp_path / "rotated.mp4")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", videos["h264_short_gop"], "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", path], check=True)
    for backend in DECODERS:
        with open_video(path, backend=backend) as reader:
            meta = reader.metadata
            assert (meta.width, meta.height, meta.rotation) == (120, 160, 90.0)
            got = reader.frames_at([0.0, 1.3], layout="THWC").numpy()
        reference = cli_frames(path, 120, 160)  # the CLI rotates by the display matrix
        np.testing.assert_array_equal(got, reference[[0, 32]])


def test_layouts_ranges_and_clamping(videos):
    with open_video(videos["h264_short_gop"]) as reader:
        tchw = reader.frames_at([0.5, 1.5], size=32)
        thwc = reader.frames_at([0.5, 1.5], size=32, layout="THWC")
        assert tchw.is_contiguous() and thwc.is_contiguous()
        assert torch.equal(tchw.permute(0, 2, 3, 1), thwc)
        assert torch.equal(reader.frames_at([0.5], flip=True), reader.frames_at([0.5]).flip(3))
        ranged = reader.frames_in_range(1.0, 2.0, 4, size=16)
        assert torch.equal(ranged, reader.frames_at([1.0, 1.25, 1.5, 1.75], size=16))
        assert torch.equal(reader.frames_at([1e6]), reader.frames_at([reader.metadata.duration - 1e-3]))
        assert reader.frames_at([], size=8).shape == (0, 3, 8, 8)
        with pytest.raises(ValueError, match="crop"):
            reader.frames_at([0.0], crop=(100, 0, 100, 100))
        with pytest.raises(ValueError, match="finite"):
            reader.frames_at([float("nan")])
        with pytest.raises(ValueError, match="layout"):
            reader.frames_at([0.0], layout="HWC")


def test_frames_backend_matches_video(tmp_path, videos):
    import subprocess

    path = videos["h264_short_gop"]
    folder = tmp_path / "frames"
    folder.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", r"select=not(mod(n\,25))", "-fps_mode",
                    "passthrough", "-start_number", "1", str(folder / "video07_%d.png")], check=True)
    (folder / "notes.txt").write_text("not a frame")
    frames = open_video(str(folder))
    assert frames.backend == "frames"
    assert frames.metadata.num_frames == 4 and frames.metadata.fps == 1.0
    with open_video(path) as video:
        for t in (0.0, 1.2, 2.7, 3.99):
            assert torch.equal(frames.frames_at([t], size=50, crop=(10, 5, 100, 100)),
                               video.frames_at([float(int(t))], size=50, crop=(10, 5, 100, 100)))
    assert open_video(str(folder / "video07"), backend="frames").metadata.num_frames == 4


def test_index_is_cached_and_refreshed(videos, monkeypatch, tmp_path):
    import shutil

    from surgvlp_fast.video import index as index_module

    path = str(tmp_path / "copy.mp4")
    shutil.copy(videos["h264_short_gop"], path)
    first = index_module.load_index(path)
    monkeypatch.setattr(index_module, "scan", lambda p: pytest.fail("rescanned a cached video"))
    again = index_module.load_index(path)
    np.testing.assert_array_equal(first.pts, again.pts)
    monkeypatch.undo()
    shutil.copy(videos["h264_long_gop"], path)  # a different file under the same name
    assert index_module.load_index(path).keyframe.sum() == 1
    with open(index_module._cache_path(path), "wb") as f:  # a damaged cache entry is rebuilt
        f.write(b"garbage")
    assert index_module.load_index(path).keyframe.sum() == 1


def test_reader_pickles_and_threads(videos):
    reader = open_video(videos["h264_bframes"])
    want = reader.frames_at([0.2, 3.1], size=24)
    clone = pickle.loads(pickle.dumps(reader))
    assert torch.equal(clone.frames_at([0.2, 3.1], size=24), want)
    results = []

    def work():
        for _ in range(5):
            results.append(torch.equal(reader.frames_at([0.2, 3.1], size=24), want))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 15


class _Clips(torch.utils.data.Dataset):
    def __init__(self, reader):
        self.reader = reader

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.reader.frames_at([i * 0.5], size=16)


def test_reader_inside_dataloader_workers_after_use_in_parent(videos):
    reader = open_video(videos["h264_short_gop"])
    want = torch.cat([reader.frames_at([i * 0.5], size=16) for i in range(6)])  # opened in the parent
    loader = torch.utils.data.DataLoader(_Clips(reader), batch_size=2, num_workers=2,
                                         multiprocessing_context="fork")
    got = torch.cat([batch.flatten(0, 1) for batch in loader])
    assert torch.equal(got, want)
