"""prepare-videos: the training cache, read like the originals."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from surgvlp_fast.cli import main
from surgvlp_fast.video import open_video
from surgvlp_fast.video import index as index_module


@pytest.fixture()
def sources(tmp_path, videos):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(videos["h264_long_gop"], src / "vd01.mp4")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", videos["h264_mkv"], "-c", "copy", "-metadata:s:v:0",
                    "rotate=90", str(src / "vd02.mp4")], check=True)
    (src / "broken.mp4").write_bytes(b"not a video at all")
    return src


def test_prepare_videos_end_to_end(tmp_path, sources, monkeypatch, capsys):
    dst = tmp_path / "cache"
    assert main(["prepare-videos", str(sources), str(dst), "--short-side", "96", "--jobs", "2"]) == 1  # broken.mp4
    assert "broken: failed" in capsys.readouterr().err
    assert sorted(os.listdir(dst)) == ["vd01.mp4", "vd01.mp4.index.npz", "vd02.mp4", "vd02.mp4.index.npz",
                                       "videos.json"]
    summary = json.loads((dst / "videos.json").read_text())
    assert (summary["vd01"]["width"], summary["vd01"]["height"]) == (128, 96)
    assert (summary["vd02"]["width"], summary["vd02"]["height"]) == (96, 128)  # rotation applied
    original = open_video(sources / "vd01.mp4")
    # the readers use the sidecar index: no scan
    monkeypatch.setattr(index_module, "scan", lambda p: pytest.fail(f"scanned {p}"))
    with open_video(str(dst / "vd01.mp4")) as cached:
        meta = cached.metadata
        assert meta.num_frames == original.metadata.num_frames and meta.rotation == 0
        assert meta.duration == pytest.approx(original.metadata.duration)
        keys = cached.index.pts[cached.index.keyframe] * cached.index.time_base[0] / cached.index.time_base[1]
        # a keyframe every second: the first frame at or after it, so within one frame period
        np.testing.assert_allclose(keys, [0, 1, 2, 3], rtol=0, atol=1 / meta.fps)
        a = cached.frames_at([0.5, 2.5], size=64).float()
        b = original.frames_at([0.5, 2.5], size=64).float()
        assert (a - b).abs().mean() < 6  # the same pictures, re-encoded and scaled
    monkeypatch.undo()
    # resumable: a second run re-encodes nothing, and a lost sidecar comes back without re-encoding
    stamp = os.stat(dst / "vd01.mp4").st_mtime_ns
    os.unlink(dst / "vd02.mp4.index.npz")
    (sources / "broken.mp4").unlink()
    assert main(["prepare-videos", str(sources), str(dst), "--short-side", "96"]) == 0
    assert os.stat(dst / "vd01.mp4").st_mtime_ns == stamp
    assert os.path.exists(dst / "vd02.mp4.index.npz")
    assert not [n for n in os.listdir(dst) if n.startswith(".")]  # no temporary files left


def test_prepare_lower_frame_rate(tmp_path, videos):
    dst = tmp_path / "cache"
    assert main(["prepare-videos", videos["h264_short_gop"], str(dst), "--fps", "5"]) == 0
    with open_video(str(dst / "h264_short_gop.mp4")) as reader:
        assert reader.metadata.num_frames == 20 and reader.metadata.fps == pytest.approx(5.0)
        assert (reader.metadata.width, reader.metadata.height) == (160, 120)  # never scaled up
