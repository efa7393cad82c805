"""The frame recipes of the three pretraining levels (reference.md §2.4-2.6), over any reader.

Each takes a reader, a `numpy.random.Generator` and the time window chosen by the caller (the
text side: min_time expansion and the reference's int truncation belong to the datasets), and
returns uint8 frames (T, 3, size, size): a full-height square crop (random or centred) of the
source, resized to `size`, flipped horizontally for the whole clip with probability 0.5.

Fixes of the reference's defects, each with the option that restores the reference:
- clip level: the kept frames are the centres of T/4 equal segments (`frame_pick="centered"`);
  the reference's `frames[::T//4][:4]`, biased to the clip's start, is `frame_pick="reference"`.
- clip level: the window always fits in the video (seek = min(seek, duration - L)), so there
  are always 2L decoded positions and never too few frames (the reference's assert could fail).
- time stamps past the end of the video are clamped to the last frame (reader semantics).
"""
import math

import numpy as np
import torch

FRAME_PICKS = ("centered", "reference")


def square_crop(width: int, height: int, rng: np.random.Generator, center: bool) -> tuple:
    """The reference's crop: side min(w, h), placed at ((w - side) * aw, (h - side) * ah)."""
    side = min(width, height)
    aw, ah = (0.5, 0.5) if center else (rng.uniform(), rng.uniform())
    return int((width - side) * aw), int((height - side) * ah), side, side


def _crop_and_flip(meta, rng, center_crop, random_flip):
    crop = square_crop(meta.width, meta.height, rng, center_crop)
    flip = bool(random_flip and rng.uniform() > 0.5)
    return crop, flip


def pick_frames(count: int, num_frames: int, frame_pick: str) -> np.ndarray:
    """Which of `count` decoded positions the clip level keeps."""
    if frame_pick == "centered":
        return np.floor((np.arange(num_frames) + 0.5) * count / num_frames).astype(np.int64)
    if frame_pick == "reference":
        step = max(count // num_frames, 1)
        picked = np.arange(0, count, step)[:num_frames]
        if len(picked) < num_frames:  # the reference asserts instead
            picked = np.concatenate([picked, np.full(num_frames - len(picked), picked[-1])])
        return picked
    raise ValueError(f"frame_pick must be one of {FRAME_PICKS}, got {frame_pick!r}")


def clip_request(meta, rng: np.random.Generator, start: float, end: float, *, clip_min: int = 3,
                 clip_max: int = 5, fps: float = 2.0, num_frames: int = 4, size: int = 336,
                 center_crop: bool = False, random_flip: bool = True, frame_pick: str = "centered",
                 integer_seek: bool = False) -> tuple[dict, tuple[float, float]]:
    """clip_frames' random draws without the decoding: frames_at's arguments (timestamps, crop, size,
    flip) for a video of metadata `meta`, and the sub-window."""
    length = int(rng.integers(clip_min, clip_max + 1))
    if integer_seek:
        seek = float(rng.integers(int(start), int(max(start, end - length)) + 1))
    else:
        seek = float(rng.uniform(start, max(start, end - length)))
    seek = max(0.0, min(seek, meta.duration - length))  # the clip always fits in the video
    crop, flip = _crop_and_flip(meta, rng, center_crop, random_flip)
    count = max(int(round(length * fps)), 1)
    timestamps = seek + pick_frames(count, num_frames, frame_pick) / fps
    return {"timestamps": timestamps, "crop": crop, "size": size, "flip": flip}, (seek, seek + length)


def clip_frames(reader, rng: np.random.Generator, start: float, end: float,
                **options) -> tuple[torch.Tensor, tuple[float, float]]:
    """Clip level (§2.4): a random L ∈ [clip_min, clip_max] s sub-window of [start, end] at `fps`,
    `num_frames` of its 2L positions kept. Random draws in the reference's order: L, seek, crop, flip.
    The seek is uniform in [start, end - L]; `integer_seek=True` draws it among whole seconds (the
    reference). Returns the frames and the sub-window (seek, seek + L) they were taken from.
    Options: clip_request's.
    """
    request, window = clip_request(reader.metadata, rng, start, end, **options)
    return reader.frames_at(**request), window


def linspace_request(meta, rng: np.random.Generator, start: float, end: float, num_frames: int, *,
                     size: int = 336, center_crop: bool = False, random_flip: bool = True) -> dict:
    """linspace_frames' random draws without the decoding: frames_at's arguments."""
    length = max(float(end) - float(start), 1e-6)
    rate = math.ceil(num_frames / length)
    count = max(1, int(math.ceil(length * rate - 1e-9)))
    picked = torch.linspace(0, count, num_frames).long().clamp(0, count - 1).numpy()
    crop, flip = _crop_and_flip(meta, rng, center_crop, random_flip)
    return {"timestamps": float(start) + picked / rate, "crop": crop, "size": size, "flip": flip}


def linspace_frames(reader, rng: np.random.Generator, start: float, end: float, num_frames: int,
                    **options) -> torch.Tensor:
    """Keystep / video level (§2.5-2.6): integer fps F = ceil(num_frames / (end - start)), then
    `num_frames` of the window's positions by clamp(long(linspace(0, T, num_frames)), 0, T - 1).
    Options: linspace_request's."""
    return reader.frames_at(**linspace_request(reader.metadata, rng, start, end, num_frames, **options))


def keystep_frames(reader, rng, start, end, *, num_frames: int = 16, **options) -> torch.Tensor:
    """Keystep level (§2.5): 16 frames over the window."""
    return linspace_frames(reader, rng, start, end, num_frames, **options)


def video_frames(reader, rng, start, end, *, num_frames: int = 64, **options) -> torch.Tensor:
    """Video level (§2.6): 64 frames over the window (usually the whole lecture)."""
    return linspace_frames(reader, rng, start, end, num_frames, **options)
