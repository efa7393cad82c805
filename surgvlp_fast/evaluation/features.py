"""Frozen features for evaluation: frames and prompts through the dual encoder, L2-normalised.

The model contract (docs/architecture.md): `encode_frames((N,3,H,W)) -> (N,d)` and
`encode_text({input_ids, attention_mask, token_type_ids} of (N,L)) -> (N,d)`.
A tokenizer is any callable with the Hugging Face signature
`tokenizer(texts, padding="max_length", truncation=True, max_length=L, return_tensors="pt")`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..collectives import check_peers
from .downstream import DownstreamVideo


def preload(video: DownstreamVideo) -> DownstreamVideo:
    """The video with its transformed frames read once and held in memory."""
    frames = torch.stack([video.frames[i] for i in range(len(video.frames))])
    return DownstreamVideo(video.video_id, TensorFrames(frames), video.labels)


class TensorFrames(Dataset):
    def __init__(self, frames: torch.Tensor):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i]


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    tokens = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                       return_tensors="pt")
    return {key: tokens[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in tokens}


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], *, max_length: int = 77, device="cpu",
                 batch_size: int = 256) -> torch.Tensor:
    """(N, d) L2-normalised text embeddings, in float32 on the CPU."""
    out = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenize(tokenizer, texts[start:start + batch_size], max_length)
        tokens = {k: v.to(device) for k, v in tokens.items()}
        out.append(F.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
    return torch.cat(out)


def encode_class_prompts(model, tokenizer, prompts: Sequence[Sequence[str] | str], **kwargs) -> torch.Tensor:
    """(C, d) class embeddings: each class's prompts encoded, normalised, averaged, re-normalised.

    With one prompt per class (the reference protocol) this is that prompt's embedding.
    """
    groups = [[p] if isinstance(p, str) else list(p) for p in prompts]
    if any(len(g) == 0 for g in groups):
        raise ValueError("every class needs at least one prompt")
    flat = encode_texts(model, tokenizer, [p for g in groups for p in g], **kwargs)
    sizes = [len(g) for g in groups]
    return F.normalize(torch.stack([chunk.mean(0) for chunk in flat.split(sizes)]), dim=-1)


@torch.no_grad()
def encode_frames(model, frames: Dataset, *, batch_size: int = 400, device="cpu", num_workers: int = 0,
                  amp_dtype: torch.dtype | None = None, normalize: bool = True) -> torch.Tensor:
    """(N, d) frame embeddings (L2-normalised unless `normalize=False`) of every frame in order,
    none dropped, float32 on the CPU. Inside a lockstep region (distributed evaluation) it stops
    between batches with RankFailed when another rank has failed."""
    loader = DataLoader(frames, batch_size=batch_size, shuffle=False, drop_last=False,
                        num_workers=num_workers)
    device = torch.device(device)
    out = []
    for batch in loader:
        check_peers()
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            embedding = model.encode_frames(batch)
        embedding = embedding.float()
        out.append((F.normalize(embedding, dim=-1) if normalize else embedding).cpu())
    features = torch.cat(out)
    if features.shape[0] != len(frames):
        raise RuntimeError(f"encoded {features.shape[0]} of {len(frames)} frames")
    return features


def smooth_features(features: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average of (N, d) per-frame embeddings over `window` frames (1 = none),
    re-normalised. The window shrinks at the ends of the video."""
    if window <= 1:
        return features
    n = features.shape[0]
    csum = torch.cat([features.new_zeros(1, features.shape[1]), features.cumsum(0)])
    idx = torch.arange(n)
    lo = (idx - window // 2).clamp(min=0)
    hi = (idx + (window - 1) // 2 + 1).clamp(max=n)
    mean = (csum[hi] - csum[lo]) / (hi - lo).unsqueeze(1)
    return F.normalize(mean, dim=-1)
