"""Distributed evaluation without duplicates: whole videos are dealt to ranks round-robin, each
rank scores its own videos, and the per-video results are gathered, so every frame counts once
(the reference's DistributedSampler padded the per-video sets with repeated frames).

Sharing the work is opt-in (`distributed=True`, every rank must call); otherwise the calling
process evaluates everything alone, e.g. rank 0 inside a distributed training run."""
from __future__ import annotations

from typing import Sequence, TypeVar

import torch.distributed as dist

T = TypeVar("T")


def rank_and_world(distributed: bool = True) -> tuple[int, int]:
    if distributed and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """The items of one rank: every `world`-th from `rank`. The shards partition `items`."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    return list(items[rank::world])


def gather_dicts(local: dict, distributed: bool = True) -> dict:
    """Union of the per-rank dicts on every rank (keys must be disjoint)."""
    rank, world = rank_and_world(distributed)
    if world == 1:
        return dict(local)
    parts: list[dict] = [None] * world  # type: ignore[list-item]
    dist.all_gather_object(parts, local)
    merged: dict = {}
    for part in parts:
        overlap = merged.keys() & part.keys()
        if overlap:
            raise RuntimeError(f"videos scored on two ranks: {sorted(overlap)[:5]}")
        merged.update(part)
    return merged
