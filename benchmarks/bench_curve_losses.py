"""How the contrastive losses' cost grows with the batch: each fused loss (`cpu` backend) against the
naive reference, B from 1k to 32k, forward + backward, fp32, d = 768 (MIL-NCE with K = 4).

Every point is one fresh subprocess of bench_contrastive.py's measurement (median time of the
repeats, peak resident-set growth over a warmed-up process); the exponents are least-squares slopes
of log(cost) against log(B). Expected: time ≈ 2 for both (the B x B similarities), peak memory ≈ 1
fused (tiles, never the B x B matrix) and ≈ 2 naive. A point that fails (out of memory) is reported
and left out of the fit.

    .venv/bin/python benchmarks/bench_curve_losses.py [--sizes 1024 2048 4096 8192 16384 32768] [--repeats 3]
    tiny check: --sizes 64 128 256 --repeats 1 --no-csv
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_contrastive  # noqa: E402
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast._native import native_submodule  # noqa: E402

IMPLEMENTATIONS = ("fused_cpu", "reference")
BENCHMARKS = ("curve_milnce", "curve_clip_ntx")
EXPECTED = {"time": 2, "peak_extra_memory": {"fused_cpu": 1, "reference": 2}}   # per metric (per implementation)
METRICS = [Metric("seconds", "time", "s", ".4f"), Metric("peak_extra_mb", "peak_extra_memory", "MB", ".1f")]
EXPONENTS = [Metric("time_exponent", "time_exponent", "log-log slope", ".3f"),
             Metric("memory_exponent", "memory_exponent", "log-log slope", ".3f")]


def fitted_exponent(sizes, values):
    """Least-squares slope of log(value) on log(size) over the positive points; None with < 2."""
    points = [(s, v) for s, v in zip(sizes, values) if v is not None and v > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def measure(loss, implementation, batch, repeats):
    try:
        return bench_contrastive.measure(loss, implementation, batch, repeats)
    except subprocess.CalledProcessError as err:
        reason = (err.stderr or "").strip().splitlines()[-1:] or [f"exit status {err.returncode}"]
        return {"error": reason[0][:200]}


def main(argv=None):
    parser = bench_parser(__doc__, repeats=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384, 32768])
    parser.add_argument("--losses", nargs="+", default=["milnce", "clip_ntx"], choices=["milnce", "clip_ntx"])
    args = parser.parse_args(argv)
    if native_submodule("losses") is None:
        sys.exit("bench_curve_losses: the compiled core is not available "
                 "(build it, or unset SURGVLP_FAST_DISABLE_NATIVE)")
    sizes = sorted(set(args.sizes))
    lines, rows, fits = [], [], []
    for loss in args.losses:
        for implementation in IMPLEMENTATIONS:
            points = {b: measure(loss, implementation, b, args.repeats) for b in sizes}
            seconds = [points[b].get("seconds") for b in sizes]
            memory = [points[b].get("peak_extra_mb") for b in sizes]
            fit = {"time_exponent": fitted_exponent(sizes, seconds),
                   "memory_exponent": fitted_exponent(sizes, memory)}
            fits.append([loss, implementation, *(f"{fit[k]:.2f}" if fit[k] is not None else "-" for k in fit)])
            for b in sizes:
                p = points[b]
                lines.append([loss, implementation, b, p.get("error") or f"{p['seconds']:.4f}",
                              "" if "error" in p else f"{p['peak_extra_mb']:.1f}"])
                size = f"B={b},K={bench_contrastive.CANDIDATES},d={bench_contrastive.WIDTH}" if loss == "milnce" \
                    else f"B={b},d={bench_contrastive.WIDTH}"
                rows += measurement_rows(f"curve_{loss}", size, {implementation: p}, METRICS)
            rows += measurement_rows(f"curve_{loss}", f"B={sizes[0]}..{sizes[-1]}", {implementation: fit}, EXPONENTS)
    table = markdown_table(["loss", "implementation", "B", "time s", "peak extra MB"], lines)
    exponents = markdown_table(["loss", "implementation", "time exponent", "memory exponent"], fits)
    finish(args, f"{table}\n\n{exponents}\n\nexpected: time ≈ 2 for both; memory ≈ 1 fused, ≈ 2 naive", rows)


if __name__ == "__main__":
    main()


def test_curve_losses(capsys, monkeypatch):
    """Tiny sizes, the fused loss alone (a fresh process per point): a row per size, a finite time exponent."""
    if native_submodule("losses") is None:
        import pytest
        pytest.skip("the compiled core is not built")
    monkeypatch.setitem(globals(), "IMPLEMENTATIONS", ("fused_cpu",))
    main(["--sizes", "64", "128", "--losses", "milnce", "--repeats", "1", "--no-csv"])
    out = capsys.readouterr().out
    cells = [line.strip("| ").split(" | ") for line in out.splitlines() if line.startswith("| milnce")]
    assert [c[2] for c in cells if len(c) == 5] == ["64", "128"]
    (fit,) = [c for c in cells if len(c) == 4]
    assert np.isfinite(float(fit[2]))
