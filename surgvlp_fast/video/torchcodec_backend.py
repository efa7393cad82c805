"""The torchcodec backend: torchcodec's VideoDecoder asked for our frame numbers.

torchcodec numbers frames in presentation order like our index (exact seek mode) and applies
the display rotation itself.
"""
import numpy as np
import torch

from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.reader import VideoReader


class TorchCodecReader(VideoReader):
    backend = "torchcodec"
    decoder_rotates = True

    def _open(self):
        from torchcodec.decoders import VideoDecoder

        try:
            return VideoDecoder(self.path, stream_index=self._index.stream_index, seek_mode="exact",
                                num_ffmpeg_threads=self.threads, device="cpu")
        except Exception as err:
            raise VideoError(self.path, f"torchcodec cannot open it ({err})") from None

    def _decode(self, handle, frames: np.ndarray) -> torch.Tensor:
        last = len(handle) - 1  # torchcodec's own count may differ on a truncated file
        try:
            batch = handle.get_frames_at(np.minimum(frames, last).tolist())
        except Exception as err:
            raise VideoError(self.path, f"torchcodec cannot decode frames ({err})") from None
        return batch.data.permute(0, 2, 3, 1)
