"""Log-log plots of the cost curves: `.venv/bin/python benchmarks/plot_curves.py [--csv PATH] [--out DIR]`.

For each curve benchmark (`curve_*`) in results.csv, from the newest non-noisy row of each cell
(report.latest_rows): one panel per unit, the measured points of each implementation and metric
against the size (the first number of the size column), a dashed least-squares line through them,
and in the legend its exponent (bench_curve_losses.fitted_exponent, the fit the benchmarks print)
next to the expected one. Exponent and error rows are not drawn. Writes DIR/<benchmark>.png
(default docs/images); a known curve without rows yet is listed on stderr.
"""
import argparse
import os
import re
import sys
from collections import defaultdict

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_curve_import  # noqa: E402
import bench_curve_losses  # noqa: E402
import bench_curve_prepare  # noqa: E402
import bench_curve_sampling  # noqa: E402
import bench_curve_search  # noqa: E402
from bench_curve_losses import fitted_exponent  # noqa: E402
from report import latest_rows  # noqa: E402
from results import RESULTS_CSV, append_rows  # noqa: E402

IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "images")
# {benchmark: {metric: expected exponent, or {implementation: expected exponent}}}, as each benchmark states it
EXPECTED = {**{name: bench_curve_losses.EXPECTED for name in bench_curve_losses.BENCHMARKS},
            **{m.BENCHMARK: m.EXPECTED for m in (bench_curve_sampling, bench_curve_prepare, bench_curve_import,
                                                  bench_curve_search)}}
FIRST_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def curve_points(cells) -> dict:
    """{benchmark: {unit: {(implementation, metric, shape): [(size, value), ...]}}} of the measured curve
    rows with a positive value; `shape` is the size column with its first number written N."""
    curves = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for (bench, metric, unit, size, impl), row in cells.items():
        number = FIRST_NUMBER.search(size)
        if not bench.startswith("curve_") or unit in ("", "log-log slope") or number is None:
            continue
        try:
            value = float(row["value"])
        except ValueError:
            continue
        if value <= 0:   # no place on a log axis
            continue
        shape = size[:number.start()] + "N" + size[number.end():]
        curves[bench][unit][(impl, metric, shape)].append((float(number.group()), value))
    return curves


def expected_exponent(bench, impl, metric) -> str:
    expected = EXPECTED.get(bench, {}).get(metric)
    expected = expected.get(impl) if isinstance(expected, dict) else expected
    return "?" if expected is None else f"{expected:g}"


def plot_curve(bench, panels, path):
    """One panel per unit: points, dashed fit, fitted and expected exponents in the legend."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (unit, series) in zip(axes[0], panels.items()):
        for (impl, metric, shape), points in sorted(series.items()):
            x, y = (np.array(v) for v in zip(*sorted(points)))
            slope = fitted_exponent(x, y)
            fitted = "—" if slope is None else f"{slope:.2f}"
            label = f"{impl} {metric}: {fitted} (expected ≈ {expected_exponent(bench, impl, metric)})"
            if sum(k[:2] == (impl, metric) for k in series) > 1:
                label += f" [{shape}]"
            line, = ax.plot(x, y, "o", label=label)
            if slope is not None:
                intercept = np.mean(np.log(y) - slope * np.log(x))
                ends = np.array([x.min(), x.max()])
                ax.plot(ends, np.exp(intercept) * ends ** slope, "--", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N of " + "; ".join(sorted({k[2] for k in series})))
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, title="fitted exponent (expected)", title_fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(bench)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> list:
    """Draw every curve with rows; returns the paths written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", default=RESULTS_CSV, help="the results to read (default: benchmarks/results.csv)")
    parser.add_argument("--out", default=IMAGES, help="where the PNGs go (default: docs/images)")
    args = parser.parse_args(argv)
    curves = curve_points(latest_rows(args.csv))
    for bench in sorted(set(EXPECTED) - set(curves)):
        print(f"plot_curves: {bench}: no rows in {args.csv} yet", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    written = []
    for bench, panels in sorted(curves.items()):
        written.append(os.path.join(args.out, f"{bench}.png"))
        plot_curve(bench, panels, written[-1])
        print(written[-1])
    return written


def test_plot_curves(tmp_path, capsys):
    """A tiny results.csv: a PNG per curve with rows, the curves without rows on stderr."""
    csv_path = str(tmp_path / "results.csv")
    rows = [{"benchmark": "curve_search", "implementation": "index", "metric": "time_per_query",
             "size": f"{n}x768 top10 1 thread(s)", "value": f"{n * 1e-7:.6f}", "unit": "s"} for n in (1000, 2000, 4000)]
    rows += [{"benchmark": "curve_search", "implementation": "index", "metric": "time_per_query_exponent",
              "size": "1000..4000x768 top10 1 thread(s)", "value": "1.000", "unit": "log-log slope"}]
    rows += [{"benchmark": "curve_milnce", "implementation": impl, "metric": metric, "size": f"B={b},K=4,d=768",
              "value": f"{b ** power:.1f}", "unit": unit} for impl in ("fused_cpu", "reference")
             for metric, unit, power in (("time", "s", 2), ("peak_extra_memory", "MB", 1)) for b in (64, 128)]
    append_rows(rows, path=csv_path, load=0.0)
    written = main(["--csv", csv_path, "--out", str(tmp_path / "images")])
    assert sorted(os.path.basename(p) for p in written) == ["curve_milnce.png", "curve_search.png"]
    assert all(os.path.getsize(p) > 0 for p in written)
    missing = capsys.readouterr().err
    assert "curve_clip_ntx: no rows" in missing and "curve_search" not in missing


if __name__ == "__main__":
    main()
