"""The hierarchical level loss (`hier_infonce`, reference.md §4.2 / §4.3), forward + backward.

HecVL's keystep / video level through the objective, [CLIP(v̄,p) + NTX(v̄,p) + CLIP(v̄,c̄) +
CLIP(p,c̄)]/4 with B rows, K children and d features, run twice on the same inputs: with the
losses' default dispatch (backend "auto": the fused kernels where they exist) and forced to the
naive plain-PyTorch reference (SURGVLP_FAST_BACKEND=reference), which materialises every B × B
similarity matrix. Each measurement runs in a fresh subprocess: time is the median of a few
runs, memory the peak extra resident memory (RSS high-water mark) of one forward + backward.

    .venv/bin/python benchmarks/bench_level_loss.py [--batch 4096 --children 8 --dim 768]
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results import append_rows, median_time  # noqa: E402
from surgvlp_fast.losses.objectives import LevelEmbeddings, build_objective  # noqa: E402

IMPLEMENTATIONS = {"objective, backend auto": None, "objective, naive reference": "reference"}


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


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(batch, children, dim, repeats):
    """One implementation (chosen by SURGVLP_FAST_BACKEND in the environment): JSON on stdout."""
    objective = build_objective("hecvl")
    level_step(objective, make_inputs(16, children, dim))  # libraries' one-time allocations, not measured
    tensors = make_inputs(batch, children, dim)
    before = _peak_rss_bytes()
    loss = level_step(objective, tensors)
    extra = _peak_rss_bytes() - before
    input_grads = sum(t.grad.numel() * t.grad.element_size() for t in tensors)
    seconds = median_time(lambda: level_step(objective, tensors), repeats=repeats, warmup=0)
    print(json.dumps({"seconds": seconds, "extra_bytes": extra, "input_grad_bytes": input_grads,
                      "loss": loss.item(), "threads": torch.get_num_threads()}))


def measure(backend, batch, children, dim, repeats, threads):
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    env.pop("SURGVLP_FAST_BACKEND", None)
    if backend:
        env["SURGVLP_FAST_BACKEND"] = backend
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--batch", str(batch),
                          "--children", str(children), "--dim", str(dim), "--repeats", str(repeats)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="OpenMP/torch threads (default: torch's)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.batch, args.children, args.dim, args.repeats)
    size = f"B={args.batch} K={args.children} d={args.dim}"
    results = {name: measure(backend, args.batch, args.children, args.dim, args.repeats, args.threads)
               for name, backend in IMPLEMENTATIONS.items()}
    naive = results["objective, naive reference"]
    losses = [r["loss"] for r in results.values()]
    assert abs(losses[0] - losses[1]) <= 1e-4 * abs(losses[1]), f"the two losses differ: {losses}"
    threads = naive["threads"]
    floor = naive["input_grad_bytes"]
    print(f"hierarchical level loss (HecVL hier_infonce), forward + backward, {size}, {threads} thread(s); "
          f"extra memory includes the inputs' gradients ({floor / 2**20:.0f} MB), also shown without them")
    print(f"{'implementation':<28}{'time (s)':>10}{'vs naive':>10}{'extra MB':>10}{'vs naive':>10}"
          f"{'w/o grads MB':>14}{'vs naive':>10}")
    for name, r in results.items():
        own, naive_own = r["extra_bytes"] - floor, max(naive["extra_bytes"] - floor, 1)
        print(f"{name:<28}{r['seconds']:>10.3f}{r['seconds'] / naive['seconds']:>9.2f}x"
              f"{r['extra_bytes'] / 2**20:>10.0f}{r['extra_bytes'] / max(naive['extra_bytes'], 1):>9.2f}x"
              f"{own / 2**20:>14.0f}{own / naive_own:>9.2f}x")
    rows = []
    for name, r in results.items():
        rows.append({"benchmark": "level_loss", "implementation": name, "metric": "fwd+bwd time", "size": size,
                     "value": f"{r['seconds']:.4f}", "unit": f"s ({threads} threads)"})
        rows.append({"benchmark": "level_loss", "implementation": name, "metric": "peak extra RSS", "size": size,
                     "value": f"{r['extra_bytes'] / 2**20:.1f}", "unit": "MB"})
        rows.append({"benchmark": "level_loss", "implementation": name, "metric": "peak extra RSS w/o input grads",
                     "size": size, "value": f"{(r['extra_bytes'] - floor) / 2**20:.1f}", "unit": "MB"})
    auto = results["objective, backend auto"]
    for metric, value in (("time_vs_naive", auto["seconds"] / naive["seconds"]),
                          ("memory_vs_naive", auto["extra_bytes"] / max(naive["extra_bytes"], 1)),
                          ("memory_vs_naive w/o input grads",
                           (auto["extra_bytes"] - floor) / max(naive["extra_bytes"] - floor, 1))):
        rows.append({"benchmark": "level_loss", "implementation": "objective, backend auto", "metric": metric,
                     "size": size, "value": f"{value:.3f}", "unit": "ratio"})
    append_rows(rows)


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
