"""Rows of benchmark results, appended to benchmarks/results.csv (one CSV for every benchmark).

Columns: benchmark, implementation, metric, size, value, unit, machine, commit, load, cores, noisy.

Quiet-machine rule (the one home of it; `report.py` and the README check use `is_noisy`):

- `load` is the 1-minute load average sampled when a benchmark imports this module, i.e. before
  it builds its inputs or measures anything (every bench_*.py imports harness.py, which imports
  this module, at module level). It is taken then because the benchmark's own threads raise the
  load average while it runs: a sample at the end would count them (up to its thread count on
  top of everything else), a sample at the start counts only the *other* work on the machine,
  which is what makes a timing noisy.
- `cores` is the number of CPUs this process may run on (its affinity set; `os.cpu_count()` where
  the platform has none).
- A row is **noisy** when load > cores: other work alone wanted more CPUs than the machine has, so
  the benchmark's threads waited for a core. `noisy` is written as "yes" / "no"; `report.py` never
  shows a noisy row (the newest non-noisy row of each cell wins) and the README never quotes one.
- Rows written before these columns existed have `load`, `cores` and `noisy` empty: the load is
  unknown (`is_noisy` gives None; a row known to be noisy can be marked "yes" by hand without
  inventing a load). See report.py for how unknown rows are treated.

The 1-minute average lags (it is an exponential average over about a minute), so work that starts
during a long benchmark is not seen by the start sample; the rule catches a busy machine, not every
disturbance. Quote medians and ratios of implementations measured side by side (performance.md).
"""
import csv
import os
import platform
import subprocess

import torch

RESULTS_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.csv")
COLUMNS = ["benchmark", "implementation", "metric", "size", "value", "unit", "machine", "commit",
           "load", "cores", "noisy"]


def load_average():
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# Sampled at import: every benchmark imports this module (through harness.py) at module level, before it measures.
LOAD_AT_START = load_average()


def is_noisy(row):
    """Whether a row (a dict of COLUMNS) is noisy: load > cores where both are recorded; else its
    `noisy` column where that says "yes" or "no" (a row marked by hand); else None (unknown)."""
    try:
        return float(row.get("load") or "") > int(row.get("cores") or "")
    except (TypeError, ValueError):
        flag = (row.get("noisy") or "").strip().lower()
        return {"yes": True, "no": False}.get(flag)


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


def migrate(path=RESULTS_CSV) -> bool:
    """Rewrite a CSV with an older header (a prefix of COLUMNS) under the current one, the new
    columns of its rows empty (unknown). Returns whether it rewrote the file."""
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    header = table[0] if table else []
    if header == COLUMNS:
        return False
    if header != COLUMNS[:len(header)]:
        raise ValueError(f"{path}: unexpected columns {header}; expected a prefix of {COLUMNS}")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in table[1:]:
            writer.writerow(row + [""] * (len(COLUMNS) - len(row)))
    return True


def append_rows(rows, path=RESULTS_CSV, load=None):
    """rows: dicts with benchmark, implementation, metric, size, value, unit. Each is stamped with
    the machine, the commit, the load average (`load`, default: the one sampled at the start,
    LOAD_AT_START), the cores and the noisy flag."""
    new = not os.path.exists(path)
    if not new:
        migrate(path)
    load = LOAD_AT_START if load is None else load
    stamp = {"machine": machine(), "commit": commit(), "load": "" if load is None else f"{load:.2f}",
             "cores": cores()}
    noisy = is_noisy(stamp)
    stamp["noisy"] = "" if noisy is None else ("yes" if noisy else "no")
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({**row, **stamp})

