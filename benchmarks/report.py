"""Markdown tables of the latest benchmark rows: `python benchmarks/report.py [BENCHMARK ...]`.

For each benchmark, one table per metric: a row per size, a column per implementation, the
newest value of each cell (rows are appended in run order, so the newest run wins), and the
commit, machine, load average and cores the numbers come from. The README's performance tables
are its output.

Noisy rows (load average at the start above the cores, results.py) are never shown: the newest
*non-noisy* row of each cell wins, so a run on a busy machine neither appears nor hides an older
quiet one. Rows of unknown load (written before results.csv recorded it) count as not noisy, as
they were all quoted as measurements of the project's machine, and stay until a newer measured
row of the same cell replaces them; their Source line says "load unknown" so that they are not
mistaken for checked ones (the README says which of them were taken on a busy machine; they are
to be re-measured). A row known to be noisy can be marked by hand in its `noisy` column.
"""
import csv
import sys
from collections import OrderedDict

from harness import markdown_table
from results import RESULTS_CSV, is_noisy


def latest_rows(path=RESULTS_CSV):
    """{(benchmark, metric, unit, size, implementation): row}: the newest non-noisy row of each cell."""
    cells = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if is_noisy(row):
                continue
            key = (row["benchmark"], row["metric"], row["unit"], row["size"], row["implementation"])
            cells.pop(key, None)
            cells[key] = row
    return cells


def source(row) -> str:
    """Where a row comes from: commit, machine, and the load average at the start on its cores."""
    load = (f"load {row['load']} on {row['cores']} cores" if row.get("load") and row.get("cores")
            else "load unknown")
    return f"{row['commit']} on {row['machine']} ({load})"


def tables(only=(), path=RESULTS_CSV):
    cells = latest_rows(path)
    groups = OrderedDict()
    for (bench, metric, unit, size, impl), row in cells.items():
        if only and bench not in only:
            continue
        group = groups.setdefault((bench, metric, unit), {"sizes": OrderedDict(), "impls": OrderedDict(), "src": set()})
        group["sizes"].setdefault(size, {})[impl] = row["value"]
        group["impls"][impl] = None
        group["src"].add(source(row))
    out = []
    for (bench, metric, unit), group in groups.items():
        impls = list(group["impls"])
        out.append(f"**{bench}**: {metric}" + (f" ({unit})" if unit else ""))
        out.append("")
        out.append(markdown_table(["size", *impls], [[size, *(values.get(i, "") for i in impls)]
                                                     for size, values in group["sizes"].items()]))
        out.append("")
        out.append("Source: " + "; ".join(sorted(group["src"])))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(tuple(sys.argv[1:])))
