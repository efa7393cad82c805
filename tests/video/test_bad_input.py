"""Bad input: a clear VideoError naming the file, or documented clamping; never a crash or hang."""
import subprocess

import numpy as np
import pytest
import torch

from surgvlp_fast.video import VideoError, available_backends, open_video

DECODERS = [b for b in available_backends() if b != "frames"]


def open_and_read(path, backend):
    with open_video(path, backend=backend) as reader:
        return reader.frames_at(np.linspace(0, reader.metadata.duration, 7), size=16)


@pytest.mark.parametrize("backend", DECODERS)
def test_missing_empty_and_not_a_video(tmp_path, backend):
    cases = {"missing.mp4": None, "empty.mp4": b"", "notes.mp4": b"start,end,text\n0,1,hello\n" * 50,
             "random.mkv": np.random.default_rng(0).bytes(5000)}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(VideoError) as err:
            open_and_read(str(path), backend)
        assert err.value.path == str(path) and str(path) in str(err.value)
    with pytest.raises(VideoError, match="is not a file"):
        open_video(str(tmp_path), backend=backend)


@pytest.mark.parametrize("backend", DECODERS)
def test_audio_only_and_zero_frames(tmp_path, videos, backend):
    with pytest.raises(VideoError, match="no video stream"):
        open_video(videos["audio_only"], backend=backend)
    no_frames = str(tmp_path / "no_frames.mkv")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25",
                    "-frames:v", "0", "-c:v", "libx264", no_frames], check=True)
    with pytest.raises(VideoError):
        open_and_read(no_frames, backend)


@pytest.mark.parametrize("backend", DECODERS)
def test_truncated_files(tmp_path, videos, backend):
    source = videos["h264_short_gop"]
    data = open(source, "rb").read()
    cut = tmp_path / "cut_moov_at_end.mp4"  # the ffmpeg CLI writes the moov atom last
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VideoError):
        open_and_read(str(cut), backend)
    faststart = str(tmp_path / "faststart.mp4")
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", source, "-c", "copy", "-movflags", "+faststart",
                    faststart], check=True)
    data = open(faststart, "rb").read()
    cut = tmp_path / f"cut_faststart_{backend}.mp4"  # index intact, the frame data cut short
    cut.write_bytes(data[: len(data) // 2])
    try:
        frames = open_and_read(str(cut), backend)
    except VideoError as err:
        assert err.path == str(cut)
    else:
        assert frames.shape == (7, 3, 16, 16)


@pytest.mark.parametrize("backend", DECODERS)
def test_corrupt_bytes_in_the_middle(tmp_path, videos, backend):
    data = bytearray(open(videos["h264_mkv"], "rb").read())
    rng = np.random.default_rng(1)
    for start in rng.integers(len(data) // 4, len(data) * 3 // 4, 6):
        data[start:start + 200] = rng.bytes(200)
    path = tmp_path / f"corrupt_{backend}.mkv"
    path.write_bytes(bytes(data))
    try:
        frames = open_and_read(str(path), backend)
    except VideoError as err:
        assert err.path == str(path)
    else:
        assert frames.shape == (7, 3, 16, 16) and frames.dtype == torch.uint8


def test_error_is_picklable():
    import pickle

    err = pickle.loads(pickle.dumps(VideoError("/a/b.mp4", "is empty")))
    assert err.path == "/a/b.mp4" and str(err) == "/a/b.mp4: is empty"


def test_unknown_backend_and_frames_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        open_video("x.mp4", backend="decord")
    (tmp_path / "a_1.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="cannot read the image"):
        open_video(str(tmp_path), backend="frames")
    with pytest.raises(VideoError, match="no frames"):
        open_video(str(tmp_path / "nothing"), backend="frames")
    (tmp_path / "b_1.png").write_bytes(b"")
    with pytest.raises(VideoError, match="several videos"):
        open_video(str(tmp_path), backend="frames")
