"""The PyAV backend: seek to the keyframe before each run of wanted frames, decode forward.

The same plan as the native sampler (csrc/sampler/decoder.cpp): frames are wanted in order; a
seek happens only when the next wanted frame lies beyond the next keyframe of the current
position; each wanted frame is the last decoded frame whose time stamp is <= its own (robust to
frames the decoder drops); only kept frames are converted to RGB.
"""
import numpy as np
import torch

from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.reader import VideoReader


class PyAVReader(VideoReader):
    backend = "pyav"
    decoded_frames = 0  # frames the decoder produced so far (to compare with the frames kept)

    def _open(self):
        import av

        try:
            container = av.open(self.path)
        except Exception as err:
            raise VideoError(self.path, f"cannot open as a video ({err})") from None
        stream = container.streams[self._index.stream_index]
        stream.thread_type = "AUTO" if self.threads > 1 else "SLICE"
        stream.codec_context.thread_count = self.threads
        return container, stream

    def _close(self, handle):
        handle[0].close()

    def _decode(self, handle, frames: np.ndarray) -> torch.Tensor:
        container, stream = handle
        index = self._index
        pts = index.pts
        targets = pts[frames]
        kept = [None] * len(frames)
        j = 0
        while j < len(frames):
            key = index.keyframe_before(int(frames[j]))
            try:
                container.seek(int(pts[key]), stream=stream, backward=True, any_frame=False)
            except Exception as err:
                raise VideoError(self.path, f"cannot seek ({err})") from None
            previous = None
            reseek = False
            try:
                for frame in container.decode(stream):
                    self.decoded_frames += 1
                    p = frame.pts if frame.pts is not None else frame.dts
                    if p is None:
                        continue
                    while j < len(frames) and p > targets[j]:
                        kept[j] = previous if previous is not None else frame
                        j += 1
                    while j < len(frames) and p == targets[j]:
                        kept[j] = frame
                        j += 1
                    if j == len(frames):
                        break
                    previous = frame
                    position = int(np.searchsorted(pts, p, side="right")) - 1
                    next_key = index.keyframe_before(int(frames[j]))
                    if next_key > key and next_key > position:  # a keyframe lies between: seek there
                        reseek = True
                        break
            except Exception as err:  # corrupt data past this point: keep what decoded
                if previous is None and j < len(frames):
                    raise VideoError(self.path, f"cannot decode frame {int(frames[j])} ({err})") from None
            if not reseek:
                while j < len(frames):  # end of stream: the last frame stays on screen
                    if previous is None:
                        raise VideoError(self.path, f"no frame decodes at or after frame {int(frames[j])}")
                    kept[j] = previous
                    j += 1
        converted = {}
        out = []
        for frame in kept:
            if id(frame) not in converted:
                converted[id(frame)] = torch.from_numpy(frame.to_ndarray(format="rgb24"))
            out.append(converted[id(frame)])
        return torch.stack(out)
