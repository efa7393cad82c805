"""A resumable, seeded, distributed-aware sampler of lectures.

It yields `(index, epoch)` keys: the level datasets draw every random choice of a sample from
`numpy.random.default_rng([seed, epoch, index])`, so a sample is the same whichever DataLoader
worker makes it, and a run resumed from `state_dict()` sees exactly the samples it would have seen.
"""
import numpy as np
from torch.utils.data import Sampler


class ResumableSampler(Sampler):
    """Shuffled (or ordered) lecture indices, one epoch at a time.

    rank / world_size shard the epoch's permutation like DistributedSampler (padded by wrapping so
    every rank has the same count). `state_dict(consumed)` records the epoch and how many samples
    this rank has consumed; after `load_state_dict` the next iteration starts there.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1):
        if length <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.length, self.seed, self.shuffle, self.rank, self.world_size = length, seed, shuffle, rank, world_size
        self.epoch, self._skip = 0, 0
        self.per_rank = -(-length // world_size)

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def indices(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.length) if self.shuffle \
            else np.arange(self.length)
        padded = np.resize(order, self.per_rank * self.world_size)
        return padded[self.rank::self.world_size]

    def __iter__(self):
        skip, self._skip = self._skip, 0
        for index in self.indices(self.epoch)[skip:]:
            yield int(index), self.epoch

    def __len__(self) -> int:
        return self.per_rank

    def state_dict(self, consumed: int = 0) -> dict:
        return {"epoch": self.epoch, "consumed": int(consumed), "seed": self.seed, "length": self.length,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict):
        if state["length"] != self.length or state["world_size"] != self.world_size:
            raise ValueError(f"sampler state is for {state['length']} lectures on {state['world_size']} ranks, "
                             f"not {self.length} on {self.world_size}")
        self.seed, self.epoch = state["seed"], state["epoch"]
        self._skip = state["consumed"] % self.per_rank
        if state["consumed"] >= self.per_rank:
            self.epoch, self._skip = self.epoch + 1, 0
