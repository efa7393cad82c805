"""The three pretraining levels of reference.md §2.4-2.6 over the video sampler.

Each dataset item is one lecture of a split; every access draws a random sub-sample of it from
`numpy.random.default_rng([seed, epoch, index])` (`epoch` set by the stream, pretrain/stream.py). Items are dicts with `video`
uint8 (T, 3, S, S) and the level's two text groups under the keys of `levels.LEVELS`, plus `pos_step`;
`collate.TextCollator` tokenises them.

`video_root` is the folder of the original lectures or of the training cache (same file names, or
`{video_id}.mp4`, or a `{video_id}/` folder of 1 fps frames); `video_backend` is passed to
`surgvlp_fast.video.open_video`.

The reference's quirks are fixed by default; each has the option that restores it:

| quirk (reference.md)                                    | option (fixed default -> reference)            |
|---------------------------------------------------------|------------------------------------------------|
| window times truncated to int after min_time expansion  | truncate_times=False -> True                   |
| clip seek drawn among integer seconds                   | (follows truncate_times)                       |
| Whisper candidates matched to the AWS sentence window   | candidate_window="clip" -> "sentence"          |
| overlap query = 3 concatenated masks, duplicates        | overlap_query="unique" -> "reference"          |
| clip frames `[::T//4][:4]`, biased to the start         | frame_pick="centered" -> "reference"           |
| keystep children: random.sample scrambles their order   | child_order="temporal" -> "random"             |
| keystep video window from the children (may invert or   | keystep_window="keystep" -> "children"         |
|   leave the keystep)                                    |                                                |
| video level: strided keystep subsample drops the tail   | step_subsample="even" -> "stride"              |
| keystep text: configs always read `text` (augmented)    | keystep_text="text" (also "step", "random")    |
| knowledge-augmented texts (PeskaVLP): abstract, anchor  | abstract_text="text" (also "original", "random"),|
|   narration                                             | narration_text="text" (also "pseudo_step", ...)|
"""
import os
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from ..video import ClipRequest, VideoError, decode_clips, open_video
from ..video.index import load_index
from . import recipes
from .levels import LEVELS, Level
from ..errors import CorruptVideoError, DataFormatError
from .text_sources import ALTERNATIVE_COLUMN, LectureTexts, TextTable, overlapping_rows, read_split, video_id_of

READER_CACHE = 16


def expand_min_time(start: float, end: float, min_time: float) -> tuple[float, float]:
    """The reference's expansion of a short window to `min_time` seconds, centred, not before 0."""
    if end - start < min_time:
        d = min_time - (end - start)
        start = max(0.0, start - d / 2)
        end = start + min_time
    return start, end


