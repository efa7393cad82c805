"""One level's training batches as an endless stream with a resumable position.

The order of a pass depends only on (seed, level, pass number): the indices are shuffled by a
generator seeded from them, padded to a multiple of the world size and dealt out by rank, as
DistributedSampler does. The position (pass, batches consumed) is the resume state. A sample whose
loading raises one of `corrupt_errors` is replaced by another sample (deterministically), counted,
and reported with the batch; it never ends the run.
"""
import torch
from torch.utils.data import DataLoader, Dataset

SUBSTITUTE_STRIDE = 7919   # a prime: the replacement of a corrupt sample is index + k·stride (mod n)


class PassBatchSampler:
    """Batches of this rank's share of one shuffled pass, starting after `start` batches."""

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.epoch, self.start = 0, 0

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        per_rank = -(-self.size // self.world_size)
        order += order[: per_rank * self.world_size - self.size]       # pad, as DistributedSampler
        return order[self.rank::self.world_size]

    def __len__(self) -> int:
        return -(-(-(-self.size // self.world_size)) // self.batch_size)

    def __iter__(self):
        mine = self.indices()
        for b in range(self.start, len(self)):
            yield mine[b * self.batch_size:(b + 1) * self.batch_size]


class SkipCorrupt(Dataset):
    """Returns (sample, [messages of the corrupt samples replaced on the way])."""

    def __init__(self, dataset, corrupt_errors: tuple, retries: int):
        self.dataset, self.corrupt_errors, self.retries = dataset, corrupt_errors, retries

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        skipped = []
        for attempt in range(self.retries + 1):
            i = (index + attempt * SUBSTITUTE_STRIDE) % len(self.dataset)
            try:
                return self.dataset[i], skipped
            except self.corrupt_errors as e:
                skipped.append(f"sample {i}: {e}")
        raise RuntimeError(f"{self.retries + 1} corrupt samples in a row; the data looks broken: {skipped}")


class _CollateWithSkips:
    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        return self.collate([sample for sample, _ in items]), [m for _, messages in items for m in messages]


class LevelStream:
    """Endless batches of one level; `state_dict()` is its position, restored by `load_state_dict`."""

    def __init__(self, name: str, dataset, batch_size: int, collate, *, seed: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, corrupt_errors: tuple = (), retries: int = 10,
                 shuffle: bool = True, worker_init=None):
        self.name, self.dataset = name, dataset
        self.sampler = PassBatchSampler(len(dataset), batch_size, seed, rank, world_size, shuffle)
        self.seed, self.num_workers = seed, num_workers
        self.loader = DataLoader(SkipCorrupt(dataset, corrupt_errors, retries), batch_sampler=self.sampler,
                                 collate_fn=_CollateWithSkips(collate), num_workers=num_workers,
                                 worker_init_fn=worker_init, generator=torch.Generator())
        self._iterator = None
        self.consumed = 0
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.sampler)

    def next(self):
        while True:
            if self._iterator is None:
                self._start_pass()
            try:
                batch, skipped = next(self._iterator)
            except StopIteration:
                self.sampler.epoch += 1
                self.consumed = 0
                self._iterator = None
                continue
            self.consumed += 1
            self.skipped += skipped
            return batch

    def _start_pass(self):
        self.sampler.start = self.consumed
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.sampler.epoch)
        self.loader.generator.manual_seed(self.seed * 1_000_003 + self.sampler.epoch * 1009 + self.consumed)
        self._iterator = iter(self.loader)

    def pop_skipped(self) -> list[str]:
        skipped, self.skipped = self.skipped, []
        return skipped

    def state_dict(self) -> dict:
        state = {"epoch": self.sampler.epoch, "consumed": self.consumed}
        if hasattr(self.dataset, "state_dict"):
            state["dataset"] = self.dataset.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.sampler.epoch, self.consumed = state["epoch"], state["consumed"]
        if "dataset" in state and hasattr(self.dataset, "load_state_dict"):
            self.dataset.load_state_dict(state["dataset"])
        self._iterator = None
