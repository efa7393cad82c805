"""Decoding a batch of clips at once: `decode_clips(requests, threads=...)`.

One clip's frames hang on one reference chain, so threads inside one clip gain little; a batch of
clips (of one video or many) decodes in parallel instead: the native sampler runs one decoder per
clip in flight on `threads` threads (GIL released), and the shared pipeline (pipeline.py) then
crops, resizes and flips each clip exactly as `open_video(path).frames_at(...)` does (on `threads`
Python threads: torch's resize releases the GIL), so every clip is bit for bit what the reader
returns. Without the native sampler (not built, or SURGVLP_FAST_DISABLE_NATIVE=1) the clips go
through the readers one at a time: the same results.

Errors stay per clip: a missing or corrupt file, or a crop that does not fit, fails its own clip
only. `errors="raise"` (default) raises ClipBatchError after the whole batch, naming every failed
clip's file; `errors="return"` puts the exception in the failed clip's place.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.allocator import keep_freed_memory
from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.pipeline import LAYOUTS, arrange, check_request, finish_frames

ERROR_MODES = ("raise", "return")


@dataclass(frozen=True)
class ClipRequest:
    """One clip: the frames of `path` played at `timestamps` with frames_at's options."""

    path: str
    timestamps: Sequence[float]
    crop: Optional[tuple] = None
    size: Union[int, tuple, None] = None
    flip: bool = False
    layout: str = "TCHW"


class ClipBatchError(RuntimeError):
    """Some clips of a batch failed. `failures`: [(clip position, exception)]; `results`: the
    batch's results with the exception in each failed clip's place."""

    def __init__(self, failures, results=None):
        self.failures = list(failures)
        self.results = results
        lines = [f"clip {i}: {err}" for i, err in self.failures]
        super().__init__(f"{len(self.failures)} clip(s) of the batch failed:\n  " + "\n  ".join(lines))

    def __reduce__(self):  # picklable across DataLoader workers
        return type(self), (self.failures, self.results)


def _as_request(item, position) -> ClipRequest:
    if isinstance(item, ClipRequest):
        request = item
    elif isinstance(item, dict):
        unknown = set(item) - set(ClipRequest.__dataclass_fields__)
        if unknown:
            raise ValueError(f"clip {position}: unknown option(s) {sorted(unknown)}")
        try:
            request = ClipRequest(**item)
        except TypeError as err:
            raise ValueError(f"clip {position}: {err}") from None
    else:
        raise TypeError(f"clip {position} must be a ClipRequest or a dict, got {type(item).__name__}")
    if not isinstance(request.path, (str, os.PathLike)):
        raise TypeError(f"clip {position}: path must be a str or path, got {type(request.path).__name__}")
    if request.layout not in LAYOUTS:
        raise ValueError(f"clip {position}: layout must be one of {LAYOUTS}, got {request.layout!r}")
    return request


def decode_clips(requests, *, threads: int = 1, errors: str = "raise", backend: str = "auto") -> list:
    """uint8 clips, in input order: clip i is `open_video(path).frames_at(timestamps, crop=...,
    size=..., flip=..., layout=...)` of request i (a ClipRequest or a dict of its fields).

    threads: clips decoded at once (native sampler: one decoder per clip in flight); backend:
    "auto" uses the native sampler when it is usable, else the readers one clip at a time;
    "native" requires the sampler; any other backend name of open_video reads clip by clip.
    """
    if errors not in ERROR_MODES:
        raise ValueError(f"errors must be one of {ERROR_MODES}, got {errors!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    requests = [_as_request(item, i) for i, item in enumerate(requests)]
    keep_freed_memory()   # each batch's frames reuse mapped pages; threads faulting them in contend (allocator.py)
    sampler = native_submodule("sampler") if backend in ("auto", "native") else None
    if backend == "native" and sampler is None:
        raise ValueError("video backend 'native' is not available here (not built or switched off)")
    if sampler is None:
        results = _decode_one_by_one(requests, backend)
    else:  # a folder of frames is no video file: its clips go through its reader
        folders = [i for i, r in enumerate(requests) if os.path.isdir(r.path)]
        results = _decode_native(sampler, [r for r in requests if not os.path.isdir(r.path)], threads)
        for i, result in zip(folders, _decode_one_by_one([requests[i] for i in folders], "frames")):
            results.insert(i, result)
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]
    if failures and errors == "raise":
        raise ClipBatchError(failures, results)
    return results


def _decode_one_by_one(requests, backend) -> list:
    """The fallback: every clip through its file's reader (opened once per file), in order."""
    from surgvlp_fast.video.opening import open_video

    readers, results = {}, []
    try:
        for r in requests:
            path = os.fspath(r.path)
            try:
                if path not in readers:
                    try:
                        readers[path] = open_video(path, backend=backend)
                    except VideoError as err:
                        readers[path] = err
                reader = readers[path]
                if isinstance(reader, Exception):
                    raise reader
                results.append(reader.frames_at(r.timestamps, crop=r.crop, size=r.size, flip=r.flip,
                                                layout=r.layout))
            except (VideoError, ValueError) as err:
                results.append(err if isinstance(err, VideoError) else VideoError(path, str(err)))
    finally:
        for reader in readers.values():
            if not isinstance(reader, Exception):
                reader.close()
    return results


def _decode_native(sampler, requests, threads) -> list:
    from surgvlp_fast.video.index import load_index

    results = [None] * len(requests)
    indexes, video_ids, videos, clips, plans = {}, {}, [], [], []
    for i, r in enumerate(requests):
        path = os.fspath(r.path)
        try:
            if path not in indexes:
                try:
                    indexes[path] = load_index(path)
                except VideoError as err:
                    indexes[path] = err
            index = indexes[path]
            if isinstance(index, Exception):
                raise index
            crop, size = check_request(index.metadata, r.crop, r.size, r.layout)
            unique, inverse = np.unique(index.frames_played_at(r.timestamps), return_inverse=True)
        except (VideoError, ValueError) as err:
            results[i] = err if isinstance(err, VideoError) else VideoError(path, str(err))
            continue
        if len(unique) == 0:  # no frames wanted: nothing to open (as a reader)
            empty = torch.empty((0, index.height, index.width, 3), dtype=torch.uint8)
            results[i] = arrange(finish_frames(empty, index.quarter_turns, crop, size), r.flip, r.layout)
            continue
        if path not in video_ids:
            video_ids[path] = len(videos)
            videos.append((path, index.stream_index, torch.from_numpy(index.pts),
                           torch.from_numpy(index.keyframe.astype(np.uint8))))
        clips.append((video_ids[path], torch.from_numpy(unique.astype(np.int64))))
        plans.append((i, path, index, crop, size, inverse))
    decoded = sampler.decode_clips(videos, clips, threads) if clips else []

    def finish(job):  # the reader's steps after decoding (reader.py: frames_at)
        (i, path, index, crop, size, inverse), (frames, error) = job
        if error is not None:
            return i, VideoError(path, error)
        frames = finish_frames(frames, index.quarter_turns, crop, size)
        frames = frames.index_select(0, torch.from_numpy(inverse.reshape(-1).astype(np.int64)))
        return i, arrange(frames, requests[i].flip, requests[i].layout)

    jobs = list(zip(plans, decoded))
    if threads > 1 and len(jobs) > 1:  # torch's resize releases the GIL: the clips finish in parallel too
        with ThreadPoolExecutor(min(threads, len(jobs))) as pool:
            finished = list(pool.map(finish, jobs))
    else:
        finished = map(finish, jobs)
    for i, result in finished:
        results[i] = result
    return results
