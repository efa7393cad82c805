"""How `import-surglavi`'s cost grows with the database: captions 14k to 113k by default, the videos
scaled with them at bench_surglavi_import's default ratio (6,812 videos for 113k captions).

The database and the linked H.264 videos are bench_surglavi_import's (make_database, make_videos);
the import runs in this process through `surgvlp-fast`'s entry (bench_surglavi_import.our_import):
once fresh (fresh output folder and frame-index cache) and once more over the finished folder. The
exponents are least-squares slopes of log(time) against log(captions): expected ≈ 1 for both (row
checks and writes per caption, one probe per video, videos in proportion to the captions).

    .venv/bin/python benchmarks/bench_curve_import.py [--rows 14000 28000 56000 113000]
    tiny check: --rows 200 400 --no-csv
"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_curve_losses import fitted_exponent  # noqa: E402
from bench_surglavi_import import our_import, prepare_inputs  # noqa: E402
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402

BENCHMARK = "curve_import_surglavi"
VIDEOS_PER_CAPTION = 6812 / 113_000   # bench_surglavi_import's default (the release's size)
METRICS = [Metric("fresh", "time_fresh", "s", ".3f"), Metric("rerun", "time_rerun", "s", ".3f")]
EXPONENTS = [Metric(f"{m.key}_exponent", f"{m.name}_exponent", "log-log slope", ".3f") for m in METRICS]
EXPECTED = {"time_fresh": 1, "time_rerun": 1}


def timed_import(db, video_root, out) -> float:
    start = time.perf_counter()
    code, summary = our_import(db, video_root, out)
    if code != 0:
        raise SystemExit(f"import-surglavi failed on {db}:\n{summary}")
    return time.perf_counter() - start


def measure(work, rows, videos) -> dict:
    """Fresh and rerun seconds of the import of a generated database (made once in `work`)."""
    db, video_root, out = prepare_inputs(work, rows, videos)
    return {"fresh": timed_import(db, video_root, out), "rerun": timed_import(db, video_root, out)}


def main(argv=None) -> list:
    """Measure, print the table, append the rows unless --no-csv; returns the rows."""
    parser = bench_parser(__doc__, workdir="surglavi_import_bench")
    parser.add_argument("--rows", type=int, nargs="+", default=[14_000, 28_000, 56_000, 113_000],
                        help="captions in the generated databases")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.rows))
    videos = {n: max(1, round(n * VIDEOS_PER_CAPTION)) for n in sizes}
    points = {n: measure(os.path.join(args.workdir, f"r{n}_v{videos[n]}"), n, videos[n]) for n in sizes}
    fit = {f"{m.key}_exponent": fitted_exponent(sizes, [points[n][m.key] for n in sizes]) for m in METRICS}
    rows = [row for n in sizes for row in measurement_rows(
        BENCHMARK, f"{n} captions {videos[n]} videos", {"import_surglavi": points[n]}, METRICS)]
    rows += measurement_rows(BENCHMARK, f"{sizes[0]}..{sizes[-1]} captions", {"import_surglavi": fit}, EXPONENTS)
    table = markdown_table(["captions", "videos", "fresh s", "rerun s"],
                           [[n, videos[n], f"{points[n]['fresh']:.2f}", f"{points[n]['rerun']:.2f}"] for n in sizes])
    shown = {k: "-" if v is None else f"{v:.2f}" for k, v in fit.items()}
    finish(args, f"{table}\n\nexponents (log-log slope on the captions): fresh {shown['fresh_exponent']} "
                 f"(expected ≈ {EXPECTED['time_fresh']}), rerun {shown['rerun_exponent']} "
                 f"(expected ≈ {EXPECTED['time_rerun']})", rows)
    return rows


def test_curve_import(tmp_path, monkeypatch):
    """Tiny sizes: one row per size and metric, finite exponents."""
    monkeypatch.setenv("SURGVLP_FAST_VIDEO_INDEX_DIR", str(tmp_path))   # restored after main() sets it
    rows = main(["--rows", "200", "400", "--no-csv", "--workdir", str(tmp_path)])
    for metric in EXPECTED:
        assert [r["size"].split()[0] for r in rows if r["metric"] == metric] == ["200", "400"]
        assert math.isfinite(float(next(r["value"] for r in rows if r["metric"] == f"{metric}_exponent")))


if __name__ == "__main__":
    main()
