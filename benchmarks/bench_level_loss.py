"""The hierarchical level loss (`hier_infonce`, reference.md §4.2 / §4.3), forward + backward.

HecVL's keystep / video level through the objective, [CLIP(v̄,p) + NTX(v̄,p) + CLIP(v̄,c̄) +
CLIP(p,c̄)]/4 with B rows, K children and d features, run twice on the same inputs: with the
losses' default dispatch (backend "auto": the fused kernels where they exist) and forced to the
naive plain-PyTorch reference (SURGVLP_FAST_BACKEND=reference), which materialises every B × B
similarity matrix. Each measurement runs in fresh subprocesses: time is the median of a few
runs, memory the peak extra resident memory (RSS high-water mark) of one forward + backward in a
worker whose allocator unmaps large blocks when freed (harness.live_memory_env): its peak live memory.

    .venv/bin/python benchmarks/bench_level_loss.py [--batch 4096 --children 8 --dim 768]
"""
import argparse
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Metric, bench_parser, finish, live_memory_env, markdown_table, measurement_rows,  # noqa: E402
                     median_time, peak_rss_bytes, print_json_line, run_worker)
from surgvlp_fast.losses.objectives import LevelEmbeddings, build_objective  # noqa: E402

IMPLEMENTATIONS = {"objective, backend auto": None, "objective, naive reference": "reference"}
RATIOS = [Metric(name, name, "ratio", ".3f")
          for name in ("time_vs_naive", "memory_vs_naive", "memory_vs_naive w/o input grads")]


def make_inputs(batch, children, dim, frames=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, frames, dim, generator=g).requires_grad_(),
            torch.randn(batch, dim, generator=g).requires_grad_(),
            torch.randn(batch, children, dim, generator=g).requires_grad_()]


def level_step(objective, tensors):
    for t in tensors:
        t.grad = None
    loss, _ = objective.video(LevelEmbeddings(*tensors))
    loss.backward()
    return loss


def worker(batch, children, dim, repeats, memory):
    """One implementation (chosen by SURGVLP_FAST_BACKEND in the environment): JSON on stdout; the median
    time of `repeats` steps, or (`memory`) the peak extra memory of one."""
    objective = build_objective("hecvl")
    level_step(objective, make_inputs(16, children, dim))  # libraries' one-time allocations, not measured
    tensors = make_inputs(batch, children, dim)
    if not memory:
        seconds = median_time(lambda: level_step(objective, tensors), repeats=repeats, warmup=0)
        print_json_line({"seconds": seconds, "threads": torch.get_num_threads()})
        return
    before = peak_rss_bytes()
    loss = level_step(objective, tensors)
    extra = peak_rss_bytes() - before
    input_grads = sum(t.grad.numel() * t.grad.element_size() for t in tensors)
    print_json_line({"extra_bytes": extra, "input_grad_bytes": input_grads, "loss": loss.item()})


def measure(backend, batch, children, dim, repeats, threads):
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    env.pop("SURGVLP_FAST_BACKEND", None)
    if backend:
        env["SURGVLP_FAST_BACKEND"] = backend
    one = ["--worker", "--batch", batch, "--children", children, "--dim", dim, "--repeats", repeats]
    return {**run_worker(__file__, one, env=env), **run_worker(__file__, [*one, "--memory"], env=live_memory_env(env))}


def main(argv=None):
    parser = bench_parser(__doc__, repeats=3, threads="torch")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.batch, args.children, args.dim, args.repeats, args.memory)
    size = f"B={args.batch} K={args.children} d={args.dim}"
    results = {name: measure(backend, args.batch, args.children, args.dim, args.repeats, args.threads)
               for name, backend in IMPLEMENTATIONS.items()}
    naive = results["objective, naive reference"]
    losses = [r["loss"] for r in results.values()]
    assert abs(losses[0] - losses[1]) <= 1e-4 * abs(losses[1]), f"the two losses differ: {losses}"
    threads = naive["threads"]
    floor = naive["input_grad_bytes"]
    lines = []
    for name, r in results.items():
        r["own_bytes"] = r["extra_bytes"] - floor   # the extra memory without the inputs' gradients
        lines.append([name, f"{r['seconds']:.3f}", f"{r['seconds'] / naive['seconds']:.2f}x",
                      f"{r['extra_bytes'] / 2**20:.0f}", f"{r['extra_bytes'] / max(naive['extra_bytes'], 1):.2f}x",
                      f"{r['own_bytes'] / 2**20:.0f}", f"{r['own_bytes'] / max(naive['extra_bytes'] - floor, 1):.2f}x"])
    table = markdown_table(["implementation", "time (s)", "vs naive", "extra MB", "vs naive", "w/o grads MB",
                            "vs naive"], lines)
    metrics = [Metric("seconds", "fwd+bwd time", f"s ({threads} threads)", ".4f"),
               Metric("extra_bytes", "peak extra RSS", "MB", ".1f", 2**-20),
               Metric("own_bytes", "peak extra RSS w/o input grads", "MB", ".1f", 2**-20)]
    auto = results["objective, backend auto"]
    ratios = {"time_vs_naive": auto["seconds"] / naive["seconds"],
              "memory_vs_naive": auto["extra_bytes"] / max(naive["extra_bytes"], 1),
              "memory_vs_naive w/o input grads": auto["own_bytes"] / max(naive["extra_bytes"] - floor, 1)}
    finish(args, f"hierarchical level loss (HecVL hier_infonce), forward + backward, {size}, {threads} thread(s); "
                 f"extra memory includes the inputs' gradients ({floor / 2**20:.0f} MB), also shown without them\n"
                 + table,
           measurement_rows("level_loss", size, results, metrics)
           + measurement_rows("level_loss", size, {"objective, backend auto": ratios}, RATIOS))


# ---- pytest-benchmark (small sizes: CI runs these once with --benchmark-disable) ----
@pytest.mark.benchmark(group="level_loss")
def test_objective_backend_auto(benchmark, monkeypatch):
    monkeypatch.delenv("SURGVLP_FAST_BACKEND", raising=False)
    benchmark(level_step, build_objective("hecvl"), make_inputs(64, 8, 32))


@pytest.mark.benchmark(group="level_loss")
def test_objective_naive_reference(benchmark, monkeypatch):
    monkeypatch.setenv("SURGVLP_FAST_BACKEND", "reference")
    benchmark(level_step, build_objective("hecvl"), make_inputs(64, 8, 32))


if __name__ == "__main__":
    main()
