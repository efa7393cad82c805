"""The native backend: the C++ sampler on FFmpeg (csrc/sampler), NVDEC with device="cuda".

CPU: the C++ decoder returns the kept frames as RGB24 at stored size (GIL released), and the
shared pipeline (pipeline.py) rotates, crops and resizes them: the same pixels as every backend.
CUDA: NVDEC decodes, and one kernel converts NV12 to RGB, crops and resizes (bilinear with
antialias, the same filter as the CPU pipeline up to rounding: within 2 levels of it, tested on
a GPU). When FFmpeg has no CUDA hwaccel for the codec or no GPU is usable, the reader decodes
on the CPU and moves the frames to the GPU (`reader.gpu_status` says which).
"""
import numpy as np
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.pipeline import arrange, check_request, finish_frames
from surgvlp_fast.video.reader import VideoReader


def displayed_to_stored(crop, size, turns, width, height):
    """Map a crop (x, y, w, h) and size (H, W) on the displayed frame (the stored width x height
    frame turned `turns` quarter turns counter-clockwise) to the stored frame."""
    turns %= 4
    shown_w, shown_h = (height, width) if turns % 2 else (width, height)
    x, y, w, h = crop if crop is not None else (0, 0, shown_w, shown_h)
    out_h, out_w = size if size is not None else (h, w)
    for m in range(turns, 0, -1):  # undo one quarter turn at a time
        previous_width = width if (m - 1) % 2 == 0 else height
        x, y, w, h = previous_width - y - h, x, h, w
        out_h, out_w = out_w, out_h
    return (x, y, w, h), (out_h, out_w)


class NativeReader(VideoReader):
    backend = "native"

    def _open(self):
        sampler = native_submodule("sampler")
        if sampler is None:
            raise VideoError(self.path, "the native sampler is not built or is switched off")
        device = (self.device.index or 0) if self.device.type == "cuda" else -1
        try:
            return sampler.Reader(self.path, self._index.stream_index, torch.from_numpy(self._index.pts),
                                  torch.from_numpy(self._index.keyframe.astype(np.uint8)), self.threads, device)
        except RuntimeError as err:
            raise VideoError(self.path, str(err)) from None

    @property
    def gpu_status(self) -> str:
        self._check_process()
        with self._lock:
            return self._current_handle().gpu_status

    @property
    def decoded_frames(self) -> int:
        """Frames the decoder produced so far (to compare with the frames kept)."""
        return self._handle.decoded_frames if self._handle is not None else 0

    def _decode(self, handle, frames: np.ndarray) -> torch.Tensor:
        try:
            return handle.decode(torch.from_numpy(frames.astype(np.int64)))
        except RuntimeError as err:
            raise VideoError(self.path, str(err)) from None

    def frames_at(self, timestamps, *, crop=None, size=None, flip=False, layout="TCHW") -> torch.Tensor:
        if self.device.type != "cuda":
            return super().frames_at(timestamps, crop=crop, size=size, flip=flip, layout=layout)
        crop, size = check_request(self.metadata, crop, size, layout)
        wanted = self.frame_numbers(timestamps)
        unique, inverse = np.unique(wanted, return_inverse=True)
        self._check_process()
        with self._lock:
            handle = self._current_handle()
            if not handle.on_gpu:  # CPU fallback, frames moved to the GPU
                frames = finish_frames(self._decode(handle, unique), self._index.quarter_turns, crop, size)
            else:
                turns = self._index.quarter_turns
                (x, y, w, h), (out_h, out_w) = displayed_to_stored(
                    crop, size, turns, self._index.width, self._index.height)
                try:
                    frames = handle.decode_cuda(torch.from_numpy(unique.astype(np.int64)), x, y, w, h, out_h, out_w)
                except RuntimeError as err:
                    raise VideoError(self.path, str(err)) from None
                if turns:
                    frames = torch.rot90(frames, turns, dims=(1, 2))
        order = torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(self.device)
        frames = frames.to(self.device).index_select(0, order)
        return arrange(frames, flip, layout)
