"""Two real gloo processes for failure tests, which must never hang the test run themselves.

`run_ranks(worker, tmp_path, *args)` starts `worker(rank, tmp_dir, *args)` in two spawned processes,
kills them and fails when they are not done within `timeout` seconds, and returns what each rank
passed to `report`. A worker starts with `start(rank, tmp_dir)` (one thread, a file-store group).
"""
import pickle
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def start(rank: int, tmp_dir: str, world: int = 2) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp_dir}/store", rank=rank, world_size=world)


def report(tmp_dir: str, rank: int, **values) -> None:
    path = Path(tmp_dir) / f"rank{rank}.pkl"
    path.with_suffix(".tmp").write_bytes(pickle.dumps(values))
    path.with_suffix(".tmp").rename(path)


def reported(tmp_dir: str, rank: int) -> bool:
    return (Path(tmp_dir) / f"rank{rank}.pkl").exists()


def wait_for_report(tmp_dir: str, rank: int, timeout: float = 30.0) -> None:
    """Keep this process alive until `rank` has reported (so that no peer is unblocked by its exit)."""
    deadline = time.monotonic() + timeout
    while not reported(tmp_dir, rank) and time.monotonic() < deadline:
        time.sleep(0.05)


def error_of(err: BaseException) -> dict:
    return {"type": type(err).__name__, "message": str(err), "at": time.time()}


def run_ranks(worker, tmp_path, *args, world: int = 2, timeout: float = 60.0) -> list[dict]:
    ctx = mp.get_context("spawn")
    processes = [ctx.Process(target=worker, args=(rank, str(tmp_path), *args)) for rank in range(world)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    hung = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert not hung, f"ranks {hung} still running after {timeout} s"
    missing = [rank for rank in range(world) if not reported(str(tmp_path), rank)]
    assert not missing, f"ranks {missing} ended without a report (exit codes {[p.exitcode for p in processes]})"
    return [pickle.loads((Path(tmp_path) / f"rank{rank}.pkl").read_bytes()) for rank in range(world)]
