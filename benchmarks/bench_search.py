"""Text search over an index: exact top-k over N float16 embeddings (random unit vectors) on one core.

Implementations, on the same memory-mapped rows and queries:
- index       surgvlp_fast.Index.search_embedding: float16 matrix-vector products chunk by chunk, the rows
              within the rounding bound of the k-th rescored in float64 (exact), adjacent seconds merged
- exact_top   the top-k rows alone (surgvlp_fast.inference.moments.exact_top), no merging
- numpy_f32   what a user writes: the rows as float32 @ query, argpartition, argsort (the baseline)
Target: 1M rows (about 280 h of video at 1 s per row) of d = 768 in <= 100 ms on one core (the index).

    .venv/bin/python benchmarks/bench_search.py [--rows 1000000] [--dim 768] [--top 10] [--threads 1]
Prints the table, appends rows to benchmarks/results.csv unless --no-csv.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Metric, bench_parser, finish, markdown_table, measurement_rows, median_time  # noqa: E402
from surgvlp_fast.inference.embed import FrameSettings  # noqa: E402
from surgvlp_fast.inference.index import FILES, FORMAT, Index  # noqa: E402
from surgvlp_fast.inference.moments import exact_top  # noqa: E402

METRICS = [Metric("ms", "ms_per_query", "ms", ".2f", 1000), Metric("rows_per_s", "rows_per_s", "rows/s", ".3g")]
CHUNK = 1 << 16


def make_index(folder: str, rows: int, dim: int, seed: int = 0) -> Index:
    """An index folder of `rows` random unit float16 rows over 1000 'videos' (made once, then reused)."""
    meta_file = os.path.join(folder, "index.json")
    if os.path.exists(meta_file):
        meta = json.load(open(meta_file))
        if meta["rows"] == rows and meta["dim"] == dim:
            return Index(folder)
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    per_video = -(-rows // 1000)
    with open(os.path.join(folder, FILES["embeddings"]), "wb") as f:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            f.write(torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=1).half().numpy().tobytes())
    row = np.arange(rows)
    (row // per_video).astype(np.int32).tofile(os.path.join(folder, FILES["videos"]))
    (row % per_video).astype(np.float32).tofile(os.path.join(folder, FILES["times"]))
    videos = [{"path": f"video{v:04d}.mp4", "name": f"video{v:04d}.mp4", "size": 0, "mtime": 0, "first": v * per_video,
               "count": min(per_video, rows - v * per_video), "duration": float(per_video)}
              for v in range(-(-rows // per_video))]
    meta = {"format": FORMAT, "fingerprint": "random", "checkpoint": "", "dim": dim,
            "settings": {**FrameSettings().__dict__, "resize": [360, 640]}, "rows": rows, "videos": videos}
    json.dump(meta, open(meta_file, "w"))
    return Index(folder)


def main(argv=None):
    parser = bench_parser(__doc__, repeats=5, threads=1, workdir="surgvlp_bench_search")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    index = make_index(os.path.join(args.workdir, f"{args.rows}x{args.dim}"), args.rows, args.dim)
    embeddings = index.column("embeddings")
    queries = torch.nn.functional.normalize(torch.randn(args.repeats + 1, args.dim), dim=1)
    calls = iter(range(10 ** 9))

    def numpy_f32():
        q = queries[next(calls) % len(queries)].numpy()
        scores = np.asarray(embeddings, dtype=np.float32) @ q
        top = np.argpartition(-scores, args.top)[:args.top]
        return top[np.argsort(-scores[top])]

    implementations = {
        "index": lambda: index.search_embedding(queries[next(calls) % len(queries)], args.top),
        "exact_top": lambda: exact_top(embeddings, queries[next(calls) % len(queries)], args.top),
        "numpy_f32": numpy_f32,
    }
    measured = {}
    for name, fn in implementations.items():
        seconds = median_time(fn, repeats=args.repeats, warmup=1)
        measured[name] = {"ms": seconds, "rows_per_s": args.rows / seconds}
    size = f"{args.rows}x{args.dim} top{args.top} {args.threads} thread(s)"
    table = markdown_table(["implementation", "ms / query", "rows / s"],
                           [[n, f"{m['ms'] * 1000:.2f}", f"{m['rows_per_s']:.3g}"] for n, m in measured.items()])
    verdict = ("met" if measured["index"]["ms"] <= 0.1 else "not met") if args.rows >= 10 ** 6 and args.dim >= 768 \
        else "applies at 1M x 768 only"
    finish(args, f"{table}\n\nsearch over {size}; the target (<= 100 ms at 1M x 768, one core): {verdict}",
           measurement_rows("search", size, measured, METRICS))


if __name__ == "__main__":
    main()
