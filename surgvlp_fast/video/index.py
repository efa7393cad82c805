"""The frame index of a video: presentation time stamps and keyframes of its video stream.

Built once per file by demuxing (no decoding) and cached on disk, so readers know every frame's
time without scanning, seek once per clip to the keyframe before the first frame wanted, and map
"the frame played at t" to a frame number the same way in every backend.

Cache: a sidecar `<video>.index.npz` (written by `prepare-videos`) is used when present and
fresh; otherwise `$SURGVLP_FAST_VIDEO_INDEX_DIR` (default `~/.cache/surgvlp_fast/video_index`).
An entry is fresh when the file's size and modification time match the recorded ones.
"""
import hashlib
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from surgvlp_fast._native import native_submodule
from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.metadata import VideoMetadata

INDEX_VERSION = 1


@dataclass
class VideoIndex:
    pts: np.ndarray          # int64, sorted: presentation time stamps in time_base units
    keyframe: np.ndarray     # bool, same length
    time_base: tuple         # (num, den)
    last_duration: int       # duration of the last frame, time_base units
    width: int               # as stored (before rotation)
    height: int
    rotation: float          # display-matrix rotation, degrees counter-clockwise
    codec: str
    stream_index: int
    file_size: int = 0
    file_mtime_ns: int = 0

    @property
    def quarter_turns(self) -> int:
        """Rotation applied to returned frames, in counter-clockwise quarter turns."""
        return int(round(self.rotation / 90.0)) % 4

    @property
    def metadata(self) -> VideoMetadata:
        tb = self.time_base[0] / self.time_base[1]
        duration = float(self.pts[-1] - self.pts[0] + self.last_duration) * tb
        turned = self.quarter_turns % 2 == 1
        return VideoMetadata(
            duration=duration, fps=len(self.pts) / duration if duration > 0 else 0.0,
            num_frames=len(self.pts),
            width=self.height if turned else self.width, height=self.width if turned else self.height,
            rotation=float(self.rotation), codec=self.codec)

    def frames_played_at(self, timestamps) -> np.ndarray:
        """Frame numbers played at `timestamps` (seconds from the first frame's start).

        The frame played at t is the last one whose start is <= t; t is rounded to the stream's
        time base first (as torchcodec does). Times before 0 give the first frame and times past
        the end the last one (clamping, documented).
        """
        t = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"timestamps must be finite, got {t[~np.isfinite(t)][:3].tolist()}")
        num, den = self.time_base
        target = self.pts[0] + np.rint(t * den / num).astype(np.int64)
        idx = np.searchsorted(self.pts, target, side="right") - 1
        return np.clip(idx, 0, len(self.pts) - 1)

    def keyframe_before(self, frame: int) -> int:
        """Number of the last keyframe at or before `frame` (0 when there is none)."""
        if getattr(self, "_keyframe_numbers", None) is None:
            self._keyframe_numbers = np.flatnonzero(self.keyframe)
        at = int(np.searchsorted(self._keyframe_numbers, frame, side="right")) - 1
        return int(self._keyframe_numbers[at]) if at >= 0 else 0

    def to_arrays(self) -> dict:
        return {
            "version": np.int64(INDEX_VERSION), "pts": self.pts, "keyframe": self.keyframe,
            "time_base": np.asarray(self.time_base, np.int64),
            "last_duration": np.int64(self.last_duration),
            "size": np.asarray([self.width, self.height], np.int64), "rotation": np.float64(self.rotation),
            "codec": np.str_(self.codec), "stream_index": np.int64(self.stream_index),
            "source": np.asarray([self.file_size, self.file_mtime_ns], np.int64)}

    @classmethod
    def from_arrays(cls, a) -> "VideoIndex":
        return cls(pts=a["pts"].astype(np.int64), keyframe=a["keyframe"].astype(bool),
                   time_base=tuple(int(v) for v in a["time_base"]), last_duration=int(a["last_duration"]),
                   width=int(a["size"][0]), height=int(a["size"][1]), rotation=float(a["rotation"]),
                   codec=str(a["codec"]), stream_index=int(a["stream_index"]),
                   file_size=int(a["source"][0]), file_mtime_ns=int(a["source"][1]))


def _finish(path, pts, keyframe, durations, **fields) -> VideoIndex:
    if len(pts) == 0:
        raise VideoError(path, "the video stream has no frames")
    order = np.argsort(pts, kind="stable")
    pts = np.asarray(pts, np.int64)[order]
    keep = np.ones(len(pts), bool)
    keep[1:] = pts[1:] != pts[:-1]  # duplicate time stamps: keep the first
    pts, keyframe = pts[keep], np.asarray(keyframe).astype(bool)[order][keep]
    last = int(np.asarray(durations, np.int64)[order][keep][-1])
    if last <= 0:
        last = int(np.median(np.diff(pts))) if len(pts) > 1 else 1
    if not keyframe.any():
        keyframe[0] = True
    fields["rotation"] = float(fields["rotation"]) % 360.0
    return VideoIndex(pts=pts, keyframe=keyframe, last_duration=max(last, 1), **fields)


