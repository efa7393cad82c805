"""benchmarks/results.py and report.py: the load average and cores each row records, the quiet-machine
rule (a row is noisy when the load at the start exceeds the cores; report.py never shows it), and the
README's performance figures traced to the rows report.py shows.

The row-writing tests use temporary CSVs; only the README check reads benchmarks/results.csv."""
import ast
import csv
import glob
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import report  # noqa: E402
import results  # noqa: E402

OLD_COLUMNS = ["benchmark", "implementation", "metric", "size", "value", "unit", "machine", "commit"]


def row(value, implementation="fused"):
    return {"benchmark": "toy", "implementation": implementation, "metric": "time", "size": "B=8", "value": value,
            "unit": "s"}


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_append_rows_records_the_load_at_the_start_and_the_cores(tmp_path):
    path = str(tmp_path / "results.csv")
    results.append_rows([row("1.0")], path, load=0.25)
    results.append_rows([row("2.0")], path)   # default: the load sampled when results was imported
    first, second = read(path)
    assert list(first) == results.COLUMNS
    assert first["load"] == "0.25" and first["cores"] == str(results.cores()) and first["noisy"] == "no"
    assert first["machine"] and first["commit"]
    if results.LOAD_AT_START is None:   # a platform without a load average: unknown
        assert second["load"] == "" and second["noisy"] == ""
    else:
        assert second["load"] == f"{results.LOAD_AT_START:.2f}"
        assert second["noisy"] == ("yes" if round(results.LOAD_AT_START, 2) > results.cores() else "no")
    assert results.cores() >= 1


def test_a_noisy_row_is_marked_and_the_report_keeps_the_older_quiet_one(tmp_path):
    path = str(tmp_path / "results.csv")
    busy = results.cores() + 1.5
    results.append_rows([row("1.0")], path, load=0.5)
    results.append_rows([row("9.0")], path, load=busy)
    assert [r["noisy"] for r in read(path)] == ["no", "yes"]
    assert results.is_noisy(read(path)[1]) is True
    assert results.is_noisy({"load": str(results.cores()), "cores": str(results.cores())}) is False  # at most
    (cell,) = report.latest_rows(path).values()
    assert cell["value"] == "1.0"
    text = report.tables(path=path)
    assert "| B=8 | 1.0 |" in text and "9.0" not in text
    assert f"(load 0.50 on {results.cores()} cores)" in text
    results.append_rows([row("2.0")], path, load=0.1)   # a newer quiet row wins
    (cell,) = report.latest_rows(path).values()
    assert cell["value"] == "2.0"


def test_rows_of_unknown_load_count_as_quiet_until_a_newer_quiet_row(tmp_path):
    """The rule of report.py: rows written before the load was recorded (load empty) are shown,
    marked "load unknown"; a newer noisy row does not hide them, a newer quiet row replaces them; a
    row marked noisy by hand (noisy "yes", load empty) is not shown."""
    path = str(tmp_path / "results.csv")
    with open(path, "w", newline="") as f:   # a CSV as it was before the load columns
        writer = csv.writer(f)
        writer.writerow(OLD_COLUMNS)
        writer.writerow(["toy", "fused", "time", "B=8", "1.0", "s", "x86_64 2 cores, 2 threads, no GPU", "abc1234"])
        writer.writerow(["toy", "naive", "time", "B=8", "5.0", "s", "x86_64 2 cores, 2 threads, no GPU", "abc1234"])
    results.append_rows([row("9.0")], path, load=results.cores() + 1.5)   # migrates the header first
    rows = read(path)
    assert list(rows[0]) == results.COLUMNS
    assert [(r["value"], r["load"], r["cores"], r["noisy"]) for r in rows[:2]] == [("1.0", "", "", ""),
                                                                                    ("5.0", "", "", "")]
    assert results.is_noisy(rows[0]) is None
    assert not results.migrate(path)   # already current
    cells = report.latest_rows(path)
    assert {k[-1]: c["value"] for k, c in cells.items()} == {"fused": "1.0", "naive": "5.0"}
    assert "(load unknown)" in report.tables(path=path)
    results.append_rows([row("2.0")], path, load=0.3)
    assert {k[-1]: c["value"] for k, c in report.latest_rows(path).items()} == {"fused": "2.0", "naive": "5.0"}
    with open(path, "a", newline="") as f:   # marked noisy by hand, no load invented
        csv.writer(f).writerow(["toy", "naive", "time", "B=8", "7.0", "s", "m", "abc1234", "", "", "yes"])
    assert {k[-1]: c["value"] for k, c in report.latest_rows(path).items()} == {"fused": "2.0", "naive": "5.0"}


