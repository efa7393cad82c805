"""The fused losses on a GPU: Triton kernels vs the naive reference vs the GEMM floor, side by side.

Forward + backward on CUDA tensors, d = 768, for each batch size and dtype:
  - MIL-NCE, K = 4 candidates;
  - CLIP + α-NTX of one (v, t) pair (fused: one `infonce_directional` call; naive: the reference's
    clip_loss + ntx_loss);
  - the level loss (HecVL `hier_infonce`, K = 8 children) through the objective;
  - the GEMM floor: the three products no implementation avoids (S = v tᵀ, dS·t, dSᵀ·v);
and soft-DTW (Triton vs the anti-diagonal plain-PyTorch form) at B = 256, T = 64, N = 8.
Time: median of CUDA-event timings; memory: peak CUDA memory allocated during the step above
what was allocated before it. A run that does not fit in memory is reported as "oom".

    python benchmarks/bench_gpu_losses.py [--sizes 4096 16384 32768] [--dtypes bf16 fp32] [--json OUT]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import (Metric, bench_parser, cuda_device, finish, markdown_table, measurement_rows,  # noqa: E402
                     median_time, print_json_line)
from surgvlp_fast import losses  # noqa: E402
from surgvlp_fast.losses import reference  # noqa: E402
from surgvlp_fast.losses.objectives import LevelEmbeddings, build_objective  # noqa: E402
from surgvlp_fast.losses.softdtw import soft_dtw  # noqa: E402

WIDTH, CANDIDATES, CHILDREN, ALPHA = 768, 4, 8, 0.75
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
IMPLEMENTATIONS = ("fused", "naive", "gemm_floor")
TIME = Metric("seconds", "fwd+bwd time", "ms", ".3f", 1000)
METRICS = [TIME, Metric("peak_bytes", "peak CUDA memory", "MB", ".1f", 2**-20)]


def make_inputs(loss, batch, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    k = {"milnce": CANDIDATES, "level": CHILDREN}.get(loss)
    v = torch.randn(batch, WIDTH, generator=g, device=device).div_(WIDTH ** 0.5).to(dtype)
    t = torch.randn(batch, *((k,) if k else ()), WIDTH, generator=g, device=device).div_(WIDTH ** 0.5).to(dtype)
    extra = [torch.randn(batch, WIDTH, generator=g, device=device).to(dtype)] if loss == "level" else []
    return [x.requires_grad_() for x in (v, t, *extra)]


def step(loss, implementation, tensors):
    """One forward + backward."""
    if implementation == "gemm_floor":
        v, t = tensors[0].detach(), tensors[1].detach().reshape(-1, WIDTH)
        columns = v.shape[0] * (CANDIDATES if loss == "milnce" else 1)
        t = t[:columns]
        s = v @ t.T
        s @ t
        s.T @ v
        return
    for x in tensors:
        x.grad = None
    backend = "triton" if implementation == "fused" else "reference"
    if loss == "milnce":
        value = losses.milnce_loss(*tensors[:2], backend=backend)
    elif loss == "clip_ntx":
        v, t = tensors
        if implementation == "fused":
            to_t, to_v = losses.infonce_directional(v, t, backend=backend)
            value = 0.5 * (to_t + to_v) + ALPHA * to_t + (1 - ALPHA) * to_v
        else:
            value = reference.clip_loss(v, t) + reference.ntx_loss(v, t, ALPHA)
    else:
        video, children, parent = tensors
        value, _ = build_objective("hecvl", backend=backend).video(
            LevelEmbeddings(video.unsqueeze(1).float(), parent.float(), children.float()))
    value.backward()


def measure(loss, implementation, batch, dtype, repeats, device):
    """{"seconds", "peak_bytes"} or {"error": "oom"}."""
    torch.cuda.empty_cache()
    try:
        tensors = make_inputs(loss, batch, dtype, device)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(loss, implementation, tensors)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        seconds = median_time(lambda: step(loss, implementation, tensors), repeats, cuda=True)
        return {"seconds": seconds, "peak_bytes": peak}
    except torch.cuda.OutOfMemoryError:
        return {"error": "oom"}
    finally:
        tensors = None
        torch.cuda.empty_cache()


def measure_softdtw(batch, repeats, device):
    g = torch.Generator(device=device).manual_seed(0)
    cost = torch.rand(batch, 64, 8, generator=g, device=device).requires_grad_()
    mask = torch.arange(8, device=device)[None, :] < torch.randint(2, 9, (batch, 1), generator=g, device=device)
    out = {}
    for name, backend in (("triton", "triton"), ("vectorised pytorch", "reference")):
        def run():
            cost.grad = None
            soft_dtw(cost, mask, 0.1, backend=backend).sum().backward()
        out[name] = {"seconds": median_time(run, repeats, cuda=True)}
    return out


def rows_of(results):
    """results.csv rows of a results dict (the JSON this script writes)."""
    rows = []
    for entry in results["losses"]:
        rows += measurement_rows(f"gpu_{entry['loss']}", f"B={entry['batch']} d={WIDTH} {entry['dtype']}",
                                 entry["results"], METRICS, error_metric="fwd+bwd")
    if "softdtw" in results:
        rows += measurement_rows("gpu_softdtw", f"B={results['softdtw_batch']} T=64 N<=8", results["softdtw"], [TIME])
    return rows


def table(results) -> str:
    """Markdown table: time and memory per loss, size and dtype, with the ratios to the floor and naive."""
    lines = []
    for e in results["losses"]:
        r = e["results"]
        ms = {k: (f"{v['seconds'] * 1000:.2f}" if "seconds" in v else v["error"]) for k, v in r.items()}
        mb = {k: (f"{v['peak_bytes'] / 2**20:.0f}" if "peak_bytes" in v else v["error"]) for k, v in r.items()}
        fused, floor, naive = r.get("fused", {}), r.get("gemm_floor", {}), r.get("naive", {})
        ratio = f"{fused['seconds'] / floor['seconds']:.2f}" if "seconds" in fused and "seconds" in floor else "-"
        mem = (f"{fused['peak_bytes'] / naive['peak_bytes']:.3f}" if "peak_bytes" in fused and "peak_bytes" in naive
               else "-")
        lines.append([e["loss"], e["batch"], e["dtype"], ms.get("fused", "-"), ms.get("naive", "-"),
                      ms.get("gemm_floor", "-"), ratio, mb.get("fused", "-"), mb.get("naive", "-"), mem])
    text = markdown_table(["loss", "B", "dtype", "fused ms", "naive ms", "floor ms", "fused/floor", "fused MB",
                           "naive MB", "fused/naive mem"], lines)
    if results.get("softdtw"):
        s = results["softdtw"]
        text += (f"\n\nsoft-DTW B = {results['softdtw_batch']}: Triton {s['triton']['seconds'] * 1000:.2f} ms, "
                 f"vectorised PyTorch {s['vectorised pytorch']['seconds'] * 1000:.2f} ms")
    return text


def main(argv=None):
    parser = bench_parser(__doc__, repeats=5, json_out=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384, 32768])
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--losses", nargs="+", default=["milnce", "clip_ntx", "level"],
                        choices=["milnce", "clip_ntx", "level"])
    parser.add_argument("--softdtw-batch", type=int, default=256)
    args = parser.parse_args(argv)
    name = cuda_device("bench_gpu_losses")
    if name is None:
        return 2
    device = torch.device("cuda")
    results = {"losses": [], "device": name}
    for loss in args.losses:
        for dtype_name in args.dtypes:
            for batch in args.sizes:
                r = {impl: measure(loss, impl, batch, DTYPES[dtype_name], args.repeats, device)
                     for impl in IMPLEMENTATIONS if not (impl == "gemm_floor" and loss == "level")}
                results["losses"].append({"loss": loss, "batch": batch, "dtype": dtype_name, "results": r})
                print_json_line(results["losses"][-1])
    results["softdtw_batch"] = args.softdtw_batch
    results["softdtw"] = measure_softdtw(args.softdtw_batch, args.repeats, device)
    finish(args, table(results), rows_of(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
