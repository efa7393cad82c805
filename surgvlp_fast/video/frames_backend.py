"""The frames backend: a folder of frames extracted at a fixed rate (1 fps by default).

CAMMA naming: `{video}_{k}.png` (or .jpg / .jpeg), k an integer. The file with the smallest k is
the frame shown during [0, 1/fps), the next k during [1/fps, 2/fps), and so on; a missing k
leaves the previous frame on screen. `path` is the folder (holding one video's frames) or the
prefix `folder/{video}`.
"""
import os
import re

import numpy as np
import torch

from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.index import VideoIndex
from surgvlp_fast.video.reader import VideoReader

_NAME = re.compile(r"^(?P<video>.+)_(?P<k>\d+)\.(?:png|jpe?g)$", re.IGNORECASE)


def list_frames(path: str) -> tuple:
    """(numbers k sorted, files) of the frames of the folder or prefix `path`."""
    if os.path.isdir(path):
        folder, prefix = path, None
    else:
        folder, prefix = os.path.dirname(path) or ".", os.path.basename(path)
        if not os.path.isdir(folder):
            raise VideoError(path, "no such frames folder")
    found = {}
    for name in os.listdir(folder):
        match = _NAME.match(name)
        if match and (prefix is None or match["video"] == prefix):
            found.setdefault(match["video"], []).append((int(match["k"]), os.path.join(folder, name)))
    if not found:
        raise VideoError(path, "no frames named {video}_{k}.png / .jpg")
    if len(found) > 1:
        raise VideoError(path, f"frames of several videos ({', '.join(sorted(found)[:4])}); "
                               "pass the prefix folder/{video}")
    items = sorted(next(iter(found.values())))
    return np.asarray([k for k, _ in items], np.int64), [f for _, f in items]


def _read_rgb(file: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as err:
        raise VideoError(file, f"cannot read the image ({err})") from None


class FramesReader(VideoReader):
    backend = "frames"

    def __init__(self, path, *, fps: float = 1.0, threads: int = 1, device="cpu"):
        path = os.fspath(path)
        numbers, self._files = list_frames(path)
        first = _read_rgb(self._files[0])
        scale = 1000  # time base 1/(1000*fps) keeps non-integer rates exact enough
        index = VideoIndex(
            pts=(numbers - numbers[0]) * scale, keyframe=np.ones(len(numbers), bool),
            time_base=(1, int(round(fps * scale))), last_duration=scale,
            width=first.shape[1], height=first.shape[0], rotation=0.0, codec="image", stream_index=0)
        super().__init__(path, index, threads=threads, device=device)

    def _open(self):
        return self._files

    def _decode(self, handle, frames: np.ndarray) -> torch.Tensor:
        images = [_read_rgb(handle[int(i)]) for i in frames]
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise VideoError(self.path, f"frames of different sizes {sorted(shapes)}")
        return torch.from_numpy(np.stack(images))
