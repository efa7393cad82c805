"""Reading SurgLaVi-β's `surglavi_beta.db` read-only, row by row checked (field-data.md §A.2).

`read_database(path, texts)` opens the file through a `file:...?mode=ro` URI (the database is never
changed), reads `videos` and `captions` with one query each, and returns the rows that are fine plus
one `RowProblem` per bad row (naming the table and the row). A file that is not SQLite, or a missing
table or needed column, raises `DatabaseError`: nothing can be imported from it.
"""
import math
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass

LEVELS = {1: "task", 2: "step", 3: "phase"}
VIDEO_COLUMNS = ("video_id", "name")
CAPTION_COLUMNS = ("caption_id", "video_id", "level_id", "start_time", "end_time")
FLAG_COLUMNS = ("is_descriptive", "is_surgical_content")
TEXT_COLUMNS = {"enhanced": ("caption",), "raw": ("raw_narration",), "both": ("caption", "raw_narration")}


class DatabaseError(Exception):
    """The file cannot be imported at all (not SQLite, a table or column missing)."""


@dataclass(frozen=True)
class RowProblem:
    table: str
    row: str        # "caption_id=12" or "rowid 5"
    message: str

    def __str__(self) -> str:
        return f"{self.table}, row {self.row}: {self.message}"


@dataclass(frozen=True)
class Video:
    video_id: int
    name: str


@dataclass(frozen=True)
class Caption:
    caption_id: int
    video_id: int
    level: str            # "task" | "step" | "phase"
    start: float
    end: float
    caption: str | None   # LLM-enhanced text (None when --text raw)
    raw: str | None       # ASR text (None when --text enhanced)
    duration: float       # the `duration` column where it is a number, else end - start
    descriptive: bool     # is_descriptive = 1 AND is_surgical_content = 1


def connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection; DatabaseError for a missing file or one that is not SQLite."""
    if not os.path.isfile(path):
        raise DatabaseError(f"{path}: no such file")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"{path}: not an SQLite database ({err})") from None
    return con


def _columns(con, path: str, table: str) -> set:
    rows = con.execute(f"PRAGMA table_info({table})").fetchall()
    if not rows:
        raise DatabaseError(f"{path}: table {table!r} is missing")
    return {r[1] for r in rows}


def _require(path, table, found, needed, why=""):
    missing = [c for c in needed if c not in found]
    if missing:
        raise DatabaseError(f"{path}: table {table!r} has no column(s) {', '.join(missing)}{why}")


def _number(value):
    """A finite float from an SQLite INTEGER/REAL, else None (text, blob, NULL, bool-like text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value):
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def read_database(path: str, texts: str = "both", need_flags: bool = True):
    """(videos by id, captions in caption_id order, problems) of the database at `path`.
    `texts`: which caption texts are needed (`--text`); `need_flags`: the filter columns are needed."""
    con = connect_read_only(path)
    try:
        video_columns = _columns(con, path, "videos")
        caption_columns = _columns(con, path, "captions")
        _require(path, "videos", video_columns, VIDEO_COLUMNS)
        _require(path, "captions", caption_columns, CAPTION_COLUMNS + TEXT_COLUMNS[texts],
                 f" (needed by --text {texts})")
        if need_flags:
            _require(path, "captions", caption_columns, FLAG_COLUMNS, " (or pass --keep-undescriptive)")
        videos, problems = _read_videos(con)
        optional = [c if c in caption_columns else f"NULL AS {c}"
                    for c in ("caption", "raw_narration", "duration", *FLAG_COLUMNS)]
        cursor = con.execute(f"SELECT rowid, {', '.join(CAPTION_COLUMNS)}, {', '.join(optional)} "
                             "FROM captions ORDER BY caption_id, rowid")
        captions = _read_captions(cursor, videos, TEXT_COLUMNS[texts], need_flags, problems)
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"{path}: cannot be read ({err})") from None
    finally:
        con.close()
    return videos, captions, problems


def _read_videos(con):
    videos, names, problems = {}, {}, []
    for rowid, video_id, name in con.execute("SELECT rowid, video_id, name FROM videos ORDER BY rowid"):
        where = f"video_id={video_id!r}" if video_id is not None else f"rowid {rowid}"
        clean = _text(name)
        if not isinstance(video_id, int) or isinstance(video_id, bool):
            problems.append(RowProblem("videos", f"rowid {rowid}", f"video_id is not an integer ({video_id!r})"))
        elif video_id in videos:
            problems.append(RowProblem("videos", where, "duplicated video_id (the first row is kept)"))
        elif clean is None or clean != name or "/" in name or "\\" in name or name in (".", ".."):
            problems.append(RowProblem("videos", where, f"name is not a usable folder name ({name!r})"))
        elif name in names:
            problems.append(RowProblem("videos", where, f"name {name!r} is also video_id={names[name]} "
                                                        "(the first row is kept)"))
        else:
            videos[video_id] = Video(video_id, name)
            names[name] = video_id
    return videos, problems


def _read_captions(cursor, videos, needed_texts, need_flags, problems):
    captions, seen = [], set()
    for (rowid, caption_id, video_id, level_id, start, end, caption, raw, duration,
         descriptive, surgical) in cursor:
        where = f"caption_id={caption_id!r}" if caption_id is not None else f"rowid {rowid}"

        def bad(message):
            problems.append(RowProblem("captions", where, message))

        if not isinstance(caption_id, int) or isinstance(caption_id, bool):
            bad(f"caption_id is not an integer ({caption_id!r})")
            continue
        if caption_id in seen:
            bad("duplicated caption_id (the first row is kept)")
            continue
        seen.add(caption_id)
        if video_id not in videos:
            bad(f"video_id {video_id!r} is not in table videos")
            continue
        if level_id not in LEVELS or isinstance(level_id, bool):
            bad(f"level_id must be 1, 2 or 3, got {level_id!r}")
            continue
        s, e = _number(start), _number(end)
        if s is None or e is None:
            bad(f"start_time/end_time are not numbers ({start!r}, {end!r})")
            continue
        if s < 0 or s >= e:
            bad(f"start_time {s:g} must be >= 0 and before end_time {e:g}")
            continue
        values = {"caption": _text(caption), "raw_narration": _text(raw)}
        empty = [c for c in needed_texts if values[c] is None]
        if empty:
            bad(f"{' and '.join(empty)} is NULL, empty or not text")
            continue
        length = _number(duration)
        flags = (descriptive == 1 and surgical == 1) if need_flags else True
        captions.append(Caption(caption_id, video_id, LEVELS[level_id], s, e,
                                values["caption"] if "caption" in needed_texts else None,
                                values["raw_narration"] if "raw_narration" in needed_texts else None,
                                length if length is not None else e - s, bool(flags)))
    return captions
