"""VideoMetadata: what a reader knows about the video stream of a file."""
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoMetadata:
    """Facts about the *video* stream (never stream 0 blindly).

    duration: seconds from the first frame's start to the last frame's end.
    fps: average frame rate, num_frames / duration.
    rotation: degrees of the display matrix (counter-clockwise); readers return frames rotated upright.
    """

    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: float = 0.0
    codec: str = ""
