"""The state one `import-surglavi --shard I/N` leaves for `--merge N`, and the merge itself.

A shard writes the files of its own videos (a video's shard: prep/shards.py's `shard_of(name, N)`) and a record
`OUT/.surglavi_shards/shard-I-of-N.json`: the import's settings, its lectures, its counters and its
missing videos. The merge checks that all N records exist and were made with the same settings, then
writes what depends on every video: the splits, `missing_videos.txt`, the manifest of written files
(a rerun removes the files that are no longer written) and the summary. An unsharded import is shard
0/1 followed by its merge, so N shards + merge give the same bytes as one run.
"""
import os
from collections import Counter

from .. import shards
from ..shards import record_path
from .surglavi_layout import Lecture, assign_splits, pick_val

STATE_DIR = ".surglavi_shards"
MANIFEST = ".surglavi_import"    # the files the last import wrote
TMP_SUFFIX = ".surglavi-tmp"


def write_text(path: str, text: str):
    """prep/shards.write_text with this importer's temporary names."""
    shards.write_text(path, text, TMP_SUFFIX)


def state_path(out: str, shard: int, count: int) -> str:
    return record_path(os.path.join(out, STATE_DIR), shard, count)


def probed_durations(out, shard, count) -> dict:
    """{video file: [size, mtime_ns, duration]} probed by this shard's last run (empty when none)."""
    return shards.read_record(os.path.join(out, STATE_DIR), shard, count).get("durations", {})


def save_state(out, shard, count, settings, lectures, counters, written, durations):
    lectures = [[lec.lecture_id, lec.source, bool(lec.narrations), bool(lec.keysteps), lec.abstract is not None]
                for lec in lectures]
    shards.save_record(os.path.join(out, STATE_DIR), shard, count, settings, counters=counters,
                       written=sorted(written), durations=durations, lectures=lectures)


def load_states(out, count, settings) -> list:
    return shards.load_records(os.path.join(out, STATE_DIR), count, settings, "import-surglavi")


def merge(out, states, val_fraction) -> dict:
    """Splits, missing list and manifest of all shards; returns the merged counters and splits."""
    lectures = []
    for state in states:
        for lecture_id, source, narrations, keysteps, phase in state["lectures"]:
            # a lecture as its shard described it: placeholders for the rows it had
            lectures.append(Lecture(lecture_id, source, [1] if narrations else [], [1] if keysteps else [],
                                  True if phase else None))
    val = pick_val({lec.source for lec in lectures if lec.narrations}, val_fraction)
    splits = assign_splits(lectures, val)
    written = set()
    for name, files in splits.items():
        write_text(os.path.join(out, "splits", f"{name}.csv"), "video_path\n" + "".join(f"{f}\n" for f in files))
        written.add(os.path.join("splits", f"{name}.csv"))
    counters = {"kept": Counter(), "dropped": {}, "malformed": Counter(), "missing": [], "videos": 0}
    for state in states:
        c = state["counters"]
        counters["kept"].update(c["kept"])
        for level, reasons in c["dropped"].items():
            counters["dropped"].setdefault(level, Counter()).update(reasons)
        counters["missing"] += c["missing"]
        written.update(state["written"])
    first = states[0]["counters"]        # every shard reads the whole database: count its rows once
    counters["malformed"].update(first["malformed"])
    counters["videos"] = first["videos"]
    counters["missing"].sort()
    write_text(os.path.join(out, "missing_videos.txt"), "".join(f"{m}\n" for m in counters["missing"]))
    _remove_stale(out, written)
    counters["splits"] = splits
    counters["imported"] = len({lec.source for lec in lectures})
    return counters


def _remove_stale(out, written):
    manifest = os.path.join(out, MANIFEST)
    if os.path.exists(manifest):
        for rel in open(manifest, encoding="utf-8").read().splitlines():
            path = os.path.join(out, rel)
            if rel and rel not in written and (os.path.islink(path) or os.path.isfile(path)):
                os.remove(path)
    write_text(manifest, "".join(f"{w}\n" for w in sorted(written)))
