"""The state one `import-surglavi --shard I/N` leaves for `--merge N`, and the merge itself.

A shard writes the files of its own videos (a video's shard: `video_rank(name) % N`) and a record
`OUT/.surglavi_shards/shard-I-of-N.json`: the import's settings, its lectures, its counters and its
missing videos. The merge checks that all N records exist and were made with the same settings, then
writes what depends on every video: the splits, `missing_videos.txt`, the manifest of written files
(a rerun removes the files that are no longer written) and the summary. An unsharded import is shard
0/1 followed by its merge, so N shards + merge give the same bytes as one run.
"""
import json
import os
from collections import Counter

from .surglavi_layout import Lecture, assign_splits, pick_val

STATE_DIR = ".surglavi_shards"
MANIFEST = ".surglavi_import"    # the files the last import wrote


class ShardError(Exception):
    """A merge that cannot be made (a shard missing, or made with other settings)."""


def write_text(path: str, text: str):
    """Write whole through a fixed temporary name (a killed run's leftover is overwritten next time);
    an identical file is left untouched."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.surglavi-tmp")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() == text:
                if os.path.lexists(tmp):
                    os.remove(tmp)
                return
    except FileNotFoundError:
        pass
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def state_path(out: str, shard: int, count: int) -> str:
    return os.path.join(out, STATE_DIR, f"shard-{shard}-of-{count}.json")


def probed_durations(out, shard, count) -> dict:
    """{video file: [size, mtime_ns, duration]} probed by this shard's last run (empty when none)."""
    try:
        return json.load(open(state_path(out, shard, count), encoding="utf-8")).get("durations", {})
    except (FileNotFoundError, ValueError):
        return {}


def save_state(out, shard, count, settings, lectures, counters, written, durations):
    os.makedirs(os.path.join(out, STATE_DIR), exist_ok=True)
    state = {"settings": settings, "counters": counters, "written": sorted(written), "durations": durations,
             "lectures": [[lec.lecture_id, lec.source, bool(lec.narrations), bool(lec.keysteps),
                           lec.abstract is not None] for lec in lectures]}
    write_text(state_path(out, shard, count), json.dumps(state, indent=1, sort_keys=True) + "\n")


def load_states(out, count, settings) -> list:
    states = []
    for shard in range(count):
        path = state_path(out, shard, count)
        if not os.path.exists(path):
            raise ShardError(f"{path}: missing: run import-surglavi --shard {shard}/{count} first")
        state = json.load(open(path, encoding="utf-8"))
        if state["settings"] != settings:
            diff = sorted(k for k in settings if state["settings"].get(k) != settings[k])
            raise ShardError(f"{path}: made with other settings ({', '.join(diff)}) than this merge")
        states.append(state)
    return states


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
