"""Rows of benchmark results, appended to benchmarks/results.csv (one CSV for every benchmark).

Columns: benchmark, implementation, metric, size, value, unit, machine, commit.
"""
import csv
import os
import platform
import subprocess
import time

import torch

RESULTS_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.csv")
COLUMNS = ["benchmark", "implementation", "metric", "size", "value", "unit", "machine", "commit"]


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} threads, {gpu}"


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(RESULTS_CSV), check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=os.path.dirname(RESULTS_CSV)).stdout
        return out + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append_rows(rows, path=RESULTS_CSV):
    """rows: dicts with benchmark, implementation, metric, size, value, unit."""
    new = not os.path.exists(path)
    stamp = {"machine": machine(), "commit": commit()}
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({**row, **stamp})


def median_time(fn, repeats=5, warmup=1) -> float:
    """Median wall time of fn() in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
