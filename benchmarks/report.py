"""Markdown tables of the latest benchmark rows: `python benchmarks/report.py [BENCHMARK ...]`.

For each benchmark, one table per metric: a row per size, a column per implementation, the
newest value of each cell (rows are appended in run order, so the newest run wins), and the
commit and machine the numbers come from. The README's performance tables are its output.
"""
import csv
import sys
from collections import OrderedDict

from results import RESULTS_CSV


def latest_rows(path=RESULTS_CSV):
    cells = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["benchmark"], row["metric"], row["unit"], row["size"], row["implementation"])
            cells.pop(key, None)
            cells[key] = row
    return cells


def tables(only=()):
    cells = latest_rows()
    groups = OrderedDict()
    for (bench, metric, unit, size, impl), row in cells.items():
        if only and bench not in only:
            continue
        group = groups.setdefault((bench, metric, unit), {"sizes": OrderedDict(), "impls": OrderedDict(), "src": set()})
        group["sizes"].setdefault(size, {})[impl] = row["value"]
        group["impls"][impl] = None
        group["src"].add(f"{row['commit']} on {row['machine']}")
    out = []
    for (bench, metric, unit), group in groups.items():
        impls = list(group["impls"])
        out.append(f"**{bench}**: {metric}" + (f" ({unit})" if unit else ""))
        out.append("")
        out.append("| size | " + " | ".join(impls) + " |")
        out.append("|---" * (len(impls) + 1) + "|")
        for size, values in group["sizes"].items():
            out.append(f"| {size} | " + " | ".join(values.get(i, "") for i in impls) + " |")
        out.append("")
        out.append("Source: " + "; ".join(sorted(group["src"])))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(tuple(sys.argv[1:])))
