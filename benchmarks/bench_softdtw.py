"""Soft-DTW with reversed-order negatives (PeskaVLP's DTW term, reference.md §4.3), forward + backward.

From the cost matrices C (B, T, N) of a batch with a variable number of steps per sample:
a = DTW(C), b = DTW(C with its valid steps reversed), loss = mean a + 0.5·mean max(a − b, 0),
then the gradient with respect to C. Implementations, side by side on the same inputs:
  - fused cpu: surgvlp_fast soft_dtw(backend="cpu") (C++, analytical backward);
  - vectorised PyTorch: the anti-diagonal wavefront of softdtw_reference (one pass over the
    2B tables of C and reversed C, autograd backward): the best plain-PyTorch form we have;
  - reference-style loop: the reference's `smoothDTW` as reference.md §9.4 describes it — a
    Python double loop over the cells that clones the whole table per cell, three DTWs per
    sample (one redundant), a Python loop over the batch. It is timed on a few samples and
    scaled to the batch.

    .venv/bin/python benchmarks/bench_softdtw.py [--batch 256 --frames 64 --steps 8 --threads 1]
"""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Metric, bench_parser, finish, markdown_table, measurement_rows, median_time  # noqa: E402
from surgvlp_fast._native import native_submodule  # noqa: E402
from surgvlp_fast.losses.softdtw import soft_dtw  # noqa: E402
from surgvlp_fast.losses.softdtw_reference import BIG, reverse_steps, soft_dtw_wavefront  # noqa: E402
from surgvlp_fast.testing import assert_close, dtw_bounds  # noqa: E402

GAMMA, RATIO = 0.1, 0.5


def make_inputs(batch, frames, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    similarity = torch.rand(batch, frames, steps, generator=g) * 2 - 1
    cost = -torch.log_softmax(similarity / 0.1, dim=1)  # the reference's cost: normalised over frames
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return cost, mask


def dtw_loss(aligned, reversed_):
    return aligned.mean() + RATIO * torch.clamp(aligned - reversed_, min=0).mean()


def fused_cpu(cost, mask):
    cost = cost.detach().requires_grad_()
    a = soft_dtw(cost, mask, GAMMA, "prob", backend="cpu")
    b = soft_dtw(cost, mask, GAMMA, "prob", reverse=True, backend="cpu")
    dtw_loss(a, b).backward()
    return cost.grad


def vectorised_pytorch(cost, mask):
    cost = cost.detach().requires_grad_()
    lengths = mask.sum(dim=1)
    both = torch.cat([cost, reverse_steps(cost, lengths)])  # C and reversed C in one wavefront pass
    values = soft_dtw_wavefront(both, torch.cat([mask, mask]), GAMMA, "prob")
    a, b = values.chunk(2)
    dtw_loss(a, b).backward()
    return cost.grad


def _clone_assign(table, i, j, value):
    """The reference's assign2Tensor: a full copy of the table to write one cell."""
    table = table.clone()
    table[i, j] = value
    return table


def _reference_style_dtw(cost):
    frames, steps = cost.shape
    table = torch.full((frames + 1, steps + 1), BIG)
    table[0, 0] = 0
    for i in range(1, frames + 1):
        for j in range(1, steps + 1):
            neighbours = torch.stack([table[i, j - 1], table[i - 1, j - 1], table[i - 1, j]])
            weights = torch.softmax(-neighbours / GAMMA, dim=0)
            table = _clone_assign(table, i, j, cost[i - 1, j - 1] + (weights * neighbours).sum())
    return table[frames, steps]


def reference_style_loop(cost, mask):
    cost = cost.detach().requires_grad_()
    aligned, hinges = [], []
    for sample in range(cost.shape[0]):
        c = cost[sample][:, mask[sample]]
        a = _reference_style_dtw(c)
        aligned += [a, _reference_style_dtw(c)]          # computed twice, as in the reference
        b = _reference_style_dtw(c.flip(1))
        hinges.append(torch.clamp(a - b, min=0))
    (torch.stack(aligned).mean() + RATIO * torch.stack(hinges).mean()).backward()
    return cost.grad


def measure(batch, frames, steps, loop_samples, repeats):
    """({implementation: seconds} of one forward + backward on the same inputs, the mean number of
    steps); the fused and vectorised gradients checked equal."""
    cost, mask = make_inputs(batch, frames, steps)
    times = {}
    if native_submodule("dtw") is not None:
        times["fused cpu"] = median_time(lambda: fused_cpu(cost, mask), repeats=repeats)
    times["vectorised PyTorch"] = median_time(lambda: vectorised_pytorch(cost, mask), repeats=repeats)
    few = median_time(lambda: reference_style_loop(cost[:loop_samples], mask[:loop_samples]), repeats=1, warmup=0)
    times["reference-style loop"] = few * batch / loop_samples
    if "fused cpu" in times:
        fused, vectorised = fused_cpu(cost, mask), vectorised_pytorch(cost, mask)
        _, _, backward = dtw_bounds(cost.dtype, cost, GAMMA)
        assert_close(fused, vectorised, backward)
    return times, mask.sum(1).float().mean().item()


def main(argv=None):
    parser = bench_parser(__doc__, repeats=7, threads="torch")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--loop-samples", type=int, default=4)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    times, mean_steps = measure(args.batch, args.frames, args.steps, args.loop_samples, args.repeats)
    size, threads = f"B={args.batch} T={args.frames} N<={args.steps}", torch.get_num_threads()
    fused = times.get("fused cpu")
    table = markdown_table(["implementation", "time (ms)", "fused cpu speed-up"],
                           [[name, f"{seconds * 1e3:.2f}", f"{seconds / fused:.1f}x" if fused else "-"]
                            for name, seconds in times.items()])
    finish(args, f"soft-DTW + reversed negative, forward + backward, {size} (mean N = {mean_steps:.2f}), "
                 f"{threads} thread(s); loop timed on {args.loop_samples} samples and scaled\n{table}",
           measurement_rows("softdtw", size, {name: {"seconds": seconds} for name, seconds in times.items()},
                            [Metric("seconds", "fwd+bwd time", f"ms ({threads} threads)", ".3f", 1e3)]))


# ---- pytest-benchmark (small sizes: CI runs these once with --benchmark-disable) ----
SMALL = dict(batch=8, frames=12, steps=4)


@pytest.mark.benchmark(group="softdtw")
@pytest.mark.skipif(native_submodule("dtw") is None, reason="compiled core not built or switched off")
def test_fused_cpu(benchmark):
    cost, mask = make_inputs(**SMALL)
    benchmark(fused_cpu, cost, mask)


@pytest.mark.benchmark(group="softdtw")
def test_vectorised_pytorch(benchmark):
    cost, mask = make_inputs(**SMALL)
    benchmark(vectorised_pytorch, cost, mask)


@pytest.mark.benchmark(group="softdtw")
def test_reference_style_loop(benchmark):
    cost, mask = make_inputs(**SMALL)
    grad = benchmark(reference_style_loop, cost[:2], mask[:2])
    assert_close(grad, vectorised_pytorch(cost[:2], mask[:2]), dtw_bounds(cost.dtype, cost[:2], GAMMA)[2])


if __name__ == "__main__":
    main()