class LectureDataset(Dataset):
    """Shared part: the split, the texts (read once), the video readers, the seeded random draws."""

    level: Level

    def __init__(self, root: str, split: str, *, video_root: str | None = None, video_backend: str = "auto",
                 seed: int = 0, size: int = 336, center_crop: bool = False, random_flip: bool = True,
                 min_time: float = 4.0, truncate_times: bool = False, overlap_query: str = "unique",
                 decode_threads: int = 1):
        if overlap_query not in ("unique", "reference"):
            raise ValueError(f"overlap_query must be 'unique' or 'reference', got {overlap_query!r}")
        self.root, self.video_root = root, video_root or os.path.join(root, "videos")
        split_path = split if split.endswith(".csv") else os.path.join(root, "splits", f"{split}.csv")
        self.videos = read_split(split_path)
        if not self.videos:
            raise DataFormatError(split_path, "the split names no video")
        self.video_ids = [video_id_of(v) for v in self.videos]
        self.texts = LectureTexts(root, self.video_ids, self.level.sources)
        self.video_backend, self.seed, self.size = video_backend, seed, size
        self.center_crop, self.random_flip, self.min_time = center_crop, random_flip, min_time
        self.truncate_times, self.overlap_query = truncate_times, overlap_query
        self.decode_threads = decode_threads
        self.epoch = 0
        self._readers: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def video_path(self, i: int) -> str:
        for candidate in (self.videos[i], f"{self.video_ids[i]}.mp4", self.video_ids[i]):
            path = os.path.join(self.video_root, candidate)
            if os.path.exists(path):
                return path
        raise DataFormatError(os.path.join(self.video_root, self.videos[i]), "video not found (nor a cache entry)")

    def metadata(self, i: int):
        """Lecture i's VideoMetadata from its frame index, without opening a decoder (a folder of frames:
        from its reader)."""
        path = self.video_path(i)
        if os.path.isdir(path):
            return self.reader(i).metadata
        try:
            return load_index(path).metadata
        except VideoError as err:
            raise CorruptVideoError(path, getattr(err, "reason", str(err))) from err

    def reader(self, i: int):
        """An open reader of lecture i (kept in a small per-process LRU)."""
        if i in self._readers:
            self._readers.move_to_end(i)
            return self._readers[i]
        path = self.video_path(i)
        try:
            reader = open_video(path, backend=self.video_backend, threads=self.decode_threads)
        except VideoError as err:
            raise CorruptVideoError(path, getattr(err, "reason", str(err))) from err
        self._readers[i] = reader
        while len(self._readers) > READER_CACHE:
            self._readers.popitem(last=False)[1].close()
        return reader

    def __getitem__(self, index: int) -> dict:
        """Sample `index` of the current epoch. A lecture that cannot be opened or decoded raises
        CorruptVideoError naming the file; the stream (pretrain.stream) substitutes another sample."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        try:
            return self.sample(index, rng)
        except CorruptVideoError:
            raise
        except VideoError as err:  # a decode failure in the middle of a file
            raise CorruptVideoError(self.video_path(index), err.reason) from err

    def sample(self, i: int, rng: np.random.Generator) -> dict:
        """Sample i: its plan, and the clip decoded by lecture i's reader."""
        rest, request = self.plan(i, rng)
        return {"video": self.reader(i).frames_at(**request), **rest}

    def plan(self, i: int, rng: np.random.Generator) -> tuple[dict, dict]:
        """Every random draw of sample i, without decoding: (the sample's other fields, frames_at's
        arguments for lecture i's clip)."""
        raise NotImplementedError

    def samples(self, indices) -> list:
        """Samples `indices` of the current epoch, equal to [self[i] for i in indices], their clips
        decoded together (`decode_clips`: `decode_threads` threads, one decoder per clip in flight).
        A sample whose lecture cannot be opened or decoded is a CorruptVideoError in its place."""
        plans, requests, out = [], [], [None] * len(indices)
        for k, index in enumerate(indices):
            try:
                rest, request = self.plan(index, np.random.default_rng([self.seed, self.epoch, index]))
                plans.append((k, index, rest))
                requests.append(ClipRequest(self.video_path(index), **request))
            except CorruptVideoError as err:
                out[k] = err
            except VideoError as err:
                out[k] = CorruptVideoError(self.video_path(index), err.reason)
        clips = decode_clips(requests, threads=self.decode_threads, errors="return", backend=self.video_backend)
        for (k, index, rest), video in zip(plans, clips):
            out[k] = (CorruptVideoError(self.video_path(index), video.reason) if isinstance(video, VideoError)
                      else {"video": video, **rest})
        return out

    def _text_choice(self, option: str, choice: str, source: str) -> str:
        """Check a `*_text` option: "text", the source's alternative column, or "random" (one of the two
        per sample); every file of the source must have the column unless the choice is "text"."""
        column = ALTERNATIVE_COLUMN[source]
        if choice not in ("text", column, "random"):
            raise ValueError(f"{option} must be one of {('text', column, 'random')}, got {choice!r}")
        if choice != "text":
            for table in self.texts[source].values():
                if table.alternative is None:
                    raise DataFormatError(table.path, f"no {column!r} column, needed by {option}={choice}: "
                                                      f"run surgvlp-fast augment-texts or set {option}=text")
        return choice

    def _window(self, start: float, end: float) -> tuple[float, float]:
        start, end = expand_min_time(float(start), float(end), self.min_time)
        return (int(start), int(end)) if self.truncate_times else (start, end)

    def _overlap(self, table: TextTable, start: float, end: float) -> np.ndarray:
        return overlapping_rows(table, start, end, reference=self.overlap_query == "reference")



