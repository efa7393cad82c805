"""Helpers of the video tests: what the ffmpeg CLI and ffprobe say about a file."""
import functools
import json
import shutil
import subprocess

import numpy as np

FFMPEG = shutil.which("ffmpeg")


@functools.lru_cache(maxsize=None)
def ffprobe_stream(path):
    """The video stream's fields as ffprobe reports them."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams",
                          "-show_entries", "frame=pts_time,pkt_dts_time", "-show_frames",
                          "-of", "json", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


@functools.lru_cache(maxsize=None)
def cli_frames(path, width, height, extra=()):
    """Every frame the ffmpeg CLI decodes, as RGB24 at native size (no frame dropped or doubled)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", path, *extra, "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
