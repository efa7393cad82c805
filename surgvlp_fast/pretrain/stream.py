"""One level's training batches as an endless stream with a resumable position.

The order of a pass depends only on (seed, level, pass number): the indices are shuffled by a
generator seeded from them, padded to a multiple of the world size and dealt out by rank, as
DistributedSampler does. The position (pass, batches consumed) is the resume state. A sample whose
loading raises one of `corrupt_errors` is replaced by another sample (deterministically), counted,
and reported with the batch; it never ends the run. A batch is fetched whole (`SkipCorrupt.__getitems__`:
a dataset's `samples(indices)` decodes its clips together), with the batches of one sample at a time.

Batches consumed by every rank always cover a prefix of the pass's order (rank r's j-th sample is
entry r + j·W of the padded order), so the position is also a global sample count. A run resumed
with another number of processes or another per-process batch size (`load_state_dict(state,
rebase=True)`) deals the rest of the pass, order[position:], out over the new ranks: no sample of
the pass is repeated or skipped (beyond the padding of the last W' - 1 places, as DistributedSampler).
DataLoader workers get the parent-death signal: they end with the process that started them, even
when it is killed with SIGKILL.
"""
import ctypes
import os
import signal
import sys

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
        self.offset = 0           # samples of the pass dealt out before this world's share began (a resume)

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        order = order[self.offset:]
        per_rank = -(-len(order) // self.world_size)
        total = per_rank * self.world_size                              # pad, as DistributedSampler
        order = (order * -(-total // len(order)))[:total] if order else order
        return order[self.rank::self.world_size]

    def _merges_last(self) -> bool:
        """A last batch of one sample in the whole world (no negative for a contrastive loss: it
        could not learn) joins the batch before it."""
        per_rank = -(-(self.size - self.offset) // self.world_size)
        return self.world_size == 1 and per_rank > self.batch_size and per_rank % self.batch_size == 1

    def __len__(self) -> int:
        batches = -(-(-(-(self.size - self.offset) // self.world_size)) // self.batch_size)
        return batches - self._merges_last()

    def position(self, consumed: int) -> int:
        """Samples of the pass's order covered once every rank has taken `consumed` batches."""
        if consumed >= len(self):
            return self.size
        return self.offset + min(consumed * self.batch_size * self.world_size, self.size - self.offset)

    def __iter__(self):
        mine, n = self.indices(), len(self)
        for b in range(self.start, n):
            yield mine[b * self.batch_size:(b + 1) * self.batch_size if b < n - 1 else None]


class SkipCorrupt(Dataset):
    """Returns (sample, [messages of the corrupt samples replaced on the way]). A key may be
    (pass, index): the dataset's epoch is then set where the sample is made, so persistent
    DataLoader workers follow the passes. The DataLoader fetches a whole batch through
    `__getitems__`: a dataset with `samples(indices)` (pretrain.datasets) makes the batch at once,
    its clips decoded together; each corrupt sample is then replaced exactly as `__getitem__` does."""

    def __init__(self, dataset, corrupt_errors: tuple, retries: int):
        self.dataset, self.corrupt_errors, self.retries = dataset, corrupt_errors, retries

    def __len__(self):
        return len(self.dataset)

    def _index(self, key) -> int:
        """The dataset index of `key`, after setting the dataset's epoch when the key names one."""
        if isinstance(key, tuple):
            epoch, index = key
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            return index
        return key

    def __getitem__(self, key):
        return self._substitute(self._index(key), [], first_attempt=0)

    def __getitems__(self, keys: list) -> list:
        """The batch `keys` (torch's map-style fetcher passes the batch sampler's list): equal to
        [self[key] for key in keys], made by one `dataset.samples(indices)` call when the dataset has
        one and the keys share one pass."""
        passes = {key[0] for key in keys if isinstance(key, tuple)}
        if not hasattr(self.dataset, "samples") or len(passes) > 1 or not keys:
            return [self[key] for key in keys]
        indices = [self._index(key) for key in keys]
        out = []
        for index, sample in zip(indices, self.dataset.samples(indices)):
            if not isinstance(sample, BaseException):
                out.append((sample, []))
            elif isinstance(sample, self.corrupt_errors):   # its replacements: __getitem__'s next attempts
                out.append(self._substitute(index, [f"sample {index}: {sample}"], first_attempt=1))
            else:
                raise sample
        return out

    def _substitute(self, index: int, skipped: list, first_attempt: int):
        """(the first sample of index + k·stride, k ≥ first_attempt, that is not corrupt, skipped + the
        messages of those that were)."""
        for attempt in range(first_attempt, self.retries + 1):
            i = (index + attempt * SUBSTITUTE_STRIDE) % len(self.dataset)
            try:
                return self.dataset[i], skipped
            except self.corrupt_errors as e:
                skipped.append(f"sample {i}: {e}")
        raise RuntimeError(f"{self.retries + 1} corrupt samples in a row; the data looks broken: {skipped}")


class _PassKeys:
    """The sampler's batches with the pass number beside each index."""

    def __init__(self, sampler: PassBatchSampler):
        self.sampler = sampler

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        epoch = self.sampler.epoch
        for batch in self.sampler:
            yield [(epoch, i) for i in batch]


class _CollateWithSkips:
    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        return self.collate([sample for sample, _ in items]), [m for _, messages in items for m in messages]


def corrupt_tolerant_loader(dataset, batch_sampler, collate, *, corrupt_errors: tuple = (), retries: int = 10,
                            num_workers: int = 0, worker_init=None, generator=None, persistent: bool = False):
    """A DataLoader of (batch, [messages of the corrupt samples replaced]) over `batch_sampler`'s index
    lists, with the stream's corrupt-sample policy and the parent-death signal in its workers."""
    return DataLoader(SkipCorrupt(dataset, corrupt_errors, retries), batch_sampler=batch_sampler,
                      collate_fn=_CollateWithSkips(collate), num_workers=num_workers,
                      persistent_workers=persistent and num_workers > 0, worker_init_fn=WorkerInit(worker_init),
                      generator=generator if generator is not None else torch.Generator())


class LevelStream:
    """Endless batches of one level; `state_dict()` is its position, restored by `load_state_dict`."""

    def __init__(self, name: str, dataset, batch_size: int, collate, *, seed: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, corrupt_errors: tuple = (), retries: int = 10,
                 shuffle: bool = True, worker_init=None):
        self.name, self.dataset = name, dataset
        self.sampler = PassBatchSampler(len(dataset), batch_size, seed, rank, world_size, shuffle)
        self.seed, self.num_workers = seed, num_workers
        # persistent workers: a new pass reuses them (and their open video readers) instead of starting anew
        self.loader = corrupt_tolerant_loader(dataset, _PassKeys(self.sampler), collate, corrupt_errors=corrupt_errors,
                                              retries=retries, num_workers=num_workers, worker_init=worker_init,
                                              persistent=True)
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
            except StopIteration:   # a pass resumed at its end
                self._next_pass()
                continue
            self.consumed += 1
            self.skipped += skipped
            if self.remaining() == 0:   # the next pass's workers decode while this batch trains
                if next(self._iterator, None) is not None:
                    raise RuntimeError(f"{self.name} stream: the pass gave more batches than its {len(self)}")
                self._next_pass()
                self._start_pass()
            return batch

    def _next_pass(self):
        self.sampler.epoch += 1
        self.sampler.offset = 0
        self.consumed = 0
        self._iterator = None

    def _start_pass(self):
        self.sampler.start = self.consumed
        self.loader.generator.manual_seed(self.seed * 1_000_003 + self.sampler.epoch * 1009 + self.consumed
                                          + self.sampler.offset * 7_919_993)
        self._iterator = iter(self.loader)

    def pop_skipped(self) -> list[str]:
        skipped, self.skipped = self.skipped, []
        return skipped

    def remaining(self) -> int:
        """Batches of this rank left in the current pass."""
        return len(self.sampler) - self.consumed

    def state_dict(self) -> dict:
        s = self.sampler
        state = {"epoch": s.epoch, "consumed": self.consumed, "offset": s.offset, "position": s.position(self.consumed),
                 "world_size": s.world_size, "batch_size": s.batch_size}
        if hasattr(self.dataset, "state_dict"):
            state["dataset"] = self.dataset.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a position. The same world (number of processes and per-process batch size) goes
        on exactly where it was; another world deals the rest of the pass, from the saved global
        `position`, out over its ranks."""
        s = self.sampler
        s.epoch = state["epoch"]
        same_world = (state.get("world_size", s.world_size), state.get("batch_size", s.batch_size)) == \
            (s.world_size, s.batch_size)
        if same_world:
            s.offset, self.consumed = state.get("offset", 0), state["consumed"]
        elif state["position"] >= s.size:   # the pass is complete: the next one starts from its beginning
            s.epoch, s.offset, self.consumed = s.epoch + 1, 0, 0
        else:
            s.offset, self.consumed = state["position"], 0
        if "dataset" in state and hasattr(self.dataset, "load_state_dict"):
            self.dataset.load_state_dict(state["dataset"])
        self._iterator = None


def _set_parent_death_signal() -> None:
    """Linux: this process gets SIGKILL when the thread that forked it dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class WorkerInit:
    """DataLoader worker_init_fn: the parent-death signal, then the pipeline's own worker_init."""

    def __init__(self, then=None):
        self.then, self.parent = then, os.getpid()

    def __call__(self, worker_id: int) -> None:
        _set_parent_death_signal()
        if os.getppid() != self.parent:   # the parent died before the signal was armed
            os._exit(0)
        if self.then is not None:
            self.then(worker_id)