def test_migrate_refuses_a_csv_of_other_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,value\nx,1\n")
    with pytest.raises(ValueError, match="unexpected columns"):
        results.migrate(str(path))


def test_every_benchmark_that_writes_rows_imports_results_at_module_level():
    """results.py samples the load when it is imported: a benchmark that imported it only after
    measuring (inside main, at the end) would record its own load, not the machine's before it.
    Benchmarks write rows through harness.py (`finish`, `record`), which imports results at module
    level: importing either at module level samples the load in time."""
    writers = []
    for script in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))):
        tree = ast.parse(open(script, encoding="utf-8").read())
        calls = any(isinstance(n, ast.Call) and getattr(n.func, "id", None) in ("append_rows", "finish", "record")
                    for n in ast.walk(tree))
        if not calls or os.path.basename(script) == "results.py":
            continue
        writers.append(os.path.basename(script))
        samplers = ("results",) if os.path.basename(script) == "harness.py" else ("results", "harness")
        top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module in samplers]
        assert top, f"{script}: import {' or '.join(samplers)} at module level (results samples the load at import)"
        nested = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module in samplers]
        assert len(nested) == len(top), f"{script}: imports {' or '.join(samplers)} inside a function too"
    assert "harness.py" in writers and len(writers) >= 11


# ---------------------------------------------------------------- the README's figures
# Each measured figure of the README's performance table ("ours vs baseline (measured)" column), as
# written there, and where it comes from: a cell of report.latest_rows() (the newest non-noisy row of
# results.csv) or a ratio of two. A figure matches when the value rounds to it (to its last written
# digit; trailing zeros of an integer are not digits: 2730 is 2730 ± 5).
def c(bench, metric, unit, size, impl):
    return lambda cells: float(cells[(bench, metric, unit, size, impl)]["value"])


def ratio(a, b):
    return lambda cells: a(cells) / b(cells)


def in_sequence(a, b):
    """The speedup over a baseline of doing the work of two speedups a and b one after the other."""
    return lambda cells: 1 / (1 / a(cells) + 1 / b(cells))


MIL, NTX = ("contrastive_milnce", "B=4096,K=4,d=768"), ("contrastive_clip_ntx", "B=8192,d=768")
LEVEL = "B=4096 K=8 d=768"
DTW = ("softdtw", "fwd+bwd time", "ms (1 threads)", "B=256 T=64 N<=8")
PIPE = ("data_pipeline", "throughput", "samples/s",
        "clip 4x336px, 720p GOP250 / cache 360p GOP25, native backend, 24 samples")
STEP = ("train_step", "time per step", "s",
        "demo.yaml step (clip 64x4x3 views 64px; keystep 16x16; video 8x32), 2 threads")


DEMO = ("demo_step", "time per step", "s", "demo.yaml, demo world, 4 passes of 14 steps, data loading included")
IMPORT = ("surglavi_import", "time", "s", "113000rows_6812videos")
SEARCH = ("search", "ms_per_query", "ms", "1000000x768 top10 1 thread(s)")
PREDICT = ("predict", "speedup_vs_user_loop", "x", "resnet50 1280x720 60s 2 threads")


def batch(gop, impl):
    return c("batch_clip_decode", "clips_per_s", "clips/s", f"1280x720 {gop}, 16 clips of 4 videos, 60 s", impl)


def clips(size, impl):
    return c("sampler_clip_recipe", "clips_per_s", "clips/s", f"{size}, 8 clips", impl)


def contrastive(bench, size, figures):
    time, floor, memory, naive_mem, t_naive, t_floor, m_naive = figures
    return [(time, c(bench, "time", "s", size, "fused_cpu")), (floor[0], c(bench, "time", "s", size, "reference")),
            (t_naive, c(bench, "time_vs_naive", "ratio", size, "fused_cpu")),
            (t_floor, c(bench, "time_vs_floor", "ratio", size, "fused_cpu")),
            (floor[1], c(bench, "time", "s", size, "gemm_floor")),
            (memory, c(bench, "peak_extra_memory", "MB", size, "fused_cpu")),
            (naive_mem, c(bench, "peak_extra_memory", "MB", size, "reference")),
            (m_naive, c(bench, "memory_vs_naive", "ratio", size, "fused_cpu"))]


