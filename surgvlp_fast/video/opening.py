"""Opening a video: which backends are usable here, and a reader of a file or frames folder."""
import functools
import os

from surgvlp_fast.video.reader import VideoReader

BACKENDS = ("auto", "native", "torchcodec", "pyav", "frames")


@functools.cache
def _importable(name: str) -> bool:
    try:
        __import__(name)
    except Exception:  # a broken install may raise more than ImportError
        return False
    return True


def available_backends() -> list:
    """Backends usable here, in the order "auto" tries them (frames is always there)."""
    from surgvlp_fast._native import native_submodule

    found = []
    if native_submodule("sampler") is not None:
        found.append("native")
    if _importable("torchcodec.decoders"):
        found.append("torchcodec")
    if _importable("av"):
        found.append("pyav")
    return found + ["frames"]


def open_video(path, backend: str = "auto", threads: int = 1, device="cpu", **options) -> VideoReader:
    """A reader of `path` (a video file, or a folder / prefix of frames for backend "frames").

    threads: decoding threads; device: "cpu", or "cuda" for NVDEC (native backend, falls back to
    the CPU decoder when the GPU or codec is unsupported). Raises VideoError for a file that is
    missing, empty, not a video, or without a decodable video stream.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = os.fspath(path)
    if backend == "frames" or (backend == "auto" and os.path.isdir(path)):
        from surgvlp_fast.video.frames_backend import FramesReader

        return FramesReader(path, threads=threads, device=device, **options)
    usable = available_backends()
    if backend == "auto":
        backend = usable[0]
    elif backend not in usable:
        raise ValueError(f"video backend {backend!r} is not available here (available: {', '.join(usable)})")
    from surgvlp_fast.video.index import load_index

    index = load_index(path)
    if backend == "native":
        from surgvlp_fast.video.native_backend import NativeReader as cls
    elif backend == "torchcodec":
        from surgvlp_fast.video.torchcodec_backend import TorchCodecReader as cls
    else:
        from surgvlp_fast.video.pyav_backend import PyAVReader as cls
    return cls(path, index, threads=threads, device=device, **options)
