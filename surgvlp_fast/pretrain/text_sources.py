"""Text sources of the data folder (reference.md §2.1), read once and held as arrays.

- narration CSVs (AWS and Whisper): `start,end,text`
- keystep CSVs: `start,end,text` or `start,end,step,text` (`step` = original title, `text` = augmented)
- abstract CSVs: `start,end,text` (one row), or with `original` (`text` = key concepts)
- narration CSVs may carry `pseudo_step` (the knowledge base's pseudo-step matched to the sentence)
- split CSVs: one column `video_path` (file names with extension)

Row numbers in errors are the 1-based line numbers of the CSV file (the header is line 1).
"""
import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError

TEXT_FOLDERS = {
    "aws": "aws_narration_texts",
    "whisper": "whisper_narration_texts",
    "keystep": "keystep_texts",
    "abstract": "abstract_texts",
}
# each source's optional other version of its text (written by `surgvlp-fast augment-texts`),
# read into TextTable.alternative; a level dataset's `*_text` option picks text, it or either at random
ALTERNATIVE_COLUMN = {"keystep": "step", "abstract": "original", "aws": "pseudo_step", "whisper": "pseudo_step"}


@dataclass(frozen=True)
class TextTable:
    """Timed texts of one lecture: parallel arrays, in file order."""

    path: str
    start: np.ndarray  # float64 seconds
    end: np.ndarray
    text: tuple[str, ...]
    alternative: tuple[str, ...] | None = None  # the source's ALTERNATIVE_COLUMN when the CSV has it

    def __len__(self) -> int:
        return len(self.text)


def _read_rows(path: str) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise DataFormatError(path, "file not found") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataFormatError(path, f"not a readable CSV ({err})") from None
    return header, rows


def _time(path: str, line: int, row: dict, column: str) -> float:
    value = (row.get(column) or "").strip()
    try:
        t = float(value)
    except ValueError:
        raise DataFormatError(path, f"column {column!r} is not a number: {value!r}", line) from None
    if not math.isfinite(t) or t < 0:
        raise DataFormatError(path, f"column {column!r} must be a finite time >= 0, got {value!r}", line)
    return t


def _report(problems, error: DataFormatError):
    if problems is None:
        raise error
    problems.append(error)


def read_timed_csv(path: str, source: str | None = None, problems: list | None = None) -> TextTable:
    """Read and validate a `start,end,text` CSV of `source` (a TEXT_FOLDERS key), with the source's
    alternative column when present (ALTERNATIVE_COLUMN; `step` in another source's file is an error).

    Without `problems` the first bad row raises DataFormatError; with a list, every problem is
    appended to it and the bad rows are skipped (the validator's mode)."""
    try:
        header, rows = _read_rows(path)
    except DataFormatError as err:
        _report(problems, err)
        return TextTable(path, np.zeros(0), np.zeros(0), ())
    missing = [c for c in ("start", "end", "text") if c not in header]
    if missing:
        _report(problems, DataFormatError(path, f"missing column(s) {missing}; found {header}", 1))
        return TextTable(path, np.zeros(0), np.zeros(0), ())
    column = ALTERNATIVE_COLUMN.get(source)
    if "step" in header and column != "step":
        _report(problems, DataFormatError(path, "unexpected column 'step' (only keystep CSVs have it)", 1))
    has_alternative = column in header
    starts, ends, texts, alternatives = [], [], [], []
    for line, row in rows:
        try:
            s, e = _time(path, line, row, "start"), _time(path, line, row, "end")
            if s > e:
                raise DataFormatError(path, f"start {s} is after end {e}", line)
            text = (row.get("text") or "").strip()
            if not text:
                raise DataFormatError(path, "empty text", line)
            alternative = (row.get(column) or "").strip() if has_alternative else ""
            if has_alternative and not alternative:
                raise DataFormatError(path, f"empty {column}", line)
        except DataFormatError as err:
            _report(problems, err)
            continue
        starts.append(s)
        ends.append(e)
        texts.append(text)
        alternatives.append(alternative)
    return TextTable(path, np.asarray(starts, np.float64), np.asarray(ends, np.float64), tuple(texts),
                     tuple(alternatives) if has_alternative else None)


def video_id_of(video_path: str) -> str:
    """`vd01en1354e.mp4` -> `vd01en1354e` (the name up to the first '.')."""
    return os.path.basename(video_path).split(".", 1)[0]


def read_split(path: str, video_root: str | None = None, problems: list | None = None) -> list[str]:
    """Video file names of a split CSV. With `video_root`, every named video must exist there.
    `problems`: as in read_timed_csv."""
    try:
        header, rows = _read_rows(path)
    except DataFormatError as err:
        _report(problems, err)
        return []
    if "video_path" not in header:
        _report(problems, DataFormatError(path, f"missing column 'video_path'; found {header}", 1))
        return []
    names = []
    for line, row in rows:
        name = (row.get("video_path") or "").strip()
        if not name:
            _report(problems, DataFormatError(path, "empty video_path", line))
        elif video_root is not None and not os.path.exists(os.path.join(video_root, name)):
            _report(problems, DataFormatError(path, f"video {name!r} not found in {video_root}", line))
        else:
            names.append(name)
    return names


class LectureTexts:
    """Every text source of a set of lectures, loaded once at construction.

    `root` is the data folder; `sources` names the folders to read (keys of TEXT_FOLDERS).
    Access: `texts[source][video_id] -> TextTable`.
    """

    def __init__(self, root: str, video_ids, sources=("aws", "whisper")):
        self.root = root
        self.tables: dict[str, dict[str, TextTable]] = {}
        for source in sources:
            folder = os.path.join(root, TEXT_FOLDERS[source])
            self.tables[source] = {
                vid: read_timed_csv(os.path.join(folder, f"{vid}.csv"), source)
                for vid in video_ids
            }

    def __getitem__(self, source: str) -> dict[str, TextTable]:
        return self.tables[source]


def overlapping_rows(table: TextTable, start: float, end: float, reference: bool = False) -> np.ndarray:
    """Rows of `table` whose interval meets [start, end].

    reference=True reproduces the reference's three concatenated pandas masks, in that order, with
    duplicates: rows containing `start`, rows inside [start, end], rows containing `end`.
    Default: each overlapping row once, in temporal (file) order.
    """
    s, e = table.start, table.end
    if reference:
        masks = [(s <= start) & (start <= e), (s >= start) & (e <= end), (s <= end) & (end <= e)]
        return np.concatenate([np.flatnonzero(m) for m in masks])
    return np.flatnonzero((s <= end) & (e >= start))
