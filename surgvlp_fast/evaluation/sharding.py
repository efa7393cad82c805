"""Distributed evaluation without duplicates: whole videos are dealt to ranks round-robin, each
rank scores its own videos, and the per-video results are gathered, so every frame counts once
(the reference's DistributedSampler padded the per-video sets with repeated frames).

Sharing the work is opt-in (`distributed=True`, every rank must call); otherwise the calling
process evaluates everything alone, e.g. rank 0 inside a distributed training run. The gather is
the `surgvlp_fast.collectives.exchange` of the protocol's lockstep region: a rank that fails takes
part in it with its error, and every rank raises (see docs/evaluation.md)."""
from __future__ import annotations

from typing import Sequence, TypeVar

import torch.distributed as dist

from ..collectives import exchange

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
    if rank_and_world(distributed)[1] == 1:
        return dict(local)
    merged: dict = {}
    for part in exchange(local):
        overlap = merged.keys() & part.keys()
        if overlap:
            raise RuntimeError(f"videos scored on two ranks: {sorted(overlap)[:5]}")
        merged.update(part)
    return merged