class ClipLevelDataset(LectureDataset):
    """Clip level (§2.4): an AWS sentence (anchor, `sents_0`, K=1), a random 3-5 s sub-clip of its
    (expanded) window at 2 fps with 4 frames kept, and `num_candidates` Whisper sentences overlapping
    the sub-clip (`sents_1`), padded with the AWS sentence."""

    level = LEVELS["clip"]

    def __init__(self, root, split=LEVELS["clip"].split, *, fps: float = 2.0, num_frames: int = 4, clip_min: int = 3,
                 clip_max: int = 5, num_candidates: int = 2, candidate_window: str = "clip",
                 frame_pick: str = "centered", narration_text: str = "text", **options):
        super().__init__(root, split, **options)
        self.narration_text = self._text_choice("narration_text", narration_text, "aws")
        if candidate_window not in ("clip", "sentence"):
            raise ValueError(f"candidate_window must be 'clip' or 'sentence', got {candidate_window!r}")
        self.fps, self.num_frames, self.clip_min, self.clip_max = fps, num_frames, clip_min, clip_max
        self.num_candidates, self.candidate_window, self.frame_pick = num_candidates, candidate_window, frame_pick
        for vid in self.video_ids:
            if len(self.texts["aws"][vid]) == 0:
                raise DataFormatError(self.texts["aws"][vid].path, "no narration row")

    def plan(self, i, rng):
        vid = self.video_ids[i]
        aws, whisper = self.texts["aws"][vid], self.texts["whisper"][vid]
        r = int(rng.integers(len(aws)))
        anchor = pick_texts(aws, rng, self.narration_text)[r]
        s, e = self._window(aws.start[r], aws.end[r])
        request, clip = recipes.clip_request(
            self.metadata(i), rng, s, e, clip_min=self.clip_min, clip_max=self.clip_max, fps=self.fps,
            num_frames=self.num_frames, size=self.size, center_crop=self.center_crop, random_flip=self.random_flip,
            frame_pick=self.frame_pick, integer_seek=self.truncate_times)
        window = (s, e) if self.candidate_window == "sentence" else clip
        rows = self._overlap(whisper, *window)
        candidates = [whisper.text[j] for j in rows[: self.num_candidates]]
        candidates += [anchor] * (self.num_candidates - len(candidates))
        return {self.level.first: [anchor], self.level.second: candidates}, request


class KeystepLevelDataset(LectureDataset):
    """Keystep level (§2.5): a keystep text (`sents_summarize`), `num_children` narrations
    overlapping it from both ASR sources (`sents_0`, padded with the keystep text, `pos_step` -1 on
    padding) and 16 frames over the keystep."""

    level = LEVELS["keystep"]

    def __init__(self, root, split=LEVELS["keystep"].split, *, num_children: int = 3, num_frames: int = 16,
                 keystep_text: str = "text", child_order: str = "temporal", keystep_window: str = "keystep",
                 **options):
        super().__init__(root, split, **options)
        keystep_text = self._text_choice("keystep_text", keystep_text, "keystep")
        if child_order not in ("temporal", "random") or keystep_window not in ("keystep", "children"):
            raise ValueError("child_order must be 'temporal' or 'random', keystep_window 'keystep' or 'children'")
        self.num_children, self.num_frames, self.keystep_text = num_children, num_frames, keystep_text
        self.child_order, self.keystep_window = child_order, keystep_window
        for vid in self.video_ids:
            if len(self.texts["keystep"][vid]) == 0:
                raise DataFormatError(self.texts["keystep"][vid].path, "no keystep row")

    def plan(self, i, rng):
        vid = self.video_ids[i]
        keysteps = self.texts["keystep"][vid]
        r = int(rng.integers(len(keysteps)))
        parent = pick_texts(keysteps, rng, self.keystep_text)[r]
        s, e = self._window(keysteps.start[r], keysteps.end[r])
        pool = []  # (text, start, end) from both ASR sources
        for source in ("aws", "whisper"):
            table = self.texts[source][vid]
            pool += [(table.text[j], table.start[j], table.end[j]) for j in self._overlap(table, s, e)]
        k = self.num_children
        if len(pool) > k:
            chosen = rng.choice(len(pool), size=k, replace=False)
            if self.child_order == "temporal":
                chosen = sorted(chosen, key=lambda j: (pool[j][1], pool[j][2], j))
            pool = [pool[j] for j in chosen]
        real = len(pool)
        pool += [(parent, s, e)] * (k - real)
        if self.keystep_window == "children":
            start, end = expand_min_time(float(pool[0][1]), float(pool[-1][2]), self.min_time)
        else:
            start, end = s, e
        meta = self.metadata(i)
        start, end = _inside(start, end, meta.duration)
        request = recipes.linspace_request(meta, rng, start, end, self.num_frames, size=self.size,
                                           center_crop=self.center_crop, random_flip=self.random_flip)
        pos_step = torch.tensor(list(range(real)) + [-1] * (k - real), dtype=torch.long)
        return {self.level.first: [parent], self.level.second: [p[0] for p in pool], "pos_step": pos_step}, request


