"""Fused contrastive losses (`cpu` backend) vs the naive reference vs the GEMM floor.

Forward + backward, fp32, d = 768:
  - MIL-NCE, K = 4 candidates: `milnce_loss(v, t)`;
  - CLIP + α-NTX on one (v, t) pair, as the objectives use them: the fused path takes both from
    one `infonce_directional` call, the reference calls `clip_loss` and `ntx_loss` (reference.md §4).
The GEMM floor is the three matrix products no implementation can avoid, with torch.matmul on
the same shapes: S = v tᵀ (forward), dS t and dSᵀ v (backward).

Each measurement runs in fresh subprocesses: time is the median of the repeats, memory the peak
resident-set growth (ru_maxrss) of one step over the process's state after a small warm-up run of the
same code (which loads the libraries), in a worker whose allocator unmaps large blocks when freed
(harness.live_memory_env), i.e. the peak live extra memory of the operation.

    .venv/bin/python benchmarks/bench_contrastive.py [--sizes 512 1024 2048 4096] [--repeats 3]
    .venv/bin/python -m pytest benchmarks/bench_contrastive.py    (small sizes, pytest-benchmark)
"""
import argparse
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import (Metric, bench_parser, finish, live_memory_env, markdown_table, measurement_rows,  # noqa: E402
                     median_time, peak_rss_bytes, print_json_line, run_worker)
from results import machine  # noqa: E402
from surgvlp_fast import losses  # noqa: E402
from surgvlp_fast._native import native_submodule  # noqa: E402
from surgvlp_fast.losses import reference  # noqa: E402

WIDTH, CANDIDATES, ALPHA = 768, 4, 0.75
IMPLEMENTATIONS = ("fused_cpu", "reference", "gemm_floor")
TARGETS = {"milnce": 4096, "clip_ntx": 8192}  # performance.md: the sizes the targets are set at
METRICS = [Metric("seconds", "time", "s", ".4f"), Metric("peak_extra_mb", "peak_extra_memory", "MB", ".1f")]
RATIOS = [Metric(name, name, "ratio", ".3f") for name in ("time_vs_naive", "time_vs_floor", "memory_vs_naive")]


def make_inputs(loss: str, batch: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    # MIL-NCE takes raw dot products: scale like unit-norm embeddings so the logits are O(1).
    # In place, so no freed temporary hides in the resident-set baseline.
    v = torch.randn(batch, WIDTH, generator=gen).div_(WIDTH ** 0.5)
    shape = (batch, CANDIDATES, WIDTH) if loss == "milnce" else (batch, WIDTH)
    t = torch.randn(*shape, generator=gen).div_(WIDTH ** 0.5)
    return v.requires_grad_(), t.requires_grad_()


def step(loss: str, implementation: str, v, t):
    """One forward + backward."""
    if implementation == "gemm_floor":
        vd, td = v.detach(), t.detach().reshape(-1, WIDTH)
        s = vd @ td.T
        s @ td
        s.T @ vd
        return
    v.grad = t.grad = None
    if loss == "milnce":
        value = (losses.milnce_loss(v, t, backend="cpu") if implementation == "fused_cpu"
                 else reference.milnce_loss(v, t))
    elif implementation == "fused_cpu":
        v_to_t, t_to_v = losses.infonce_directional(v, t, backend="cpu")
        value = 0.5 * (v_to_t + t_to_v) + ALPHA * v_to_t + (1 - ALPHA) * t_to_v
    else:
        value = reference.clip_loss(v, t) + reference.ntx_loss(v, t, ALPHA)
    value.backward()


def measure_here(loss: str, implementation: str, batch: int, repeats: int, memory: bool) -> dict:
    """Runs in the fresh subprocess: the median time of `repeats` steps, or (`memory`) one step's peak."""
    warm_v, warm_t = make_inputs(loss, 64, seed=1)
    step(loss, implementation, warm_v, warm_t)
    v, t = make_inputs(loss, batch)
    if not memory:
        return {"seconds": median_time(lambda: step(loss, implementation, v, t), repeats, warmup=0)}
    base = peak_rss_bytes()
    step(loss, implementation, v, t)
    return {"peak_extra_mb": (peak_rss_bytes() - base) / 2**20}


def measure(loss: str, implementation: str, batch: int, repeats: int) -> dict:
    """{"seconds", "peak_extra_mb"}: the time and the memory, each from its own fresh worker."""
    one = ["--one", loss, implementation, batch, repeats]
    return {**run_worker(__file__, one), **run_worker(__file__, [*one, "--memory"], env=live_memory_env())}


def main(argv=None) -> None:
    parser = bench_parser(__doc__, repeats=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--losses", nargs="+", default=["milnce", "clip_ntx"], choices=["milnce", "clip_ntx"])
    parser.add_argument("--one", nargs=4, metavar=("LOSS", "IMPL", "B", "REPEATS"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        loss, implementation, batch, repeats = args.one
        print_json_line(measure_here(loss, implementation, int(batch), int(repeats), args.memory))
        return
    if native_submodule("losses") is None:
        sys.exit("bench_contrastive: the compiled core is not available (build it, or unset SURGVLP_FAST_DISABLE_NATIVE)")
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at start")
    lines, rows = [], []
    for loss in args.losses:
        sizes = sorted(set(args.sizes) | {TARGETS[loss]})
        for batch in sizes:
            got = {impl: measure(loss, impl, batch, args.repeats) for impl in IMPLEMENTATIONS}
            fused, naive, floor = (got[i] for i in IMPLEMENTATIONS)
            ratios = {"time_vs_naive": fused["seconds"] / naive["seconds"],
                      "time_vs_floor": fused["seconds"] / floor["seconds"],
                      "memory_vs_naive": fused["peak_extra_mb"] / max(naive["peak_extra_mb"], 1e-9)}
            print_json_line({"loss": loss, "batch": batch, "results": got, "ratios": ratios})
            lines.append([loss, batch, *(f"{r['seconds']:.3f}" for r in (fused, naive, floor)),
                          *(f"{r['peak_extra_mb']:.1f}" for r in (fused, naive, floor)),
                          f"{ratios['time_vs_naive']:.2f}", f"{ratios['time_vs_floor']:.2f}",
                          f"{ratios['memory_vs_naive']:.3f}"])
            size = f"B={batch},K={CANDIDATES},d={WIDTH}" if loss == "milnce" else f"B={batch},d={WIDTH}"
            rows += measurement_rows(f"contrastive_{loss}", size, got, METRICS)
            rows += measurement_rows(f"contrastive_{loss}", size, {"fused_cpu": ratios}, RATIOS)
    table = markdown_table(["loss", "B", "fused s", "naive s", "floor s", "fused MB", "naive MB", "floor MB",
                            "t/naive", "t/floor", "mem/naive"], lines)
    finish(args, f"{table}\n\nload average {os.getloadavg()[0]:.1f} at the end; targets (performance.md) at the "
                 "largest sizes: t/naive <= 1.0, t/floor <= 1.5, mem/naive <= 0.05", rows)


# pytest-benchmark: small sizes, the three implementations side by side per loss.
needs_native = pytest.mark.skipif(native_submodule("losses") is None, reason="the compiled core is hidden or not built")


@needs_native
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("loss", ["milnce", "clip_ntx"])
def test_contrastive(benchmark, loss, implementation):
    benchmark.group = f"contrastive_{loss}_B256"
    v, t = make_inputs(loss, 256)
    benchmark(step, loss, implementation, v, t)


if __name__ == "__main__":
    main()
