"""A video's frames at a fixed rate through the image encoder, batch by batch: memory is bounded by
the batch (never a whole-video tensor); the next batch is decoded while the model runs.

Preprocessing ("official" by default) is the zero-shot protocol's: full-resolution frames, PIL
bilinear resize to `resize` (aspect not kept), centre crop, normalisation (models.preprocess
.official_frames), so embeddings equal the protocol's on the same frames. "fast" resizes in the
decoder (swscale) and crops and normalises as tensors on the model's device: close, not bit-equal.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..allocator import keep_freed_memory
from ..models.preprocess import normalize, official_frames
from ..video import VideoError, open_video

PREPROCESS = ("official", "fast")


@dataclass(frozen=True)
class FrameSettings:
    """How frames are sampled and preprocessed: part of what an index records."""

    fps: float = 1.0
    preprocess: str = "official"
    resize: tuple[int, int] = (360, 640)
    crop: int = 224

    def __post_init__(self):
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if self.preprocess not in PREPROCESS:
            raise ValueError(f"preprocess must be one of {PREPROCESS}, got {self.preprocess!r}")
        if self.crop < 1 or self.crop > min(self.resize):
            raise ValueError(f"crop {self.crop} must fit in the resize {self.resize[0]}x{self.resize[1]}")


def parse_size(text: str) -> tuple[int, int]:
    """'360x640' -> (360, 640)."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"a size must look like 360x640, got {text!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"a size must be positive, got {text!r}")
    return h, w


def sample_times(duration: float, fps: float) -> np.ndarray:
    """k / fps for every k with k / fps < duration (the frames a 1 fps extraction keeps)."""
    return np.arange(max(0, math.ceil(duration * fps - 1e-9)), dtype=np.float64) / fps


def preprocessor(settings: FrameSettings, device) -> tuple[dict, Callable]:
    """(frames_at keyword arguments, function from the decoded uint8 batch to the model's input)."""
    if settings.preprocess == "official":
        return {}, lambda frames: official_frames(frames, settings.resize, settings.crop)
    h, w = settings.resize
    top, left = (h - settings.crop) // 2, (w - settings.crop) // 2

    def fast(frames):
        frames = frames.to(device, non_blocking=True)[..., top:top + settings.crop, left:left + settings.crop]
        return normalize(frames)

    return {"size": settings.resize}, fast


def weights_device(model) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    tensor = tensor if tensor is not None else next(iter(model.buffers()), torch.empty(0))
    return tensor.device


def _batches(reader, times: np.ndarray, batch_size: int, read_options: dict, prepare) -> Iterator[torch.Tensor]:
    def load(start):
        return prepare(reader.frames_at(times[start:start + batch_size], **read_options))

    starts = range(0, len(times), batch_size)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(load, starts[0]) if len(starts) else None
        for i in range(len(starts)):
            batch = pending.result()
            pending = pool.submit(load, starts[i + 1]) if i + 1 < len(starts) else None
            yield batch


@torch.no_grad()
def embed_video(model, path, settings: FrameSettings = FrameSettings(), *, batch_size: int = 64, device=None,
                amp_dtype: torch.dtype | None = None, threads: int = 1, backend: str = "auto",
                progress: Callable[[int], None] | None = None, on_open: Callable[[int], None] | None = None,
                normalize: bool = True):
    """(times (N,) seconds, float32 embeddings (N, d) on the CPU, L2-normalised unless `normalize=False`,
    duration) of the frames played at k / fps. `on_open(N)` is called once the frame count is known,
    `progress(n)` after each batch of n frames. Raises VideoError for a file that cannot be read as a video."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    keep_freed_memory()   # each batch's activations reuse mapped pages (allocator.py)
    device = torch.device(device) if device is not None else weights_device(model)
    read_options, prepare = preprocessor(settings, device)
    decode_on = device if settings.preprocess == "fast" and device.type == "cuda" else "cpu"
    with open_video(path, backend=backend, threads=threads, device=decode_on) as reader:
        duration = float(reader.metadata.duration)
        times = sample_times(duration, settings.fps)
        if len(times) == 0:
            raise VideoError(path, "has no frames to sample (zero duration)")
        if on_open is not None:
            on_open(len(times))
        out = []
        for batch in _batches(reader, times, batch_size, read_options, prepare):
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                embedding = model.encode_frames(batch.to(device, non_blocking=True))
            embedding = embedding.float()
            out.append((F.normalize(embedding, dim=-1) if normalize else embedding).cpu())
            if progress is not None:
                progress(len(batch))
    return times, torch.cat(out), duration
