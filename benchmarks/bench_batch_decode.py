"""Batch-parallel clip decoding: a batch of clips (the clip recipe's 4 frames of a 3-5 s window,
square crop, 336x336, random flip) from several 720p 25 fps H.264 videos, 1 and 2 threads.

Implementations, on the same clip requests (the same tensors; checked):
- native batch     surgvlp_fast.video.decode_clips: the C++ sampler, one decoder per clip in flight
- native serial    one native reader per video (`threads` FFmpeg threads), the clips one by one (the old way)
- torchcodec pool  `threads` Python threads, each with its own torchcodec reader per video (one
                   decoder per thread: the same parallelism), the clips shared out round robin
at a keyframe every 250 frames (10 s) and every 25 frames (1 s).

    .venv/bin/python benchmarks/bench_batch_decode.py [--clips 16] [--videos 4] [--repeats 3]
Prints the table (clips/s, 2 threads / 1 thread, batch / torchcodec) and appends rows to
benchmarks/results.csv unless --no-csv. A tiny check: --seconds 8 --frame-size 160x120 --no-csv.
"""
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast.video import ClipRequest, available_backends, decode_clips, open_video  # noqa: E402

METRICS = [Metric("clips_per_s", "clips_per_s", "clips/s", ".3f")]


def make_video(path, gop, seconds, size, seed):
    if not os.path.exists(path):  # a different pattern per video: no two files decode alike
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=25:duration={seconds}", "-vf", f"hue=h={seed * 40}",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-g", str(gop), path],
                       check=True)
    return path


def clip_requests(paths, count, duration, out_size, seed=0):
    """`count` clips spread over `paths`: 4 frames of a 3-5 s window at 2 fps, a centred square crop."""
    rng = np.random.default_rng(seed)
    requests = []
    for k in range(count):
        path = paths[k % len(paths)]
        with open_video(path) as reader:
            width, height = reader.metadata.width, reader.metadata.height
        length = int(rng.integers(3, 6))
        seek = float(rng.integers(0, max(1, int(duration) - length)))
        positions = np.arange(length * 2)
        picked = positions[(np.arange(4) * 2 + 1) * len(positions) // 8]   # centres of 4 segments
        side = min(width, height)
        crop = ((width - side) // 2, (height - side) // 2, side, side)
        requests.append(ClipRequest(path, (seek + picked / 2.0).tolist(), crop=crop, size=out_size,
                                    flip=bool(rng.uniform() > 0.5)))
    return requests


def native_batch(requests, threads):
    return decode_clips(requests, threads=threads)


def reader_pool(requests, threads, readers):
    """Clips shared out over `threads` threads, thread w using its own readers (readers[w][path])."""
    def work(w):
        return [(k, readers[w][r.path].frames_at(r.timestamps, crop=r.crop, size=r.size, flip=r.flip))
                for k, r in enumerate(requests) if k % threads == w]

    if threads == 1:
        parts = [work(0)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(work, range(threads)))
    out = [None] * len(requests)
    for part in parts:
        for k, frames in part:
            out[k] = frames
    return out


def timed(fn, repeats):
    """(median clips/s over repeats after one warm-up call, the last output)."""
    out, rates = fn(), []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        rates.append(len(out) / (time.perf_counter() - start))
    return float(np.median(rates)), out


def measure(label, requests, repeats, backends):
    paths = sorted({r.path for r in requests})
    rows, outputs, opened = [], {}, []
    for threads in (1, 2):
        runs = []
        if "native" in backends:
            runs.append((f"native batch {threads}t", lambda t=threads: native_batch(requests, t)))
            serial = {p: open_video(p, backend="native", threads=threads) for p in paths}
            runs.append((f"native serial {threads}t", lambda s=serial: reader_pool(requests, 1, [s])))
            opened += serial.values()
        if "torchcodec" in backends:
            pools = [{p: open_video(p, backend="torchcodec") for p in paths} for _ in range(threads)]
            opened += [reader for pool in pools for reader in pool.values()]
            runs.append((f"torchcodec pool {threads}t",
                         lambda t=threads, r=pools: reader_pool(requests, t, r)))
        for name, fn in runs:
            rate, out = timed(fn, repeats)
            outputs[name] = torch.stack(out)
            rows.append({"video": label, "implementation": name, "clips_per_s": rate})
    for reader in opened:
        reader.close()
    return rows, outputs


def main(argv=None):
    parser = bench_parser(__doc__, repeats=3, workdir="surgvlp_bench_batch_decode")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--videos", type=int, default=4, help="videos the batch's clips come from")
    parser.add_argument("--seconds", type=int, default=60, help="length of each generated video")
    parser.add_argument("--frame-size", default="1280x720", help="generated videos' WxH")
    parser.add_argument("--out-size", type=int, default=336, help="clip frames' side after the crop")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)   # as in a DataLoader worker: the decoding threads are the knob measured
    os.makedirs(args.workdir, exist_ok=True)
    backends = [b for b in available_backends() if b in ("native", "torchcodec")]
    measured, notes = [], []
    for gop in (250, 25):
        paths = [make_video(os.path.join(args.workdir, f"{args.frame_size}_{args.seconds}s_gop{gop}_{v}.mp4"), gop,
                            args.seconds, args.frame_size, v) for v in range(args.videos)]
        label = f"{args.frame_size} gop{gop}"
        rows, outputs = measure(label, clip_requests(paths, args.clips, args.seconds, args.out_size),
                                args.repeats, backends)
        measured += rows
        names = list(outputs)
        same = all(torch.equal(outputs[names[0]], outputs[n]) for n in names[1:])
        notes.append(f"gop{gop}: every implementation returns the same tensors: {same}")

    def rate(video, impl):
        return next((r["clips_per_s"] for r in measured if r["video"] == video and r["implementation"] == impl), None)

    lines = []
    for r in measured:
        threads = r["implementation"].split()[-1]
        one = rate(r["video"], r["implementation"].replace(threads, "1t"))
        tc = rate(r["video"], f"torchcodec pool {threads}")
        lines.append([r["video"], r["implementation"], f"{r['clips_per_s']:.2f}",
                      f"{r['clips_per_s'] / one:.2f}x" if one else "-", f"{r['clips_per_s'] / tc:.2f}x" if tc else "-"])
    table = markdown_table(["video", "implementation", "clips/s", "vs same at 1t", "vs torchcodec"], lines)
    size = f"{args.clips} clips of {args.videos} videos, {args.seconds} s"
    finish(args, "\n".join([table, "", *notes]),
           [row for r in measured for row in measurement_rows(
               "batch_clip_decode", f"{r['video']}, {size}", {r["implementation"]: r}, METRICS)])


if __name__ == "__main__":
    main()
