"""What every bench_*.py shares, so that each keeps only what it measures (its inputs, its
implementations, its timing calls):

- `bench_parser`: the common command-line options (--no-csv; --repeats, --threads, --workdir, --json
  where a benchmark has them);
- `median_time` (wall clock, or CUDA events), `peak_rss_bytes`, `run_worker` (one measurement in a
  fresh process of the script, which answers with `print_json_line`), `cuda_device` (the GPU
  benchmarks' refusal without one);
- `Metric` and `measurement_rows`: measurements -> results.csv rows under the stable key
  benchmark / implementation / metric / size;
- `markdown_table`, and `finish`: print the table, write --json when asked, append the rows to
  results.csv unless --no-csv (`record` and `write_json` alone, for a benchmark that saves as it goes).

Importing this module imports results.py, which samples the load average then (the quiet-machine
rule): every benchmark imports it at module level, before it builds its inputs or measures.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import torch

from results import append_rows


# ---------------------------------------------------------------- the command line
def bench_parser(doc: str, *, repeats: int | None = None, threads: int | str | None = None,
                 workdir: str | None = None, json_out: bool = False) -> argparse.ArgumentParser:
    """A benchmark's parser (description: the first paragraph of `doc`) with --no-csv, and where given:
    --repeats (default `repeats`), --threads (default `threads`; "torch": torch's own), --workdir
    (default: the folder `workdir` in the temporary directory), --json (`json_out`)."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    if repeats is not None:
        parser.add_argument("--repeats", type=int, default=repeats,
                            help="timed runs per measurement (the median is reported)")
    if threads is not None:
        default = None if threads == "torch" else threads
        shown = "torch's" if default is None else default
        parser.add_argument("--threads", type=int, default=default, help=f"torch/OpenMP threads (default: {shown})")
    if workdir is not None:
        parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), workdir),
                            help="where the generated inputs are made (kept for the next run)")
    if json_out:
        parser.add_argument("--json", help="write the results here too (tools/gpu_check.sh reads them)")
    parser.add_argument("--no-csv", action="store_true", help="do not append to benchmarks/results.csv")
    return parser


def cuda_device(benchmark: str) -> str | None:
    """The CUDA device's name; None, with the reason on stderr, where there is none."""
    if not torch.cuda.is_available():
        print(f"{benchmark}: no CUDA device", file=sys.stderr)
        return None
    return torch.cuda.get_device_name(0)


# ---------------------------------------------------------------- measuring
def median_time(fn, repeats=5, warmup=1, cuda=False) -> float:
    """Median time of fn() in seconds, after `warmup` calls: wall time, or with `cuda` the GPU time
    between CUDA events recorded around each call (synchronised)."""
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def peak_rss_bytes() -> int:
    """This process's resident-set high-water mark."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def live_memory_env(env=None) -> dict:
    """The environment of a worker whose resident-set growth is an operation's peak live memory: glibc maps
    every block of 1 MiB or more on its own and unmaps it when freed. By default it raises that threshold to
    the largest block freed so far and then serves such blocks from a heap that keeps freed ones resident,
    so the high-water mark would also count blocks the operation had already freed. Time is measured in a
    worker without it (this allocator maps and faults in every large block again at each step)."""
    return {**(os.environ if env is None else env), "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def print_json_line(obj) -> None:
    """One JSON line on stdout, flushed: a measurement's progress, or a worker's answer."""
    print(json.dumps(obj), flush=True)


def run_worker(script: str, argv, env=None) -> dict:
    """Run `script` with `argv` in a fresh Python process; its answer is the JSON of its last stdout line."""
    out = subprocess.run([sys.executable, os.path.abspath(script), *map(str, argv)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- rows and tables
class Metric(NamedTuple):
    """A results.csv metric of a measurement: its value is `format(measurement[key] * scale, spec)`."""
    key: str
    name: str
    unit: str
    spec: str
    scale: float = 1


def measurement_rows(benchmark: str, size: str, measurements: dict, metrics, error_metric: str = "error") -> list:
    """results.csv rows of {implementation: measurement}. A measurement is a dict of measured values,
    one row per metric whose key it holds (not None), in the order of `metrics`; or {"error": text},
    one row of `error_metric` with the text as its value and no unit."""
    rows = []
    for implementation, measured in measurements.items():
        key = {"benchmark": benchmark, "implementation": implementation, "size": size}
        if "error" in measured:
            rows.append({**key, "metric": error_metric, "value": measured["error"], "unit": ""})
            continue
        rows += [{**key, "metric": m.name, "value": format(measured[m.key] * m.scale, m.spec), "unit": m.unit}
                 for m in metrics if measured.get(m.key) is not None]
    return rows


def _markdown_row(cells) -> str:
    return "|" + "".join(f" {cell} |" if str(cell) else " |" for cell in cells)


def markdown_table(header, rows) -> str:
    """A markdown table: the header, then one line per row of cells (an empty cell stays empty)."""
    return "\n".join([_markdown_row(header), "|" + "---|" * len(header), *map(_markdown_row, rows)])


# ---------------------------------------------------------------- the end of a run
def record(args, rows) -> None:
    """Append `rows` to benchmarks/results.csv, unless --no-csv."""
    if rows and not args.no_csv:
        append_rows(rows)


def write_json(args, results) -> None:
    """Write `results` to the --json file, where the benchmark has the option and it was given."""
    if getattr(args, "json", None):
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def finish(args, table: str, rows=(), results=None) -> None:
    """Print the table, write `results` to --json when asked, append the rows unless --no-csv."""
    print(table)
    if results is not None:
        write_json(args, results)
    record(args, rows)
