"""The audio track of a lecture, decoded with FFmpeg (PyAV) and resampled for speech recognition.

    from surgvlp_fast.video.audio import read_audio
    samples = read_audio("lecture.mp4")          # float32 (N,), mono, 16 kHz, in [-1, 1]

The first audio stream is decoded in-process; FFmpeg's resampler (swresample) mixes it down to
mono and converts it to `sample_rate`. Sample 0 is time 0 of the file: a stream that starts late
is padded with silence at the front, so times in the samples are times in the video.
"""
import numpy as np

from surgvlp_fast.video.errors import VideoError

SAMPLE_RATE = 16000


def read_audio(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """All of the first audio stream of `path` as float32 mono samples at `sample_rate`.

    Raises VideoError for a file that cannot be opened, has no audio stream or cannot be decoded."""
    import av

    path = str(path)
    try:
        container = av.open(path)
    except Exception as err:
        raise VideoError(path, f"cannot open ({err})") from None
    with container:
        if not container.streams.audio:
            raise VideoError(path, "has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks, first_time = [], None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = frame.time
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        except av.error.FFmpegError as err:
            raise VideoError(path, f"cannot decode its audio ({err})") from None
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    lead = int(round(max(first_time or 0.0, 0.0) * sample_rate))
    if lead:
        samples = np.concatenate([np.zeros(lead, np.float32), samples])
    return samples
