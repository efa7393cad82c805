"""VideoReader: the backend-independent face of every reader.

A reader knows its file's frame index (metadata and frame times, cached on disk) from the
start, but opens the decoder lazily, in the process that decodes: a reader built in the main
process and handed to DataLoader workers (fork or spawn) opens its own decoder in each worker
and never touches one inherited across a fork. Calls on one reader are serialised by a lock,
so a reader may be shared between threads; the decoding itself runs without the GIL in the
native backend (and inside PyAV / torchcodec's C code in theirs).
"""
import os
import threading

import numpy as np
import torch

from surgvlp_fast.video.pipeline import arrange, check_request, finish_frames


class VideoReader:
    """Base class. Subclasses set `backend` and implement `_open()` and `_decode(handle, frames)`.

    `_decode` gets sorted unique frame numbers and returns their RGB24 pixels as a uint8
    (N, H, W, 3) tensor: as stored, or already rotated when `decoder_rotates` is True.
    """

    backend = "?"
    decoder_rotates = False

    def __init__(self, path, index, *, threads: int = 1, device="cpu"):
        self.path = os.fspath(path)
        self.threads = max(1, int(threads))
        self.device = torch.device(device)
        self._index = index
        self._handle = None
        self._pid = None
        self._lock = threading.Lock()
        self._abandoned = []  # decoders inherited across a fork: never freed in the child

    @property
    def metadata(self):
        return self._index.metadata

    @property
    def index(self):
        return self._index

    # --- process and thread safety -------------------------------------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_handle=None, _pid=None, _lock=None, _abandoned=[])
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _current_handle(self):
        if self._handle is None:
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    def _check_process(self):
        if self._pid is not None and self._pid != os.getpid():
            # Forked child: the parent's decoder (and its threads) are not ours to use or free.
            self._abandoned.append(self._handle)
            self._handle, self._pid = None, None
            self._lock = threading.Lock()

    def close(self):
        self._check_process()
        with self._lock:
            handle, self._handle, self._pid = self._handle, None, None
            if handle is not None:
                self._close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        m = self.metadata
        return (f"{type(self).__name__}({self.path!r}, {m.width}x{m.height}, {m.num_frames} frames, "
                f"{m.duration:.3f} s, threads={self.threads}, device={self.device})")

    # --- backend hooks -------------------------------------------------------------------------
    def _open(self):
        raise NotImplementedError

    def _close(self, handle):
        pass

    def _decode(self, handle, frames: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    # --- the API -------------------------------------------------------------------------------
    def frame_numbers(self, timestamps) -> np.ndarray:
        """Numbers of the frames played at `timestamps` (see VideoIndex.frames_played_at)."""
        return self._index.frames_played_at(timestamps)

    def frames_at(self, timestamps, *, crop=None, size=None, flip=False, layout="TCHW") -> torch.Tensor:
        """uint8 frames played at `timestamps` (seconds from the first frame; clamped to the video).

        crop: (x, y, w, h) in displayed source pixels; size: int or (H, W) after the crop;
        flip: mirror horizontally; layout: "TCHW" or "THWC".
        """
        crop, size = check_request(self.metadata, crop, size, layout)
        wanted = self.frame_numbers(timestamps)
        unique, inverse = np.unique(wanted, return_inverse=True)
        frames = self._decode_numbers(unique)
        turns = 0 if self.decoder_rotates else self._index.quarter_turns
        frames = finish_frames(frames, turns, crop, size)
        frames = frames.index_select(0, torch.from_numpy(inverse.reshape(-1).astype(np.int64)))
        frames = arrange(frames, flip, layout)
        return frames if frames.device == self.device else frames.to(self.device)

    def frames_in_range(self, start, end, fps, **options) -> torch.Tensor:
        """Frames at start + k / fps for every k with start + k / fps < end (at least one)."""
        return self.frames_at(range_timestamps(start, end, fps), **options)

    def _decode_numbers(self, unique: np.ndarray) -> torch.Tensor:
        if len(unique) == 0:
            m = self._index
            return torch.empty((0, m.height, m.width, 3), dtype=torch.uint8)
        self._check_process()
        with self._lock:
            return self._decode(self._current_handle(), unique)


def range_timestamps(start, end, fps) -> np.ndarray:
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    count = max(1, int(np.ceil((float(end) - float(start)) * fps - 1e-9)))
    return float(start) + np.arange(count, dtype=np.float64) / fps
