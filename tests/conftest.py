"""Test-wide settings: Triton runs in its interpreter without a GPU, nothing touches the hub."""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

from suites import FALLBACK, NUMERICS, ONE_THREAD  # noqa: E402
from video_helpers import FFMPEG  # noqa: E402

from surgvlp_fast import cli  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark, where in (("fallback", FALLBACK), ("numerics", NUMERICS)):
            if item.nodeid.startswith(where):
                item.add_marker(mark)
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def one_thread(request):
    """One torch thread for the tests in suites.ONE_THREAD, restored after each."""
    if not request.node.nodeid.startswith(ONE_THREAD):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- real test videos, made with the ffmpeg CLI once per session (small: 160x120, 2-4 s)
# name: (file name, ffmpeg arguments after "-y -v error")
VIDEOS = {
    "h264_long_gop": ("h264_long_gop.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 "
                      "-c:v libx264 -pix_fmt yuv420p -g 250 -bf 0"),
    "h264_short_gop": ("h264_short_gop.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 "
                       "-c:v libx264 -pix_fmt yuv420p -g 5 -bf 0"),
    "h264_bframes": ("h264_bframes.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 "
                     "-c:v libx264 -pix_fmt yuv420p -g 25 -bf 3 -b_strategy 0"),
    "hevc": ("hevc.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=3 "
             "-c:v libx265 -pix_fmt yuv420p -x265-params log-level=none:keyint=20 -tag:v hvc1"),
    "vp9_webm": ("vp9.webm", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=3 "
                 "-c:v libvpx-vp9 -pix_fmt yuv420p -g 30 -deadline realtime -cpu-used 8"),
    "h264_mkv": ("h264.mkv", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=3 "
                 "-c:v libx264 -pix_fmt yuv420p -g 15"),
    "odd_size": ("odd_size.mp4", "-f lavfi -i testsrc=size=161x121:rate=25:duration=2 "
                 "-c:v libx264 -pix_fmt yuv444p -g 10"),
    "audio_first": ("audio_first.mp4", "-f lavfi -i sine=frequency=440:duration=3 "
                    "-f lavfi -i testsrc2=size=160x120:rate=25:duration=3 -map 0:a -map 1:v "
                    "-c:a aac -c:v libx264 -pix_fmt yuv420p -g 25"),
    "bt709_full_range": ("bt709_full_range.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 "
                         "-c:v libx264 -pix_fmt yuvj420p -colorspace bt709 -color_primaries bt709 "
                         "-color_trc bt709 -g 10"),
    # 360 = 16·22 + 8: a width whose RGB rows swscale's SIMD writers would overrun
    "width_8_mod_16": ("width_8_mod_16.mp4", "-f lavfi -i testsrc2=size=360x96:rate=25:duration=2 "
                       "-c:v libx264 -pix_fmt yuv420p -g 10"),
    "tiny_intra": ("tiny_intra.mp4", "-f lavfi -i testsrc2=size=64x48:rate=25:duration=4 "
                   "-c:v libx264 -pix_fmt yuv420p -g 1"),
    "audio_only": ("audio_only.m4a", "-f lavfi -i sine=frequency=440:duration=2 -c:a aac"),
    # variable frame rate: frames at irregular times (setpts), kept as they are by -fps_mode passthrough
    "vfr": ("vfr.mkv", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=3 "
            "-vf setpts='N/25/TB+0.02*floor(N/5)/TB' -fps_mode passthrough -c:v libx264 "
            "-pix_fmt yuv420p -g 12"),
}


def make(tmp_dir, name):
    file, args = VIDEOS[name]
    path = os.path.join(tmp_dir, file)
    if not os.path.exists(path):
        subprocess.run([FFMPEG, "-y", "-v", "error", *args.split(), path], check=True)
    return path


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    if FFMPEG is None:
        pytest.fail("the ffmpeg CLI is needed to make the test videos (apt-get install ffmpeg)")
    os.environ.setdefault("SURGVLP_FAST_VIDEO_INDEX_DIR", str(tmp_path_factory.mktemp("index_cache")))
    return str(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def videos(video_dir):
    """name -> path, made on first use."""
    class Videos(dict):
        def __missing__(self, name):
            self[name] = make(video_dir, name)
            return self[name]
    return Videos()


# ---- a tiny synthetic world, made once per session through the CLI (~3 s)

@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "data"
    assert cli.main(["make-synthetic", str(root), "--preset", "tiny", "--seed", "0"]) == 0
    return root, json.loads((root / "world.json").read_text())
