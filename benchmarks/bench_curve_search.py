"""How a text search's cost grows with the index: `Index.search_embedding` (exact top 10 over float16
rows, adjacent seconds merged) against the number of rows, 125k to 1M by default, d = 768, one thread.

Each point is the median time per query over --repeats queries after one warm-up query, on an index
made by bench_search.make_index (random unit rows, memory-mapped; shared with bench_search's
--workdir). The exponent is the least-squares slope of log(time) against log(rows): expected ≈ 1 (a
scan of every row).

    .venv/bin/python benchmarks/bench_curve_search.py [--rows 125000 250000 500000 1000000] [--repeats 5]
    tiny check: --rows 2000 4000 --dim 64 --repeats 1 --no-csv
"""
import itertools
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_curve_losses import fitted_exponent  # noqa: E402
from bench_search import make_index  # noqa: E402
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows, median_time  # noqa: E402

BENCHMARK = "curve_search"
METRICS = [Metric("seconds", "time_per_query", "s", ".5f")]
EXPONENTS = [Metric("exponent", "time_per_query_exponent", "log-log slope", ".3f")]
EXPECTED = {"time_per_query": 1}


def main(argv=None) -> list:
    """Measure, print the table, append the rows unless --no-csv; returns the rows."""
    parser = bench_parser(__doc__, repeats=5, threads=1, workdir="surgvlp_bench_search")
    parser.add_argument("--rows", type=int, nargs="+", default=[125_000, 250_000, 500_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = sorted(set(args.rows))
    generator = torch.Generator().manual_seed(1)
    queries = torch.nn.functional.normalize(torch.randn(args.repeats + 1, args.dim, generator=generator), dim=1)
    calls = itertools.count()
    seconds = {}
    for n in sizes:
        index = make_index(os.path.join(args.workdir, f"{n}x{args.dim}"), n, args.dim)
        seconds[n] = median_time(lambda: index.search_embedding(queries[next(calls) % len(queries)], args.top),
                                 repeats=args.repeats, warmup=1)
    exponent = fitted_exponent(sizes, [seconds[n] for n in sizes])
    shape = f"x{args.dim} top{args.top} {args.threads} thread(s)"
    rows = [row for n in sizes for row in measurement_rows(
        BENCHMARK, f"{n}{shape}", {"index": {"seconds": seconds[n]}}, METRICS)]
    rows += measurement_rows(BENCHMARK, f"{sizes[0]}..{sizes[-1]}{shape}", {"index": {"exponent": exponent}},
                             EXPONENTS)
    table = markdown_table(["index rows", "ms / query", "rows / s"],
                           [[n, f"{seconds[n] * 1000:.2f}", f"{n / seconds[n]:.3g}"] for n in sizes])
    shown = "-" if exponent is None else f"{exponent:.2f}"
    finish(args, f"{table}\n\nexponent (log-log slope on the rows, d = {args.dim}, top {args.top}, "
                 f"{args.threads} thread(s)): {shown} (expected ≈ {EXPECTED['time_per_query']})", rows)
    return rows


def test_curve_search(tmp_path):
    """Tiny sizes: one time row per size and a finite exponent."""
    rows = main(["--rows", "2000", "4000", "--dim", "64", "--repeats", "1", "--no-csv", "--workdir", str(tmp_path)])
    assert [r["size"].split("x")[0] for r in rows if r["metric"] == "time_per_query"] == ["2000", "4000"]
    assert math.isfinite(float(next(r["value"] for r in rows if r["metric"] == "time_per_query_exponent")))


if __name__ == "__main__":
    main()
