"""`Index`: every second of a video library embedded once, searchable by text.

An index is a folder: `embeddings.f16` (rows x d float16, raw, memory-mapped), `videos.i32` and
`times.f32` (each row's video and time: the table of (video, time)), and `index.json` (the model's
fingerprint, the frame settings, the videos with their rows). Adding videos appends rows and
rewrites index.json last, after each video: a killed run keeps the videos it finished, and
re-embeds none of them. A model whose weights differ from the recorded fingerprint is refused.

    index = surgvlp_fast.Index.create("library.index", model, checkpoint="PeskaVLP.zip")
    index.add(model, ["case1.mp4", "case2.mp4"])
    for m in surgvlp_fast.Index("library.index").search(model, tokenizer, "the clipper clips the duct", top=5):
        print(m.video, m.start, m.end, m.score)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .. import zeroshot
from ..models.modes import eval_mode
from ..video import VideoError
from .embed import FrameSettings, embed_video, weights_device
from .moments import Moment, approximate_scores, exact_top, merge_hits
from .predict import text_length

FORMAT = 1
FILES = {"embeddings": "embeddings.f16", "videos": "videos.i32", "times": "times.f32"}
DTYPES = {"embeddings": np.float16, "videos": np.int32, "times": np.float32}


class IndexMismatchError(ValueError):
    """The index and the model (or settings) do not belong together, or the folder is no index."""


def weights_fingerprint(model) -> str:
    """sha256 over the model's parameter and buffer names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:32]


