"""A failing rank never hangs the others: its error reaches every rank in milliseconds, through the
process group's store, instead of the group's timeout (30 minutes by default).

Every collective of this module waits on its own completion *and* on the store, so it stops as soon
as a failure is published there. Two ways to publish:

- `fail_together()` wraps work after which a failure ends the run (training, a checkpoint): a rank
  raising inside writes its rank and error ("Type: message") into the store and raises the error;
  a rank blocked in, or entering, a collective of this module raises `RankFailed` naming it. A
  collective run by torch itself (DDP's gradient all-reduce, the losses' gathers) fails when the
  failed process ends its group (`Trainer.close()`) or exits; `fail_together()` turns that error
  into `RankFailed` too. The group is out of step afterwards: end it.
- `lockstep()` wraps a unit that may fail without ending the run (an evaluation protocol): every
  rank makes exactly one `exchange()` in it, a failing rank with its error instead of its share, so
  the ranks stay in step and the group usable. Every rank then raises (the failing rank its own
  error, the others `RankFailed`), and a rank still working on its share stops at its next
  `check_peers()` (one store read per batch) instead of finishing it.
"""
from __future__ import annotations

import pickle
import time
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.nn.functional as F

FAILED = "surgvlp_fast/failed"    # store key of the first failure inside fail_together()
POLL_S = 0.05                     # seconds between two reads of the store while a collective is pending

_failed_store = None              # the store of a group this rank failed in: kept, so that the peers can read
                                  # the error after the group ends (a TCPStore lives in the process of rank 0)
_region = None                    # the lockstep region this process is in
_regions = 0                      # lockstep regions entered (the ranks enter them in the same order)


class RankFailed(RuntimeError):
    """Another rank raised: `rank` and its `error` ("Type: message")."""

    def __init__(self, rank: int, error: str):
        self.rank, self.error = rank, error
        super().__init__(f"rank {rank} failed: {error}")


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _group():
    """(rank, world size, store) of the default process group; None without one or alone in it."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return dist.get_rank(), dist.get_world_size(), dist.distributed_c10d._get_default_store()


def _encode(rank: int, err: BaseException) -> str:
    return f"{rank}\n{_describe(err)}"


def _decode(value: bytes) -> RankFailed:
    rank, _, error = value.decode().partition("\n")
    return RankFailed(int(rank), error)


def _published(store, *keys: str) -> RankFailed | None:
    for key in keys:
        if store.check([key]):
            return _decode(store.get(key))
    return None


def _wait(work, store) -> None:
    """Wait for an async collective's `work` (looking every 2 ms at most); RankFailed as soon as a
    failure is published (the store is read every POLL_S)."""
    pause, look = 1e-4, time.monotonic()
    while not work.is_completed():
        if time.monotonic() >= look:
            found = _published(store, FAILED)
            if found is not None:
                raise found
            look = time.monotonic() + POLL_S
        time.sleep(pause)
        pause = min(2 * pause, 0.002)
    work.wait()


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce(tensor: torch.Tensor, op=dist.ReduceOp.SUM) -> torch.Tensor:
    """`tensor` reduced in place over the ranks (unchanged alone); returns it."""
    group = _group()
    if group is not None:
        _wait(dist.all_reduce(tensor, op=op, async_op=True), group[2])
    return tensor


def barrier() -> None:
    group = _group()
    if group is not None:
        _wait(dist.all_reduce(torch.zeros(1, device=_device()), async_op=True), group[2])


def all_gather_object(obj) -> list:
    """Every rank's `obj` (pickled), in rank order (`[obj]` alone)."""
    group = _group()
    if group is None:
        return [obj]
    _, world, store = group
    device = _device()
    data = torch.frombuffer(bytearray(pickle.dumps(obj)), dtype=torch.uint8).to(device)
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world)]
    _wait(dist.all_gather(sizes, torch.tensor([data.numel()], device=device), async_op=True), store)
    longest = max(int(size) for size in sizes)
    parts = [torch.empty(longest, dtype=torch.uint8, device=device) for _ in range(world)]
    _wait(dist.all_gather(parts, F.pad(data, (0, longest - data.numel())), async_op=True), store)
    return [pickle.loads(part[:int(size)].cpu().numpy().tobytes()) for part, size in zip(parts, sizes)]


@contextmanager
def fail_together():
    """A rank raising inside publishes its error (the first one published wins) and raises it; the
    others' collectives stop with RankFailed. A collective that torch itself ran and that failed
    (RuntimeError, or a torch.distributed error) after another rank's error was published failed
    because that process closed its connections: RankFailed naming it. Nothing happens without a
    process group."""
    global _failed_store
    group = _group()
    if group is None:
        yield
        return
    rank, _, store = group
    try:
        yield
    except BaseException as err:
        if isinstance(err, RankFailed):
            raise
        _failed_store = store
        try:
            first = _decode(store.compare_set(FAILED, "", _encode(rank, err)))
        except Exception:   # noqa: BLE001 - the store's host has gone: this rank's error is all there is
            first = None
        collective = type(err) is RuntimeError or isinstance(err, dist.DistError)
        if collective and first is not None and first.rank != rank:
            raise first from err
        raise


class _Region:
    def __init__(self, key: str, store):
        self.key, self.store, self.exchanged = key, store, False


@contextmanager
def lockstep(distributed: bool = True):
    """A unit of work every rank runs, with one `exchange()` per rank (made on leaving for a rank that
    has not made it). When it raises on any rank before the exchange, every rank raises after it:
    the failing rank its own error, the others RankFailed naming the first failing rank (in rank
    order). A failure after the exchange stays on its rank (no collective is left to match). A
    region inside a region is part of it. Nothing happens alone or with `distributed=False`."""
    global _region, _regions
    group = _group() if distributed else None
    if group is None or _region is not None:
        yield
        return
    rank, _, store = group
    _regions += 1
    region = _region = _Region(f"surgvlp_fast/lockstep/{_regions}", store)
    try:
        yield
        if not region.exchanged:
            exchange(None)
    except BaseException as err:
        if region.exchanged:
            raise
        if not isinstance(err, RankFailed):
            store.set(region.key, _encode(rank, err))   # the others stop at their next check_peers()
        mine = ("failed", rank, _describe(err)) if not isinstance(err, RankFailed) else ("stopped",)
        region.exchanged = True
        first = _first_failure(all_gather_object(mine))
        if isinstance(err, RankFailed) and first is not None:
            raise first from err
        raise
    finally:
        _region = None


def _first_failure(parts: list) -> RankFailed | None:
    for part in parts:
        if part[0] == "failed":
            return RankFailed(part[1], part[2])
    return None


def exchange(obj) -> list:
    """Every rank's `obj`, in rank order. Inside `lockstep()` it is the region's one exchange and
    raises RankFailed when another rank failed in the region; elsewhere `all_gather_object`."""
    region = _region
    if region is None:
        return all_gather_object(obj)
    if region.exchanged:
        raise RuntimeError("a lockstep region holds one exchange per rank, and this one has been made")
    region.exchanged = True
    parts = all_gather_object(("ok", obj))
    first = _first_failure(parts)
    if first is not None:
        raise first
    return [part[1] for part in parts]


def check_peers() -> None:
    """Inside `lockstep()`: RankFailed when another rank has failed; called between batches by a
    rank working on its share. Free outside a region."""
    region = _region
    if region is not None:
        found = _published(region.store, region.key, FAILED)
        if found is not None:
            raise found
