"""Video frame sampling: one reader API over several decoders, and the clip recipes.

    from surgvlp_fast.video import open_video
    with open_video("lecture.mp4") as reader:
        frames = reader.frames_at([1.0, 1.5, 2.0], crop=(280, 0, 720, 720), size=336)  # (3, 3, 336, 336)

Backends: "native" (C++ on FFmpeg; NVDEC with device="cuda"), "torchcodec", "pyav", "frames"
(a folder of 1 fps frames). "auto" picks native when built, else torchcodec, else pyav; a
folder always opens with "frames". All CPU backends return the same pixels for the same request.
`decode_clips` decodes a batch of clips at once (batch.py), one decoder per clip in flight.
"""
from surgvlp_fast.video.batch import ClipBatchError, ClipRequest, decode_clips
from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.metadata import VideoMetadata
from surgvlp_fast.video.opening import BACKENDS, available_backends, open_video
from surgvlp_fast.video.reader import VideoReader

__all__ = ["open_video", "decode_clips", "ClipRequest", "ClipBatchError", "available_backends", "VideoReader",
           "VideoMetadata", "VideoError", "BACKENDS"]