TRACE = {   # README table row (the start of its first cell): [(figure as written, source)]
    "fused MIL-NCE": contrastive(*MIL, ("2.32", ("5.60", "1.90"), "67", "2058", "0.41", "1.22", "0.033")),
    "fused CLIP + NTX": contrastive(*NTX, ("2.52", ("11.12", "1.81"), "104", "2250", "0.23", "1.39", "0.046"))
    + [("1.44", c("contrastive_clip_ntx", "time_vs_floor", "ratio", "B=4096,d=768", "fused_cpu"))],
    "HecVL level loss": [
        ("140", c("level_loss", "peak extra RSS", "MB", LEVEL, "objective, backend auto")),
        ("815", c("level_loss", "peak extra RSS", "MB", LEVEL, "objective, naive reference")),
        ("0.17", c("level_loss", "memory_vs_naive", "ratio", LEVEL, "objective, backend auto")),
        ("0.03", c("level_loss", "memory_vs_naive w/o input grads", "ratio", LEVEL, "objective, backend auto")),
        ("0.15", lambda cells: 1 - ratio(  # the inputs' own gradients alone, over the naive extra memory
            c("level_loss", "peak extra RSS w/o input grads", "MB", LEVEL, "objective, naive reference"),
            c("level_loss", "peak extra RSS", "MB", LEVEL, "objective, naive reference"))(cells)),
        ("0.50", c("level_loss", "time_vs_naive", "ratio", LEVEL, "objective, backend auto"))],
    "soft-DTW": [("11.7", c(*DTW, "fused cpu")), ("3145", ratio(c(*DTW, "reference-style loop"), c(*DTW, "fused cpu"))),
                 ("6.7", ratio(c(*DTW, "vectorised PyTorch"), c(*DTW, "fused cpu")))],
    "clip recipe, native sampler": [
        ("1.72", ratio(clips("720p gop250", "native 1t"), clips("720p gop250", "torchcodec 1t"))),
        ("1.40", ratio(clips("720p gop25", "native 1t"), clips("720p gop25", "torchcodec 1t"))),
        ("1.32", ratio(clips("720p gop250", "native 2t"), clips("720p gop250", "torchcodec 2t"))),
        ("1.46", ratio(clips("720p gop25", "native 2t"), clips("720p gop25", "torchcodec 2t"))),
        ("1.11", ratio(clips("720p gop250", "native 2t"), clips("720p gop250", "native 1t"))),
        ("1.39", ratio(clips("720p gop25", "native 2t"), clips("720p gop25", "native 1t")))],
    "clip recipe from the training cache": [
        ("19.0", ratio(clips("cache(360p) of gop25", "native 1t"), clips("720p gop25", "subprocess (reference)"))),
        ("40.9", ratio(clips("cache(360p) of gop250", "native 1t"), clips("720p gop250", "subprocess (reference)"))),
        ("28", ratio(clips("cache(360p) of gop25", "native 2t"), clips("720p gop25", "subprocess (reference)"))),
        ("35", ratio(clips("cache(360p) of gop250", "native 2t"), clips("720p gop250", "subprocess (reference)")))],
    "whole clip-level sample": [
        ("19.1", ratio(c(*PIPE, "ours, training cache"), c(*PIPE, "reference-style (subprocess + PIL), originals"))),
        ("2.0", ratio(c(*PIPE, "ours, originals"), c(*PIPE, "reference-style (subprocess + PIL), originals"))),
        ("0.99", ratio(c(*PIPE, "ours, training cache, 1 DataLoader workers x 1 decoding threads"),
                      c(*PIPE, "ours, training cache"))),
        ("1.14", ratio(c(*PIPE, "ours, training cache, 2 DataLoader workers x 1 decoding threads"),
                      c(*PIPE, "ours, training cache")))],
    "demo training step": [("1.03", c(*STEP, "channels-last")), ("1.29", c(*STEP, "NCHW (baseline)")),
                           ("1.26", ratio(c(*STEP, "NCHW (baseline)"), c(*STEP, "channels-last")))],
    "the demo's whole step": [("0.762", c(*DEMO, "this checkout")), ("1.024", c(*DEMO, "baseline ae28bae")),
                              ("1.34", ratio(c(*DEMO, "baseline ae28bae"), c(*DEMO, "this checkout"))),
                              ("0.952", c(*DEMO, "this checkout, system malloc"))],
    "a batch of 16 clips": [
        ("1.85", ratio(batch("gop250", "native batch 2t"), batch("gop250", "native batch 1t"))),
        ("1.97", ratio(batch("gop25", "native batch 2t"), batch("gop25", "native batch 1t"))),
        ("1.71", ratio(batch("gop250", "native batch 1t"), batch("gop250", "torchcodec pool 1t"))),
        ("1.69", ratio(batch("gop250", "native batch 2t"), batch("gop250", "torchcodec pool 2t"))),
        ("1.27", ratio(batch("gop25", "native batch 1t"), batch("gop25", "torchcodec pool 1t"))),
        ("1.47", ratio(batch("gop25", "native batch 2t"), batch("gop25", "torchcodec pool 2t")))],
    "`import-surglavi`": [("26.7", c(*IMPORT, "import_fresh")), ("3.3", c(*IMPORT, "import_rerun")),
                          ("1.2", c(*IMPORT, "loader_per_row_queries"))],
    "`search`": [("92.3", c(*SEARCH, "index")), ("20.7", ratio(c(*SEARCH, "numpy_f32"), c(*SEARCH, "index")))],
    "`predict`": [(figure, c(*PREDICT, impl)) for figure, impl in (
        ("1.68", "predict"), ("1.98", "predict_fast"), ("2.31", "predict_bf16"), ("2.78", "model_only"),
        ("5.45", "model_only_bf16"), ("5.48", "frames_only"))]
        + [("1.84", in_sequence(c(*PREDICT, "frames_only"), c(*PREDICT, "model_only"))),
           ("2.73", in_sequence(c(*PREDICT, "frames_only"), c(*PREDICT, "model_only_bf16")))],
    "text pooling": [
        ("20", ratio(c("text_pooling", "time", "s", "360x77x768", "reference_token_loop"),
                      c("text_pooling", "time", "s", "360x77x768", "vectorised"))),
        ("2e-7", c("text_pooling", "max_abs_error", "", "360x77x768", "vectorised"))],
}
# Measured figures of the table with no row behind them (stated in the README as such).
UNTRACED = {"demo training step": ["1.40"]}   # "1.40× in an earlier run": that run wrote no row