class Index:
    """An index folder opened for search and appending (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self._columns: dict[str, np.ndarray] = {}
        meta_file = self.path / "index.json"
        if not meta_file.is_file():
            raise IndexMismatchError(f"{self.path}: not an index (no index.json); build one with `surgvlp-fast index`")
        try:
            self.meta = json.loads(meta_file.read_text())
            if self.meta.get("format") != FORMAT:
                raise ValueError(f"format {self.meta.get('format')!r}, expected {FORMAT}")
            self.settings = FrameSettings(**{**self.meta["settings"], "resize": tuple(self.meta["settings"]["resize"])})
        except (ValueError, KeyError, TypeError) as e:
            raise IndexMismatchError(f"{meta_file}: unreadable index ({e})") from None

    # --- creation and appending ----------------------------------------------------------------
    @classmethod
    def create(cls, path, model, settings: FrameSettings = FrameSettings(), checkpoint: str = "") -> "Index":
        """A new empty index for `model`'s embeddings (the folder must be empty or absent)."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FileExistsError(f"{path}: exists and is not an empty folder")
        meta = {"format": FORMAT, "fingerprint": weights_fingerprint(model),
                "checkpoint": os.path.abspath(checkpoint) if checkpoint else "", "dim": None,
                "settings": dataclasses.asdict(settings), "rows": 0, "videos": []}
        path.mkdir(parents=True, exist_ok=True)
        for name in FILES.values():
            (path / name).write_bytes(b"")
        _write_json(path / "index.json", meta)
        return cls(path)

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def videos(self) -> list[dict]:
        return list(self.meta["videos"])

    def check_model(self, model, fingerprint: str | None = None):
        """IndexMismatchError unless `model` has the weights the index was built with."""
        found = fingerprint or weights_fingerprint(model)
        if found != self.meta["fingerprint"]:
            built = f" ({self.meta['checkpoint']})" if self.meta.get("checkpoint") else ""
            raise IndexMismatchError(f"{self.path}: built with another model{built}: its embeddings and this model's "
                                     f"are not comparable (fingerprint {self.meta['fingerprint']}, this model {found})")

    def add(self, model, videos: Sequence[str], *, batch_size: int = 64, device=None, amp_dtype=None, threads: int = 1,
            echo: Callable[[str], None] = print, progress: Callable | None = None,
            on_open: Callable | None = None) -> dict:
        """Embed the videos not yet indexed and append them: {"added", "skipped", "failed": {video: reason}}."""
        self.check_model(model)
        known = {v["path"]: v for v in self.meta["videos"]}
        report = {"added": [], "skipped": [], "failed": {}}
        self._truncate_to_rows()
        with eval_mode(model):
            for video in videos:
                path = os.path.abspath(video)
                if path in known:
                    stat = os.stat(path) if os.path.exists(path) else None
                    recorded = (known[path]["size"], known[path]["mtime"])
                    if stat is not None and (stat.st_size, int(stat.st_mtime)) != recorded:
                        echo(f"{video}: changed since it was indexed; its old embeddings are kept (build a new index "
                             f"to index the new content)")
                    report["skipped"].append(video)
                    continue
                try:
                    if os.path.isdir(video):
                        raise VideoError(video, "is a folder, expected a video file")
                    times, features, duration = embed_video(model, video, self.settings, batch_size=batch_size,
                                                            device=device, amp_dtype=amp_dtype, threads=threads,
                                                            progress=progress, on_open=on_open)
                except (VideoError, OSError) as e:
                    report["failed"][video] = str(e) if str(video) in str(e) else f"{video}: {e}"
                    echo(f"failed: {report['failed'][video]}")
                    continue
                self._append(path, times, features, duration)
                known[path] = self.meta["videos"][-1]
                report["added"].append(video)
                echo(f"{video}: {len(times)} seconds indexed")
        return report

    def _truncate_to_rows(self):
        """Drop rows a killed run wrote after the last index.json."""
        for key, name in FILES.items():
            item = np.dtype(DTYPES[key]).itemsize * ((self.meta["dim"] or 0) if key == "embeddings" else 1)
            with open(self.path / name, "r+b") as f:
                f.truncate(self.rows * item)

    def _append(self, path: str, times: np.ndarray, features: torch.Tensor, duration: float):
        dim = features.shape[1]
        if self.meta["dim"] not in (None, dim):
            raise IndexMismatchError(f"{self.path}: embeddings of {dim} numbers, the index holds {self.meta['dim']}")
        number = len(self.meta["videos"])
        columns = {"embeddings": features.to(torch.float16).numpy(), "videos": np.full(len(times), number, np.int32),
                   "times": times.astype(np.float32)}
        for key, values in columns.items():
            with open(self.path / FILES[key], "ab") as f:
                f.write(np.ascontiguousarray(values, DTYPES[key]).tobytes())
                f.flush()
                os.fsync(f.fileno())
        stat = os.stat(path)
        self.meta["videos"].append({"path": path, "name": os.path.basename(path), "size": stat.st_size,
                                    "mtime": int(stat.st_mtime), "first": self.rows, "count": len(times),
                                    "duration": duration})
        self.meta.update(dim=dim, rows=self.rows + len(times))
        _write_json(self.path / "index.json", self.meta)

    # --- search --------------------------------------------------------------------------------
    def column(self, key: str) -> np.ndarray:
        """A memory map of one column (rows as recorded in index.json). Mapped once per row count: a new
        mapping starts with no pages in its table, and faulting 1.5 GB of them in costs a third of a query."""
        cached = self._columns.get(key)
        if cached is not None and len(cached) == self.rows:
            return cached
        if self.rows == 0:
            shape = (0, self.meta["dim"] or 0) if key == "embeddings" else (0,)
            return np.zeros(shape, DTYPES[key])
        shape = (self.rows, self.meta["dim"]) if key == "embeddings" else (self.rows,)
        # copy-on-write ("c"): torch wants writable arrays; nothing is ever written
        self._columns[key] = np.memmap(self.path / FILES[key], dtype=DTYPES[key], mode="c", shape=shape)
        return self._columns[key]

    def query_embedding(self, model, tokenizer, text: str, max_length: int | None = None) -> torch.Tensor:
        """(d,) float32 unit vector of a text; prompts separated by " | " are averaged."""
        groups = zeroshot.prompt_groups([text])
        if not groups[0]:
            raise ValueError("the search text is empty")
        device = weights_device(model)
        return zeroshot.encode_class_prompts(model, tokenizer, groups, max_length=max_length or text_length(model),
                                             device=device)[0]

    def search(self, model, tokenizer, text: str, top: int = 10, *, check: bool = True) -> list[Moment]:
        """The `top` best moments for `text` (adjacent hit seconds merged), best first."""
        if check:
            self.check_model(model)
        with eval_mode(model):
            query = self.query_embedding(model, tokenizer, text)
        return self.search_embedding(query, top)

    def search_embedding(self, query: torch.Tensor, top: int = 10) -> list[Moment]:
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        embeddings = self.column("embeddings")
        if len(embeddings) == 0:
            return []
        if query.shape != (embeddings.shape[1],):
            raise IndexMismatchError(f"{self.path}: a query of shape {tuple(query.shape)} "
                                     f"for {embeddings.shape[1]}-d rows")
        scores = approximate_scores(embeddings, query.float())
        videos, times = self.column("videos"), self.column("times")
        names = [v["path"] for v in self.meta["videos"]]
        durations = [v["duration"] for v in self.meta["videos"]]
        hits = max(4 * top, 32)
        while True:   # enough hit seconds for `top` moments once adjacent ones are merged
            rows, exact = exact_top(embeddings, query.float(), hits, scores)
            moments = merge_hits(rows, exact, videos, times, 1 / self.settings.fps, names, durations)
            if len(moments) >= top or hits >= len(embeddings):
                return moments[:top]
            hits *= 4


def _write_json(path: Path, value: dict):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)
