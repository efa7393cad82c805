"""How clip sampling's cost grows with the video's length: the clip recipe (4 frames of a 3-5 s
window at 2 fps, square crop, 336x336) from 720p 25 fps H.264 videos of 10 min, 1 h and 3 h
(a keyframe every 250 frames), with the native reader (else the first backend available).

Per video: the frame index's one-off scan (demuxing only: grows with the length) and the median
time per clip at random places (the keyframe index, one seek per clip: constant). The exponents
are least-squares slopes of log(time) against log(length): expected ≈ 1 for the scan, ≈ 0 per clip.
The long videos are the 10 min one concatenated (stream copy), so making them costs little.

    .venv/bin/python benchmarks/bench_curve_sampling.py [--minutes 10 60 180] [--clips 16] [--repeats 3]
    tiny check: --minutes 0.1 0.2 0.4 --frame-size 160x120 --clips 4 --repeats 1 --no-csv
"""
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_curve_losses import fitted_exponent  # noqa: E402
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast.pretrain.recipes import clip_frames  # noqa: E402
from surgvlp_fast.video import available_backends, open_video  # noqa: E402
from surgvlp_fast.video.index import load_index  # noqa: E402

BENCHMARK = "curve_clip_sampling"
EXPECTED = {"index_scan_time": 1, "time_per_clip": 0}
METRICS = [Metric("scan_s", "index_scan_time", "s", ".4f"), Metric("clip_s", "time_per_clip", "s", ".5f")]
EXPONENTS = [Metric("scan_exponent", "index_scan_exponent", "log-log slope", ".3f"),
             Metric("clip_exponent", "time_per_clip_exponent", "log-log slope", ".3f")]


def make_video(folder, minutes, frame_size, base_seconds):
    """A `minutes`-long video: a base segment made once, repeated by the concat demuxer (stream copy)."""
    base = os.path.join(folder, f"base_{frame_size}_{base_seconds}s.mp4")
    if not os.path.exists(base):
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={frame_size}:rate=25:duration={base_seconds}", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-preset", "veryfast", "-g", "250", base], check=True)
    total = float(minutes) * 60
    path = os.path.join(folder, f"{frame_size}_{minutes}min.mp4")
    if not os.path.exists(path):
        repeats = max(1, int(round(total / base_seconds)))
        listing = os.path.join(folder, f"{frame_size}_{minutes}min.txt")
        with open(listing, "w") as f:
            f.write(f"file '{os.path.abspath(base)}'\n" * repeats)
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", listing, "-c", "copy",
                        path], check=True)
    return path


def measure(path, backend, clips, repeats, seed=0):
    """(index scan seconds, median seconds per clip)."""
    start = time.perf_counter()
    load_index(path, use_cache=False)
    scan_s = time.perf_counter() - start
    reader = open_video(path, backend=backend)
    duration = reader.metadata.duration
    rng = np.random.default_rng(seed)
    starts = rng.uniform(0, max(duration - 6, 0), clips)
    windows = [(float(s), float(min(s + 5, duration))) for s in starts]
    clip_frames(reader, np.random.default_rng(seed), *windows[0])   # open the decoder outside the timing
    per_clip = []
    for r in range(repeats):
        draw = np.random.default_rng([seed, r])
        begin = time.perf_counter()
        for s, e in windows:
            clip_frames(reader, draw, s, e)
        per_clip.append((time.perf_counter() - begin) / clips)
    reader.close()
    return scan_s, float(np.median(per_clip))


def main(argv=None):
    parser = bench_parser(__doc__, repeats=3, workdir="surgvlp_bench_curve_sampling")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 180])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--frame-size", default="1280x720")
    parser.add_argument("--base-seconds", type=int, default=60, help="length of the segment the videos repeat")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    backend = next(b for b in available_backends() if b != "frames")
    base_seconds = max(1, min(args.base_seconds, int(min(args.minutes) * 60)))
    minutes = sorted(set(args.minutes))
    lines, points = [], {}
    for m in minutes:
        path = make_video(args.workdir, m, args.frame_size, base_seconds)
        scan_s, clip_s = measure(path, backend, args.clips, args.repeats)
        points[m] = {"scan_s": scan_s, "clip_s": clip_s}
        lines.append([f"{m:g} min", f"{scan_s:.3f}", f"{clip_s * 1000:.1f}"])
    fit = {"scan_exponent": fitted_exponent(minutes, [points[m]["scan_s"] for m in minutes]),
           "clip_exponent": fitted_exponent(minutes, [points[m]["clip_s"] for m in minutes])}
    table = markdown_table([f"video ({args.frame_size}, {backend})", "index scan s", "ms per clip"], lines)
    shown = {k: f"{v:.2f}" if v is not None else "-" for k, v in fit.items()}
    rows = [row for m in minutes for row in measurement_rows(
        BENCHMARK, f"{m:g} min {args.frame_size}, {args.clips} clips", {backend: points[m]}, METRICS)]
    rows += measurement_rows(BENCHMARK, f"{minutes[0]:g}..{minutes[-1]:g} min {args.frame_size}",
                             {backend: fit}, EXPONENTS)
    finish(args, f"{table}\n\nexponents (log-log slope on the length): index scan {shown['scan_exponent']} "
                 f"(expected ≈ 1), per clip {shown['clip_exponent']} (expected ≈ 0)", rows)


if __name__ == "__main__":
    main()


def test_curve_sampling(tmp_path, capsys):
    """Tiny videos: a row per length, finite exponents."""
    main(["--minutes", "0.1", "0.2", "--frame-size", "160x120", "--clips", "2", "--repeats", "1", "--no-csv",
          "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert [line.split(" | ")[0] for line in out.splitlines() if " min |" in line] == ["| 0.1 min", "| 0.2 min"]
    exponents = out.split("exponents")[1]
    assert all(np.isfinite(float(exponents.split(name)[1].split()[0])) for name in ("index scan", "per clip"))
