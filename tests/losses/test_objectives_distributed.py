"""The objectives on 2 real processes (gloo, local-loss form) equal one process on the global batch.

Run as a script by `torch.distributed.run --nproc_per_node=2`: every rank builds the same global
batch, computes the single-process loss and input gradients before joining the process group,
then its own slice's loss through the objective (which gathers across the ranks). The mean over
ranks of the losses and of each term equals the single-process one, and each rank's input
gradient divided by the world size (DDP's averaging) equals its slice of the single-process
gradient. The same holds when the embeddings carry every rank's row count (`rows_per_rank`, as
the trainer passes it): then no count is exchanged, and a wrong one is refused under
SURGVLP_FAST_CHECK_VALUES=1.
"""
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PER_RANK, DIM = 3, 6


def test_two_processes_equal_one():
    backend = "auto"  # the compiled kernels where built, else the plain-PyTorch ones
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             os.path.abspath(__file__), backend], env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert result.stdout.count("objectives: 2 processes equal 1") == 2


# ---- the worker ----
CASES = [("surgvlp", "code", "clip"), ("hecvl", "code", "keystep"), ("peskavlp", "code", "video"),
         ("peskavlp", "paper", "keystep")]


def global_batch(world):
    g = torch.Generator().manual_seed(7)
    total = PER_RANK * world

    def rand(*shape):
        return torch.randn(total, *shape, generator=g, dtype=torch.float64)

    mask = torch.ones(total, 5, dtype=torch.bool)
    mask[1, 3:] = False
    mask[4, 1:] = False  # a single step
    return {"clip": [rand(4, DIM), rand(4, DIM), rand(4, DIM), rand(DIM), rand(2, DIM)],
            "level": [rand(8, DIM), rand(DIM), rand(5, DIM)], "mask": mask}


def run_case(method, variant, level, batch, rows, backend, rows_per_rank=None):
    from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings, build_objective, options_for

    objective = build_objective(method, **{**options_for(method, variant), "backend": backend})
    leaves = [t[rows].clone().requires_grad_() for t in batch["clip" if level == "clip" else "level"]]
    if level == "clip":
        embeddings = ClipEmbeddings(leaves[:3], leaves[3], leaves[4], rows_per_rank=rows_per_rank)
    else:
        embeddings = LevelEmbeddings(*leaves, batch["mask"][rows], rows_per_rank=rows_per_rank)
    loss, terms = getattr(objective, level)(embeddings)
    loss.backward()
    return loss.detach(), terms, [t.grad for t in leaves]


def no_exchange(*args):
    raise AssertionError("row counts exchanged although the embeddings carry them")


def worker(backend):
    import torch.distributed as dist
    from surgvlp_fast.testing import objective_bound
    from surgvlp_fast.losses import distributed, objectives

    world = int(os.environ["WORLD_SIZE"])
    batch = global_batch(world)
    everything = slice(None)
    expected = {case: run_case(*case, batch, everything, backend) for case in CASES}  # before the group
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    failures = []
    for case in CASES:
        level = batch["clip" if case[2] == "clip" else "level"]
        bound = objective_bound(level, DIM, PER_RANK * world, 5)   # surgvlp_fast.testing
        loss, terms, grads = run_case(*case, batch, rows, backend)
        want_loss, want_terms, want_grads = expected[case]
        exchanged = objectives.row_counts, distributed.row_counts
        objectives.row_counts = distributed.row_counts = no_exchange
        known = run_case(*case, batch, rows, backend, rows_per_rank=[PER_RANK] * world)
        objectives.row_counts, distributed.row_counts = exchanged
        if not (torch.equal(known[0], loss) and all(torch.equal(a, b) for a, b in zip(known[2], grads))):
            failures.append(f"{case}: rows_per_rank given: a different loss or gradient")
        for key, value in [("loss", loss)] + list(terms.items()):
            mean = value.clone()
            dist.all_reduce(mean)
            mean /= world
            target = want_loss if key == "loss" else want_terms[key]
            if not torch.allclose(mean, target, rtol=bound, atol=bound / 0.1):
                failures.append(f"{case}: {key} mean over ranks {mean.item()} != one process {target.item()}")
        for i, (grad, want) in enumerate(zip(grads, want_grads)):
            if not torch.allclose(grad / world, want[rows], rtol=2 * bound, atol=2 * bound * want.abs().max().item()):
                failures.append(f"{case}: gradient of input {i} differs on rank {rank}")
    os.environ["SURGVLP_FAST_CHECK_VALUES"] = "1"
    try:
        run_case(*CASES[0], batch, rows, backend, rows_per_rank=[PER_RANK - 1, PER_RANK + 1])
        failures.append("a wrong rows_per_rank was accepted with SURGVLP_FAST_CHECK_VALUES=1")
    except ValueError as err:
        if "the processes hold [3, 3] rows" not in str(err):
            failures.append(f"wrong rows_per_rank: unexpected message {err}")
    dist.destroy_process_group()
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("objectives: 2 processes equal 1")


if __name__ == "__main__":
    worker(sys.argv[1])
