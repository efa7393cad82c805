"""Cross-modal retrieval (reference.md §6.3): text→video and video→text R@1/5/10 and median rank.

A segment (a clip, a phase or a whole video) is a few frames sampled uniformly from it (10 in
the paper) whose embeddings are mean-pooled, as the model pools clips, then L2-normalised; its
texts (one or more) are embedded and normalised. A text's correct candidate is its segment; a
segment's correct candidates are all of its texts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.modes import eval_mode
from ..zeroshot import encode_texts
from .metrics import retrieval_metrics


@dataclass
class RetrievalResult:
    """{level: {direction: {"R@1", "R@5", "R@10", "median_rank", "queries"}}} of `retrieval`."""

    name: str
    metrics: dict

    table_header: ClassVar[tuple[str, ...]] = ("protocol", "R@1", "R@5", "R@10", "median rank", "queries")

    def scalars(self, name: str) -> dict[str, float]:
        return {f"{name}/{level}_{direction}_{key}": value for level, directions in self.metrics.items()
                for direction, values in directions.items() for key, value in values.items() if key != "queries"}

    def table_rows(self, name: str) -> list[list]:
        return [[f"{name} {level} {direction.replace('_to_', '->')}", v["R@1"], v["R@5"], v["R@10"],
                 v["median_rank"], v["queries"]]
                for level, directions in self.metrics.items() for direction, v in directions.items()]

    def write_pictures(self, out_dir, name: str) -> dict:
        return {}


@dataclass
class Segment:
    frames: torch.Tensor  # (T, 3, H, W), transformed
    texts: list[str]


@torch.no_grad()
def embed_segments(model, segments: Sequence[Segment], *, device="cpu", batch_size: int = 64) -> torch.Tensor:
    """(S, d): mean of each segment's frame embeddings, L2-normalised."""
    out = []
    for start in range(0, len(segments), batch_size):
        chunk = segments[start:start + batch_size]
        frames = torch.cat([s.frames for s in chunk]).to(device)
        embedding = model.encode_frames(frames).float().cpu()
        sizes = [s.frames.shape[0] for s in chunk]
        out.extend(part.mean(0) for part in embedding.split(sizes))
    return F.normalize(torch.stack(out), dim=-1)


def retrieval(model, tokenizer, levels: dict[str, Sequence[Segment]], *, max_length: int = 77, device="cpu",
              ks=(1, 5, 10)) -> dict:
    """{level: {"text_to_video": metrics, "video_to_text": metrics}} for each level given."""
    with eval_mode(model):
        out = {}
        for level, segments in levels.items():
            if not segments:
                raise ValueError(f"retrieval level {level!r} has no segments")
            if any(not s.texts for s in segments):
                raise ValueError(f"retrieval level {level!r}: a segment without text")
            video = embed_segments(model, segments, device=device)
            texts = [t for s in segments for t in s.texts]
            text_ids = np.repeat(np.arange(len(segments)), [len(s.texts) for s in segments])
            text = encode_texts(model, tokenizer, texts, max_length=max_length, device=device)
            similarity = (text @ video.T).numpy()
            segment_ids = np.arange(len(segments))
            out[level] = {
                "text_to_video": retrieval_metrics(similarity, text_ids, segment_ids, ks),
                "video_to_text": retrieval_metrics(similarity.T, segment_ids, text_ids, ks),
            }
    return out