def scan_pyav(path: str) -> VideoIndex:
    """Demux the video stream with PyAV, reading packet times and key flags (no decoding)."""
    import av

    try:
        container = av.open(path)
    except Exception as err:  # av raises many FFmpegError subclasses and OSError
        raise VideoError(path, f"cannot open as a video ({err})") from None
    with container:
        if not container.streams.video:
            raise VideoError(path, "has no video stream")
        stream = container.streams.best("video")
        pts, keyframe, durations = [], [], []
        try:
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or ts is None or packet.is_discard:
                    continue
                pts.append(ts)
                keyframe.append(packet.is_keyframe)
                durations.append(packet.duration or 0)
        except Exception:
            pass  # a truncated or corrupt tail: keep the frames before it
        if not pts:
            raise VideoError(path, "the video stream has no frames")
        ctx = stream.codec_context
        try:  # the display matrix reaches PyAV on frames only; decoding one also proves the stream
            container.seek(0, stream=stream)
            first = next(container.decode(stream))
        except Exception as err:
            raise VideoError(path, f"cannot decode the video stream ({err})") from None
        return _finish(path, pts, keyframe, durations,
                       time_base=(stream.time_base.numerator, stream.time_base.denominator),
                       width=ctx.width, height=ctx.height, rotation=float(first.rotation or 0.0),
                       codec=ctx.codec.canonical_name, stream_index=stream.index)


def scan_native(path: str) -> VideoIndex:
    """Demux the video stream with the native sampler (same fields as scan_pyav)."""
    sampler = native_submodule("sampler")
    try:
        raw = sampler.scan(path)
    except RuntimeError as err:
        raise VideoError(path, str(err)) from None
    return _finish(path, raw["pts"].numpy(), raw["keyframe"].numpy(), raw["duration"].numpy(),
                   time_base=tuple(raw["time_base"]), width=raw["width"], height=raw["height"],
                   rotation=raw["rotation"], codec=raw["codec"], stream_index=raw["stream_index"])


def _cache_path(path: str) -> str:
    root = os.environ.get("SURGVLP_FAST_VIDEO_INDEX_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "surgvlp_fast", "video_index")
    key = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]
    return os.path.join(root, f"{os.path.basename(path)}.{key}.npz")


def sidecar_path(path: str) -> str:
    return f"{path}.index.npz"


def _load(path: str, cache: str, stat) -> VideoIndex | None:
    """The cached index when it reads, has this layout, is consistent and matches the file; else
    None (the caller rescans and rewrites it): a truncated, older or foreign cache is never an error."""
    try:
        with np.load(cache) as arrays:   # allow_pickle=False: object arrays are refused
            if int(arrays["version"]) != INDEX_VERSION:
                return None
            index = VideoIndex.from_arrays(arrays)
    except Exception:  # missing, cut short, another layout or a foreign file: rebuild it
        return None
    fresh = (index.file_size, index.file_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    return index if fresh and _consistent(index) else None


def _consistent(index: VideoIndex) -> bool:
    pts = index.pts
    return (pts.ndim == 1 and len(pts) > 0 and index.keyframe.shape == pts.shape and bool(index.keyframe.any())
            and bool(np.all(pts[1:] > pts[:-1])) and index.time_base[0] > 0 and index.time_base[1] > 0
            and index.last_duration > 0 and index.width > 0 and index.height > 0)


def publish(tmp: str, final: str) -> None:
    """Give a finished temporary file the usual permissions and move it into place atomically."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, final)


def save_index(index: VideoIndex, cache: str) -> None:
    """Write atomically (a temporary file renamed), so concurrent workers never read half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(cache)), suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **index.to_arrays())
        publish(tmp, cache)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def scan(path: str) -> VideoIndex:
    """Build the index, with the native sampler when it is built, else PyAV."""
    return scan_native(path) if native_submodule("sampler") is not None else scan_pyav(path)


# Indexes loaded by this process, newest last: {(path, size, mtime_ns): VideoIndex}. A training pass
# asks for the same lectures' indexes again and again (a clip's plan, its decoding, each worker the
# passes fork); reading the .npz each time cost half of a clip worker's time. Bounded by frames held.
_LOADED: OrderedDict = OrderedDict()
_LOADED_FRAMES = [0]      # frames held by _LOADED (a running total: summing at each insert is quadratic)
LOADED_FRAMES = 1 << 22   # at most about 40 MB of pts and keyframe flags


def forget_loaded_indexes() -> None:
    """Empty this process's memory of loaded indexes (the next load_index reads the disk cache again)."""
    _LOADED.clear()
    _LOADED_FRAMES[0] = 0


def load_index(path, *, use_cache: bool = True) -> VideoIndex:
    """The index of `path`: from this process's memory, the sidecar or the cache when fresh, else
    scanned (and cached). The returned index may be shared with other callers: never modify it."""
    path = os.fspath(path)
    try:
        stat = os.stat(path)
    except OSError as err:
        raise VideoError(path, f"cannot read ({err.strerror})") from None
    if not os.path.isfile(path):
        raise VideoError(path, "is not a file")
    if stat.st_size == 0:
        raise VideoError(path, "is empty (0 bytes)")
    key = (path, stat.st_size, stat.st_mtime_ns)
    if use_cache and key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    index = _load_or_scan(path, stat, use_cache)
    if use_cache:
        _LOADED[key] = index
        _LOADED_FRAMES[0] += len(index.pts)
        while _LOADED_FRAMES[0] > LOADED_FRAMES and len(_LOADED) > 1:
            _LOADED_FRAMES[0] -= len(_LOADED.popitem(last=False)[1].pts)
    return index


def _load_or_scan(path: str, stat, use_cache: bool) -> VideoIndex:
    cache = _cache_path(path)
    if use_cache:
        for candidate in (sidecar_path(path), cache):
            index = _load(path, candidate, stat)
            if index is not None:
                return index
    index = scan(path)
    index.file_size, index.file_mtime_ns = stat.st_size, stat.st_mtime_ns
    if use_cache:
        try:
            save_index(index, cache)
        except OSError:
            pass  # a read-only cache only costs a rescan next time
    return index
