"""NVDEC (device="cuda"): crop mapping on CPU; decoding on a GPU (skipped without one)."""
import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.video import open_video
from surgvlp_fast.video.native_backend import displayed_to_stored


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_displayed_crop_maps_to_stored_crop(turns):
    stored = torch.arange(7 * 11).reshape(7, 11)
    shown = torch.rot90(stored, turns, dims=(0, 1))
    crop = (1, 2, 3, 4)
    (x, y, w, h), (out_h, out_w) = displayed_to_stored(crop, (5, 6), turns, 11, 7)
    assert torch.equal(torch.rot90(stored[y:y + h, x:x + w], turns, dims=(0, 1)), shown[2:6, 1:4])
    assert (out_h, out_w) == ((6, 5) if turns % 2 else (5, 6))


needs_cuda_sampler = pytest.mark.skipif(
    native_submodule("sampler") is None or not getattr(native_submodule("sampler"), "has_cuda", False),
    reason="native sampler built without CUDA (SURGVLP_FAST_BUILD_CUDA=1) or switched off")


@pytest.mark.gpu
@needs_cuda_sampler
@pytest.mark.parametrize("name", ["h264_bframes", "hevc", "vp9_webm", "odd_size"])
def test_nvdec_frames_match_the_cpu_path(videos, name):
    cpu = open_video(videos[name], backend="native")
    gpu = open_video(videos[name], backend="native", device="cuda")
    meta = cpu.metadata
    side = min(meta.width, meta.height)
    request = dict(crop=(meta.width - side, 0, side, side), size=64, flip=True)
    timestamps = [0.1, 1.3, 2.2, 0.1]
    want = cpu.frames_at(timestamps, **request)
    got = gpu.frames_at(timestamps, **request)
    assert got.is_cuda and got.shape == want.shape and got.dtype == torch.uint8
    diff = (got.cpu().int() - want.int()).abs()
    if "nvdec" in gpu.gpu_status and name != "odd_size":  # the kernel: float colour maths
        assert diff.max() <= 4 and diff.float().mean() <= 1.0, gpu.gpu_status
    else:  # FFmpeg's software fallback (4:4:4 H.264): the CPU pipeline, bit-exact
        assert diff.max() <= 1, gpu.gpu_status


@pytest.mark.gpu
@needs_cuda_sampler
def test_nvdec_rotated(tmp_path, videos):
    import subprocess

    path = str(tmp_path / "rotated.mp4")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", videos["h264_short_gop"], "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", path], check=True)
    cpu = open_video(path, backend="native").frames_at([1.0, 2.0], crop=(0, 10, 120, 120), size=48)
    gpu = open_video(path, backend="native", device="cuda").frames_at([1.0, 2.0], crop=(0, 10, 120, 120), size=48)
    assert (gpu.cpu().int() - cpu.int()).abs().max() <= 4
