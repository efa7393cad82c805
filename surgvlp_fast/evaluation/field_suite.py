"""The field's zero-shot table (decisions.md §12): the ten columns run on the sets present, written as
Markdown and CSV with each cell's protocol, beside the published numbers of the released models.

A column is a field protocol (registry.FIELD_PROTOCOLS) on `<data_root>/field/<set>.json`, or the
CholecT50 triplet protocol on its usual folder (else `field-cholect50-triplet` on `field/cholect50.json`). Columns whose data is absent are listed, never failed.
HeiChole (in SurgCLIP's test config, not in its table) is scored as extra columns after the ten when its file
is there; a JSON under `field/` that no column reads is listed as not read.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable, Mapping

from ..errors import DataFormatError
from .downstream.interchange import load_json, tasks_of
from .downstream.registry import available_videos
from .options import EvalOptions
from .registry import FIELD_PROTOCOLS
from .runner import evaluate, failure_message

# (column title, protocol)
COLUMNS = [
    ("Cholec80 phase", "field-cholec80-phase"), ("AutoLaparo phase", "field-autolaparo-phase"),
    ("StrasBypass70 phase", "field-strasbypass70-phase"), ("BernBypass70 phase", "field-bernbypass70-phase"),
    ("GraSP phase", "field-grasp-phase"), ("GraSP step", "field-grasp-step"),
    ("SAR-RARP50 action", "field-sarrarp50-action"), ("CholecT50 mAP", "cholect50"),
    ("Cholec80 tool mAP", "field-cholec80-tool"), ("GraSP tool mAP", "field-grasp-tool"),
]
# Scored after the ten when their data is present (never listed as absent): SurgCLIP's test config has them.
EXTRA_COLUMNS = [("HeiChole phase", "field-heichole-phase"), ("HeiChole tool mAP", "field-heichole-tool")]
SURGCLIP = "SurgCLIP README zero-shot table (aperezr20/SurgLaVi @423edb7 = @dd9ca36)"
# Published numbers (%) of the released models; single-label cells are "Acc / F1", the others mAP.
PUBLISHED = [
    ("SurgVLP", SURGCLIP, ["49.02 / 32.46", "10.02 / 7.19", "26.08 / 19.18", "30.46 / 17.48", "11.79 / 6.07",
                           "6.02 / 3.22", "17.91 / 7.03", "3.04", "31.19", "36.93"]),
    ("HecVL", SURGCLIP, ["47.50 / 23.89", "38.72 / 25.81", "28.59 / 23.91", "32.09 / 18.58", "10.99 / 6.46",
                         "1.96 / 0.56", "4.67 / 3.03", "3.63", "25.11", "36.75"]),
    ("PeskaVLP", SURGCLIP, ["51.43 / 39.39", "34.94 / 28.41", "29.42 / 19.64", "31.48 / 17.47", "13.85 / 9.86",
                            "3.65 / 2.47", "5.18 / 2.68", "4.49", "38.88", "41.05"]),
    ("SurgVLP", "PeskaVLP paper, as quoted in CAMMA-public/SurgVLP#11", ["34.7 / 24.4"] + [""] * 9),
    ("HecVL", "PeskaVLP paper, as quoted in CAMMA-public/SurgVLP#11", ["41.7 / 26.3"] + [""] * 9),
    ("PeskaVLP", "PeskaVLP paper, as quoted in CAMMA-public/SurgVLP#11", ["45.1 / 34.2"] + [""] * 9),
    ("SurgVLP", "re-run of SurgVLP tests/zero_shot.py, CAMMA-public/SurgVLP#11", ["41.58 / 27.82"] + [""] * 9),
    ("HecVL", "re-run of SurgVLP tests/zero_shot.py, CAMMA-public/SurgVLP#11", ["44.81 / 25.12"] + [""] * 9),
    ("PeskaVLP", "re-run of SurgVLP tests/zero_shot.py, CAMMA-public/SurgVLP#11", ["45.18 / 34.20"] + [""] * 9),
    ("SurgVLP", "CliPPER (arXiv 2603.24539) Table 1, F1 only",
     ["- / 23.3", "- / 10.8", "- / 14.1", "- / 7.8", "- / 7.6", "", "", "", "", ""]),
    ("PeskaVLP", "CliPPER (arXiv 2603.24539) Table 1, F1 only",
     ["- / 30.5", "- / 25.4", "- / 26.5", "- / 19.2", "- / 7.7", "", "", "", "", ""]),
]
PUBLISHED_NOTE = ("SurgCLIP's evaluation (third-party reading): acc and macro-F1 per video (all classes, "
                  "zero_division=0) averaged over videos, tools per-class AP pooled over frames; CAMMA's "
                  "(SurgVLP tests/zero_shot.py): per video, F1 over the classes present, averaged. Which CholecT50 "
                  "component and split SurgCLIP's 'CholecT50 mAP' is (ivt or other) is unconfirmed; CliPPER's Table 1 gives "
                  "F1 only and its averaging is unconfirmed. Prompts differ between sources; compare only within one "
                  "source.")


def column_present(protocol: str, data_root: str, tasks_cache: dict | None = None) -> bool:
    """The column's data is there: CholecT50's usual folder, or an interchange JSON and frame list whose JSON
    defines the column's task (a Cholec80 file converted from phase CSVs has no tools). A JSON that cannot
    be read counts as present, so that its run fails naming the file."""
    if protocol == "cholect50":
        return bool(available_videos(data_root, "cholect50"))
    field_protocol = FIELD_PROTOCOLS[protocol]
    json_path, frame_list = field_protocol.files(data_root)
    if not (os.path.isfile(json_path) and os.path.isfile(frame_list)):
        return False
    cache = {} if tasks_cache is None else tasks_cache
    if json_path not in cache:
        try:
            cache[json_path] = tasks_of(load_json(json_path))
        except DataFormatError:
            cache[json_path] = None
    return cache[json_path] is None or field_protocol.task in cache[json_path]


def suite_protocols() -> list[str]:
    """Every protocol the suite may run (the columns', the extra columns', the CholecT50 column's interchange
    fallback)."""
    return [p for _, p in COLUMNS + EXTRA_COLUMNS] + ["field-cholect50-triplet"]


def unread_field_files(data_root: str) -> list[str]:
    """The `*.json` files of `<data_root>/field/` that no column reads (e.g. a set saved under another name)."""
    folder = os.path.join(data_root, "field")
    known = {f"{p.dataset}.json" for p in FIELD_PROTOCOLS.values()}
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.endswith(".json") and n not in known)


def run_field_suite(model, tokenizer, data_root: str, options: EvalOptions | Callable[[str], EvalOptions] = EvalOptions(),
                    device="cpu", distributed: bool = False, failures: dict | None = None,
                    echo: Callable[[str], None] | None = None,
                    on_result: Callable[[dict], None] | None = None) -> tuple[dict, list[str]]:
    """({column protocol: result} for every column whose data is present, [the absent columns' protocols]).
    `options`: one EvalOptions for all, or `options(protocol name) -> EvalOptions`. With `failures` (a dict)
    a column that raises is recorded there as {protocol: message} and the others still run (else it
    raises); `on_result(results)` is called after each present column (e.g. to rewrite results.json)."""
    options_of = options if callable(options) else (lambda name: options)
    results, absent, tasks = {}, [], {}
    extras = {p for _, p in EXTRA_COLUMNS}
    for _, protocol in COLUMNS + EXTRA_COLUMNS:
        name = protocol
        if protocol == "cholect50" and not column_present(protocol, data_root) and column_present(
                "field-cholect50-triplet", data_root, tasks):
            name = "field-cholect50-triplet"
        if not column_present(name, data_root, tasks):
            if protocol not in extras:
                absent.append(protocol)
            continue
        if echo:
            echo(f"[eval] {name} ...")
        try:
            results[protocol] = evaluate(name, model, tokenizer, data_root, options_of(name), device, distributed)
        except Exception as err:   # noqa: BLE001 - recorded with the column's protocol when asked to
            if failures is None:
                raise
            failures[protocol] = failure_message(err)
            if echo:
                echo(f"[eval] {name} FAILED: {failures[protocol]}")
        if on_result:
            on_result(results)
    return results, absent


def cell(protocol: str, result, averaging: str = "video", f1: str = "f1_all") -> str:
    """A table cell: "Acc / F1" (single-label; `averaging` video|pooled, `f1` f1|f1_all) or the mAP."""
    m = result.metrics
    if protocol == "cholect50" and "ivt" in m:
        return f"{m['ivt']['mAP']:.2f}"
    if m.get("kind") == "multi":
        return f"{m['mAP']:.2f}"
    return f"{m[f'{averaging}_accuracy']:.2f} / {m[f'{averaging}_{f1}']:.2f}"


def table_columns(results: Mapping, failures: Mapping | None = None) -> list[tuple[str, str]]:
    """The ten columns, then the extra columns that were run (scored or failed)."""
    return COLUMNS + [(t, p) for t, p in EXTRA_COLUMNS if p in results or p in (failures or {})]


def field_rows(model_name: str, results: Mapping, averaging: str = "video", f1: str = "f1_all",
               failures: Mapping | None = None) -> list[list[str]]:
    """This run's row ("absent" or "failed" where no number), then one "protocol" row naming each cell's
    protocol tag."""
    failures = failures or {}
    columns = table_columns(results, failures)
    values = [cell(p, results[p], averaging, f1) if p in results else "failed" if p in failures else "absent"
              for _, p in columns]
    tags = [_tag(p, results[p], averaging, f1) if p in results else "" for _, p in columns]
    return [[model_name, "this run"] + values, ["protocol", ""] + tags]


def _tag(protocol: str, result, averaging: str, f1: str) -> str:
    m = result.metrics
    if protocol == "cholect50" and "ivt" in m:
        return (f"cholect50: ivtmetrics video-wise mAP of the 100 ivt triplets, a class absent from a video "
                f"{'skipped' if m.get('absent_classes') == 'nan' else 'scoring 0'} (the cholect50 protocol)")
    chosen = f"; cell = {averaging}_accuracy / {averaging}_{f1}" if m.get("kind") == "single" else ""
    return f"{protocol}: {m['protocol']}{chosen}"


def write_field_tables(out_dir, model_name: str, results: Mapping, absent: list[str], averaging: str = "video",
                       f1: str = "f1_all", failures: Mapping | None = None, unread: list[str] = ()) -> dict[str, str]:
    """`field_table.md` (this run, its protocols, the frames skipped per set, the absent and failed sets, the
    field files not read, then the published numbers with sources) and `field_table.csv` / `field_published.csv`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = failures or {}
    columns = table_columns(results, failures)
    header = ["model", "source"] + [title for title, _ in columns]
    ours = field_rows(model_name, results, averaging, f1, failures)
    published = [[m, s] + cells + [""] * (len(columns) - len(COLUMNS)) for m, s, cells in PUBLISHED]

    def markdown(rows):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in rows]

    text = ["# The field's zero-shot table", "", "## This run", ""] + markdown(ours[:1])
    text += ["", "Protocols:", ""] + [f"- {t}" for t in ours[1][2:] if t]
    skipped = [f"- {p}: " + ", ".join(f"{k} {v}" for k, v in results[p].metrics["skipped"].items())
               for _, p in columns if p in results and results[p].metrics.get("skipped")]
    if skipped:
        text += ["", "Frames not scored (per set, counted by the converter or the reader):", ""] + skipped
    if absent:
        text += ["", "Absent (no data): " + ", ".join(absent)]
    if failures:
        text += ["", "Failed: " + "; ".join(f"{p}: {m}" for p, m in failures.items())]
    if unread:
        text += ["", "Not read (no column reads these files of the field folder): " + ", ".join(unread)]
    text += ["", "## Published numbers", "", PUBLISHED_NOTE, ""] + markdown(published)
    paths = {"markdown": out_dir / "field_table.md", "csv": out_dir / "field_table.csv",
             "published_csv": out_dir / "field_published.csv"}
    paths["markdown"].write_text("\n".join(text) + "\n", encoding="utf-8")
    for key, rows in (("csv", ours), ("published_csv", published)):
        with open(paths[key], "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header] + rows)
    return {k: str(v) for k, v in paths.items()}
