"""Frozen frame features for evaluation: a video's frames through the dual encoder, batched,
L2-normalised (the texts' side is surgvlp_fast.zeroshot).

The model contract (docs/architecture.md): `encode_frames((N,3,H,W)) -> (N,d)`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..allocator import keep_freed_memory
from ..collectives import check_peers
from .downstream import DownstreamVideo


def preload(video: DownstreamVideo) -> DownstreamVideo:
    """The video with its transformed frames read once and held in memory."""
    frames = torch.stack([video.frames[i] for i in range(len(video.frames))])
    return DownstreamVideo(video.video_id, TensorFrames(frames), video.labels)


class TensorFrames(Dataset):
    """Frames held in memory as one (N, 3, H, W) tensor; item i is frame i."""

    def __init__(self, frames: torch.Tensor):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i]


@torch.no_grad()
def encode_frames(model, frames: Dataset, *, batch_size: int = 400, device="cpu", num_workers: int = 0,
                  amp_dtype: torch.dtype | None = None, normalize: bool = True) -> torch.Tensor:
    """(N, d) frame embeddings (L2-normalised unless `normalize=False`) of every frame in order,
    none dropped, float32 on the CPU. Inside a lockstep region (distributed evaluation) it stops
    between batches with RankFailed when another rank has failed."""
    keep_freed_memory()   # each batch's activations reuse mapped pages (allocator.py)
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

