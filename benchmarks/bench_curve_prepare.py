"""How building the training cache grows with the number of videos: `surgvlp-fast prepare-videos`
over 2 to 16 short videos by default (testsrc2 made with the ffmpeg CLI, 20 s 640x360 at 25 fps, a
different hue per video), and opening the datasets' frame indexes over the cache.

The command runs in this process through its entry (`surgvlp_fast.cli.main`, output captured).
Per point: the time of one fresh run into an empty cache (encode and index every video); the median
time of a rerun over the finished cache (every video skipped: its sidecar read); the median time of
`surgvlp_fast.video.index.load_index` on every cached video (what the training datasets do when they
open the cache). The exponents are least-squares slopes of log(time) against log(videos): expected
≈ 1 for all three (the same work per video; the rerun's is tiny).

    .venv/bin/python benchmarks/bench_curve_prepare.py [--videos 2 4 8 16] [--jobs 1] [--repeats 3]
    tiny check: --videos 1 2 --seconds 2 --frame-size 160x120 --repeats 1 --no-csv
"""
import contextlib
import glob
import io
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_curve_losses import fitted_exponent  # noqa: E402
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows, median_time  # noqa: E402
from surgvlp_fast import cli  # noqa: E402
from surgvlp_fast.video.index import forget_loaded_indexes, load_index  # noqa: E402

BENCHMARK = "curve_prepare_videos"
METRICS = [Metric("fresh", "time_fresh", "s", ".3f"), Metric("rerun", "time_rerun", "s", ".4f"),
           Metric("index_open", "index_open_time", "s", ".5f")]
EXPONENTS = [Metric(f"{m.key}_exponent", f"{m.name}_exponent", "log-log slope", ".3f") for m in METRICS]
EXPECTED = {"time_fresh": 1, "time_rerun": 1, "index_open_time": 1}


def make_sources(folder, count, seconds, frame_size) -> list:
    """`count` H.264 lectures `lecture000.mp4`, ... (made once, then reused), each of its own hue."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"lecture{i:03d}.mp4")
        if not os.path.exists(path):
            subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                            f"testsrc2=size={frame_size}:rate=25:duration={seconds}", "-vf", f"hue=h={i * 47 % 360}",
                            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-f", "mp4",
                            path + ".part"], check=True)
            os.replace(path + ".part", path)
        paths.append(path)
    return paths


def prepare_videos(src, dst, jobs):
    """`surgvlp-fast prepare-videos SRC DST --jobs N` in this process; its output is shown only on failure."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli.main(["prepare-videos", src, dst, "--jobs", str(jobs)])
    if code != 0:
        raise SystemExit(f"prepare-videos {src} failed:\n{out.getvalue()}")


def measure(sources, work, jobs, repeats) -> dict:
    """Seconds of a fresh run, a rerun and the index opening, for a folder linking to `sources`."""
    src, dst = os.path.join(work, "src"), os.path.join(work, "cache")
    os.makedirs(src, exist_ok=True)
    for path in sources:
        link = os.path.join(src, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
    shutil.rmtree(dst, ignore_errors=True)
    start = time.perf_counter()
    prepare_videos(src, dst, jobs)
    fresh = time.perf_counter() - start
    cached = sorted(glob.glob(os.path.join(dst, "*.mp4")))
    # each timing starts from the disk, as a fresh process would, not from this process's loaded indexes
    return {"fresh": fresh,
            "rerun": median_time(lambda: (forget_loaded_indexes(), prepare_videos(src, dst, jobs)), repeats=repeats),
            "index_open": median_time(lambda: (forget_loaded_indexes(), [load_index(path) for path in cached]),
                                      repeats=repeats)}


def main(argv=None) -> list:
    """Measure, print the table, append the rows unless --no-csv; returns the rows."""
    parser = bench_parser(__doc__, repeats=3, workdir="surgvlp_bench_curve_prepare")
    parser.add_argument("--videos", type=int, nargs="+", default=[2, 4, 8, 16], help="numbers of videos")
    parser.add_argument("--seconds", type=float, default=20, help="length of each video")
    parser.add_argument("--frame-size", default="640x360")
    parser.add_argument("--jobs", type=int, default=1, help="prepare-videos --jobs")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.videos))
    shape = f"{args.seconds:g}s {args.frame_size}"
    sources = make_sources(os.path.join(args.workdir, f"sources_{shape.replace(' ', '_')}"), sizes[-1], args.seconds,
                           args.frame_size)
    points = {n: measure(sources[:n], os.path.join(args.workdir, f"{n}_{shape.replace(' ', '_')}"), args.jobs,
                         args.repeats) for n in sizes}
    fit = {f"{m.key}_exponent": fitted_exponent(sizes, [points[n][m.key] for n in sizes]) for m in METRICS}
    size = f"videos of {shape}, {args.jobs} jobs"
    rows = [row for n in sizes for row in measurement_rows(BENCHMARK, f"{n} {size}", {"prepare_videos": points[n]},
                                                            METRICS)]
    rows += measurement_rows(BENCHMARK, f"{sizes[0]}..{sizes[-1]} {size}", {"prepare_videos": fit}, EXPONENTS)
    table = markdown_table([f"videos ({shape}, {args.jobs} jobs)", "fresh s", "rerun s", "index opening ms"],
                           [[n, f"{points[n]['fresh']:.2f}", f"{points[n]['rerun']:.3f}",
                             f"{points[n]['index_open'] * 1000:.2f}"] for n in sizes])
    shown = {k: "-" if v is None else f"{v:.2f}" for k, v in fit.items()}
    finish(args, f"{table}\n\nexponents (log-log slope on the videos): fresh {shown['fresh_exponent']}, "
                 f"rerun {shown['rerun_exponent']}, index opening {shown['index_open_exponent']} "
                 f"(expected ≈ 1 each)", rows)
    return rows


def test_curve_prepare(tmp_path):
    """Tiny sizes: one row per size and metric, finite exponents."""
    rows = main(["--videos", "1", "2", "--seconds", "2", "--frame-size", "160x120", "--repeats", "1", "--no-csv",
                 "--workdir", str(tmp_path)])
    for metric in EXPECTED:
        assert [r["size"].split()[0] for r in rows if r["metric"] == metric] == ["1", "2"]
        assert math.isfinite(float(next(r["value"] for r in rows if r["metric"] == f"{metric}_exponent")))


if __name__ == "__main__":
    main()