class VideoLevelDataset(LectureDataset):
    """Video level (§2.6): the abstract (`sents_summarize`), `num_steps` keystep texts in temporal
    order (`sents_0`, padded with the last one, `pos_step` -1 on padding) and 64 frames over the
    keysteps' span."""

    level = LEVELS["video"]

    def __init__(self, root, split=LEVELS["video"].split, *, num_steps: int = 8, num_frames: int = 64,
                 keystep_text: str = "text", abstract_text: str = "text", step_subsample: str = "even", **options):
        super().__init__(root, split, **options)
        if step_subsample not in ("even", "stride"):
            raise ValueError(f"step_subsample must be 'even' or 'stride', got {step_subsample!r}")
        self.num_steps, self.num_frames = num_steps, num_frames
        self.keystep_text = self._text_choice("keystep_text", keystep_text, "keystep")
        self.abstract_text = self._text_choice("abstract_text", abstract_text, "abstract")
        self.step_subsample = step_subsample
        for vid in self.video_ids:
            for source in self.level.sources:
                if len(self.texts[source][vid]) == 0:
                    raise DataFormatError(self.texts[source][vid].path, f"no {source} row")

    def plan(self, i, rng):
        vid = self.video_ids[i]
        abstracts, keysteps = self.texts["abstract"][vid], self.texts["keystep"][vid]
        parent = pick_texts(abstracts, rng, self.abstract_text)[int(rng.integers(len(abstracts)))]
        texts = pick_texts(keysteps, rng, self.keystep_text)
        picked, pos = subsample_steps(len(keysteps), self.num_steps, self.step_subsample)
        start, end = expand_min_time(float(keysteps.start[picked[0]]), float(keysteps.end[picked[-1]]), self.min_time)
        meta = self.metadata(i)
        start, end = _inside(start, end, meta.duration)
        request = recipes.linspace_request(meta, rng, start, end, self.num_frames, size=self.size,
                                           center_crop=self.center_crop, random_flip=self.random_flip)
        return ({self.level.first: [parent], self.level.second: [texts[j] for j in picked],
                 "pos_step": torch.tensor(pos, dtype=torch.long)}, request)


def pick_texts(table: TextTable, rng, choice: str) -> tuple:
    """The texts to use: `text`, the alternative column, or one of the two at random per sample (the
    reference's `video_text_phase_aug` for keysteps). `choice` was checked by `_text_choice`."""
    if choice == "text":
        return table.text
    if choice == "random":
        return table.alternative if rng.uniform() < 0.5 else table.text
    return table.alternative


def subsample_steps(n: int, k: int, mode: str) -> tuple[list[int], list[int]]:
    """Indices of the `k` keysteps kept of `n`, and pos_step.

    n <= k: all, padded with the last (pos_step -1 on padding). n > k: "even" keeps k evenly spaced
    keysteps from the first to the last; "stride" is the reference's [0::n//k][:k], which drops the tail.
    """
    if n <= k:
        return list(range(n)) + [n - 1] * (k - n), list(range(n)) + [-1] * (k - n)
    if mode == "stride":
        picked = list(range(0, n, n // k))[:k]
    else:
        picked = np.round(np.linspace(0, n - 1, k)).astype(int).tolist()
    return picked, list(range(k))


def _inside(start: float, end: float, duration: float) -> tuple[float, float]:
    """Clamp a window into the video; keep at least a frame's worth of time."""
    end = min(end, duration)
    start = max(0.0, min(start, end - 1e-3))
    return start, max(end, start + 1e-3)


def dataset_for_level(level: str, root: str, **options) -> LectureDataset:
    """"clip" | "keystep" | "video" -> the level's dataset."""
    classes = {"clip": ClipLevelDataset, "keystep": KeystepLevelDataset, "video": VideoLevelDataset}
    if level not in classes:
        raise ValueError(f"level must be one of {sorted(classes)}, got {level!r}")
    return classes[level](root, **options)


def worker_init(_worker_id: int):
    """DataLoader worker_init_fn: one intra-op thread per worker (randomness needs no seeding here:
    samples are keyed by (seed, epoch, index))."""
    torch.set_num_threads(1)


__all__ = ["ClipLevelDataset", "KeystepLevelDataset", "VideoLevelDataset", "dataset_for_level", "expand_min_time",
           "subsample_steps", "pick_texts", "worker_init"]
