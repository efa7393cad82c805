"""What the inference tests share beside their fixtures (a module of its own name: `conftest` is
ambiguous when several test folders run together)."""
import subprocess

from video_helpers import FFMPEG

CONFIG = "configs/demo.yaml"
FRAME_OPTIONS = ["--resize", "64x64", "--crop", "64"]   # the world's 64x64 frames, as `eval -o resize=64x64 -o crop=64`


def h264_from_frames(pattern: str, out: str, count: int):
    """A 25 fps lossless H.264 (libx264rgb, qp 0) video showing frame k of `pattern` (from 1) during second k-1."""
    subprocess.run([FFMPEG, "-y", "-v", "error", "-framerate", "1", "-start_number", "1", "-i", pattern,
                    "-frames:v", str(25 * count), "-r", "25", "-c:v", "libx264rgb", "-qp", "0", "-preset", "ultrafast",
                    "-g", "25", out], check=True)
    return out