# A measured figure in the table: a number (or range a–b) followed by ×, s, ms or MB, a bare number
# in parentheses, or a number in scientific notation.
FIGURE = re.compile(r"(?<![\w.–])(\d+(?:\.\d+)?)(?:–(\d+(?:\.\d+)?))?(?=\s?(?:×|ms\b|s\b|MB\b))"
                    r"|\((\d+(?:\.\d+)?)\)|(?<![\w.])(\d+(?:\.\d+)?e-\d+)\b")


def performance_table():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Performance"):]
    section = section[:section.index("\n## ", 3)]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| what | ours vs baseline (measured) |")
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines[1:]]


def tolerance(figure: str) -> float:
    mantissa, _, exponent = figure.partition("e")
    if "." in mantissa:
        half = 0.5 * 10 ** -len(mantissa.split(".")[1])
    else:
        half = 0.5 * 10 ** (len(mantissa) - len(mantissa.rstrip("0")))
    return half * 10 ** int(exponent or 0)


def test_tolerance_of_a_written_figure():
    assert tolerance("0.20") == pytest.approx(0.005) and tolerance("124") == 0.5
    assert tolerance("2730") == 5 and tolerance("2e-7") == pytest.approx(0.5e-7)


def test_readme_performance_figures_trace_to_the_rows_report_shows():
    """Every measured figure of the README's performance table is the value (rounded as written) of
    the newest non-noisy row of its cell, or a ratio of two; rows of unknown load count as not noisy
    (report.py's rule). A re-measured cell, or a new figure, needs the README and TRACE updated."""
    cells = report.latest_rows()
    rows = performance_table()
    assert sorted(TRACE) == sorted(next(k for k in TRACE if r[0].startswith(k)) for r in rows), \
        "each row of the README's performance table has its entry in TRACE"
    for first, measured, *_ in rows:
        name = next(k for k in TRACE if first.startswith(k))
        written = sorted(x for m in FIGURE.finditer(measured) for x in m.groups() if x)
        assert written == sorted([f for f, _ in TRACE[name]] + UNTRACED.get(name, [])), (name, measured)
        for figure, source in TRACE[name]:
            try:
                value = source(cells)
            except KeyError as missing:
                raise AssertionError(f"{name}: {figure} has no non-noisy row {missing}") from None
            assert abs(value - float(figure)) <= tolerance(figure) * (1 + 1e-9), (name, figure, value)
