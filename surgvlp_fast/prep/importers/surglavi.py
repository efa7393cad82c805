"""`surgvlp-fast import-surglavi DB VIDEO_ROOT OUT_ROOT`: SurgLaVi-β into the data folder's layout.

Reads `surglavi_beta.db` read-only (importers/surglavi_db.py), keeps the captions its own loader keeps
(`is_descriptive = 1 AND is_surgical_content = 1`, `min < duration <= max`), finds each video at
`VIDEO_ROOT/<name>/<name>.mp4` (missing ones are listed and skipped), probes its duration from the file
(captions past its end are dropped), maps the three levels onto lectures (importers/surglavi_layout.py),
writes the text CSVs, links the videos, writes the splits (by video) and prints a summary table.
A bad row is one line naming its table and row; the rest imports. Reruns write the same bytes.
`--shard I/N` does the videos of one of N parts; `--merge N` then writes the splits and the summary
(importers/surglavi_shards.py).
"""
import os
import sys
from collections import Counter, defaultdict

from ...config import parse_shard
from .surglavi_db import LEVELS, DatabaseError, read_database
from ..shards import ShardError, add_shard_arguments, parse_merge, shard_of
from .surglavi_layout import build_lectures, lecture_id, text_files
from .surglavi_shards import load_states, merge, probed_durations, save_state, write_text

TEXT_FOLDERS = ("aws_narration_texts", "whisper_narration_texts", "keystep_texts", "abstract_texts")
TIME_TOLERANCE_S = 1.0       # as validate-data: a caption may end up to 1 s after the probed end
REASONS = ("undescriptive", "duration", "video-missing", "past-video-end", "no-step-inside", "name-clash")


def add_arguments(parser):
    parser.add_argument("db", metavar="DB", help="surglavi_beta.db (opened read-only)")
    parser.add_argument("video_root", metavar="VIDEO_ROOT", help="the videos, as VIDEO_ROOT/<name>/<name>.mp4")
    parser.add_argument("out_root", metavar="OUT_ROOT", help="the data folder to write")
    parser.add_argument("--levels", default="task,step,phase",
                        help="SurgLaVi levels to import (task: clip pairs, step: keysteps, phase: video pairs; "
                             "default all)")
    parser.add_argument("--min-duration", type=float, default=0.0, help="keep captions longer than this (s, default 0)")
    parser.add_argument("--max-duration", type=float, default=500.0,
                        help="keep captions up to this long (s, default 500, as SurgLaVi's loader)")
    parser.add_argument("--keep-undescriptive", action="store_true",
                        help="also keep captions with is_descriptive = 0 or is_surgical_content = 0")
    parser.add_argument("--text", choices=("enhanced", "raw", "both"), default="both",
                        help="caption (LLM-enhanced), raw_narration (ASR), or both as the two views (default)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="videos held out as val (default 0.05)")
    add_shard_arguments(parser, merge_help="combine the N shards: splits, lists, summary")


def parse_levels(text: str) -> tuple:
    levels = tuple(x.strip() for x in text.split(",") if x.strip())
    if not levels or any(x not in LEVELS.values() for x in levels):
        raise ValueError(f"--levels takes task, step, phase (comma-separated); got {text!r}")
    return tuple(level for level in LEVELS.values() if level in levels)


def settings_of(args, levels) -> dict:
    """What every shard and the merge must agree on (the database is identified by size and mtime)."""
    st = os.stat(args.db)
    return {"db": os.path.abspath(args.db), "db_size": st.st_size, "db_mtime_ns": st.st_mtime_ns,
            "video_root": os.path.abspath(args.video_root), "levels": list(levels), "text": args.text,
            "min_duration": args.min_duration, "max_duration": args.max_duration,
            "keep_undescriptive": args.keep_undescriptive, "val_fraction": args.val_fraction}


def probe_duration(path: str):
    """The video's duration in seconds from its frame index (built by demuxing, no decoder opened, and
    cached for the training readers), or the reason it cannot be read."""
    from ...video import VideoError
    from ...video.index import load_index

    try:
        return load_index(path).metadata.duration, None
    except VideoError as err:
        return None, getattr(err, "reason", str(err))


def _link(path: str, target: str):
    if os.path.islink(path) and os.readlink(path) == target:
        return
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.surglavi-tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)


class ShardImport:
    """The videos of one shard: filter, find, probe, map and write; the counters of the summary."""

    def __init__(self, args, levels, shard, count):
        self.args, self.levels, self.shard, self.count = args, levels, shard, count
        self.kept, self.dropped = Counter(), defaultdict(Counter)   # level -> n; level -> reason -> n
        self.malformed, self.missing, self.written = Counter(), [], []
        # durations probed by this shard's last run, reused for unchanged files (size, mtime)
        self.known, self.durations = probed_durations(args.out_root, shard, count), {}

    def problem(self, message: str):
        print(f"surgvlp-fast import-surglavi: {self.args.db}: {message}", file=sys.stderr)

    def _keep(self, c) -> bool:
        if c.level not in self.levels:
            return False
        if not c.descriptive and not self.args.keep_undescriptive:
            self.dropped[c.level]["undescriptive"] += 1
        elif not self.args.min_duration < c.duration <= self.args.max_duration:
            self.dropped[c.level]["duration"] += 1
        else:
            return True
        return False

    def run(self):
        a = self.args
        videos, captions, problems = read_database(a.db, a.text, need_flags=not a.keep_undescriptive)
        for p in problems:
            self.malformed[p.table] += 1
            self.problem(str(p))
        mine = {v for v, video in videos.items() if shard_of(video.name, self.count) == self.shard}
        by_video = defaultdict(list)
        for c in captions:
            if c.video_id in mine and self._keep(c):
                by_video[c.video_id].append(c)
        ids = {}
        for video_id, video in sorted(videos.items()):   # name clashes are checked over all videos
            vid = lecture_id(video.name)
            if vid in ids:
                if video_id in mine and by_video.get(video_id):
                    self.problem(f"videos, row video_id={video_id}: name {video.name!r} gives the lecture id "
                                 f"{vid!r} of video_id={ids[vid]}; skipped")
                    self._drop(by_video.pop(video_id), "name-clash")
            else:
                ids[vid] = video_id
        lectures = []
        for video_id in sorted(by_video):
            lectures += self._video(videos[video_id].name, by_video[video_id])
        self._write(lectures)
        self.n_videos = len(videos)
        return lectures

    def _video(self, name, rows):
        source = os.path.join(self.args.video_root, name, f"{name}.mp4")
        duration, reason = self._duration(source)
        if duration is None:
            self.missing.append(f"{source}: {reason}")
            self._drop(rows, "video-missing")
            return []
        kept = []
        for c in rows:
            if c.end > duration + TIME_TOLERANCE_S:
                self.problem(f"captions, row caption_id={c.caption_id}: {c.start:g}-{c.end:g} s is past the end "
                             f"of {source} ({duration:.2f} s); skipped")
                self.dropped[c.level]["past-video-end"] += 1
            else:
                kept.append(c)
        made, empty = build_lectures(lecture_id(name), kept, self.levels)
        self.dropped["phase"]["no-step-inside"] += empty
        self.kept.update(c.level for c in kept if c.level != "phase")
        self.kept["phase"] += sum(lec.abstract is not None for lec in made)
        for lec in made:
            lec.path = os.path.abspath(source)
        return made

    def _duration(self, source):
        if not os.path.isfile(source):
            return None, "not found"
        st = os.stat(source)
        key = os.path.abspath(source)
        known = self.known.get(key)
        if known and known[:2] == [st.st_size, st.st_mtime_ns]:
            duration, reason = known[2], None
        else:
            duration, reason = probe_duration(source)
        if duration is not None:
            self.durations[key] = [st.st_size, st.st_mtime_ns, duration]
        return duration, reason

    def _drop(self, rows, reason):
        for c in rows:
            self.dropped[c.level][reason] += 1

    def _write(self, lectures):
        out = self.args.out_root
        for folder in ("videos", "splits", *TEXT_FOLDERS):
            os.makedirs(os.path.join(out, folder), exist_ok=True)
        for lec in lectures:
            rel = os.path.join("videos", f"{lec.lecture_id}.mp4")
            _link(os.path.join(out, rel), lec.path if lec.lecture_id == lec.source else f"{lec.source}.mp4")
            self.written.append(rel)
            for folder, text in text_files(lec, self.args.text).items():
                rel = os.path.join(folder, f"{lec.lecture_id}.csv")
                write_text(os.path.join(out, rel), text)
                self.written.append(rel)

    def counters(self) -> dict:
        return {"kept": dict(self.kept), "dropped": {k: dict(v) for k, v in self.dropped.items()},
                "malformed": dict(self.malformed), "missing": sorted(self.missing), "videos": self.n_videos}


def print_summary(args, levels, c, title):
    print(f"SurgLaVi {args.db} -> {args.out_root}{title}")
    missing = c["missing"]
    print(f"videos: {c['videos']} in the database, {c.get('imported', '?')} imported, {len(missing)} missing "
          "or unreadable")
    for line in missing[:20]:
        print(f"  {line}")
    if len(missing) > 20:
        print(f"  ... {len(missing) - 20} more in {os.path.join(args.out_root, 'missing_videos.txt')}")
    header = ["level", "kept", *REASONS]
    rows = [[lv, c["kept"].get(lv, 0), *(c["dropped"].get(lv, {}).get(r, 0) for r in REASONS)] for lv in levels]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))
    for table, n in sorted(c["malformed"].items()):
        print(f"malformed rows skipped: {table} {n}")
    if "splits" in c:
        print("lectures: " + ", ".join(f"{name} {len(files)}" for name, files in c["splits"].items()))


def run(args) -> int:
    try:
        levels = parse_levels(args.levels)
        shard, count = parse_shard(args.shard)
        if not 0 <= args.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in [0, 1); got {args.val_fraction}")
        merge_count = parse_merge(args.merge)
        if not os.path.isfile(args.db):
            raise DatabaseError(f"{args.db}: no such file")
        settings = settings_of(args, levels)
        if merge_count is None:
            part = ShardImport(args, levels, shard, count)
            lectures = part.run()
            save_state(args.out_root, shard, count, settings, lectures, part.counters(), part.written,
                       part.durations)
            if args.shard is not None:
                c = part.counters()
                c["imported"] = len({lec.source for lec in lectures})
                print_summary(args, levels, c, f" (shard {shard}/{count}; run --merge {count} when all are done)")
                return 0
        count = merge_count or 1
        c = merge(args.out_root, load_states(args.out_root, count, settings), args.val_fraction)
        print_summary(args, levels, c, f" ({count} shards merged)" if count > 1 else "")
        return 0 if c["imported"] else 1
    except (DatabaseError, ShardError, ValueError) as err:
        print(f"surgvlp-fast import-surglavi: {err}", file=sys.stderr)
        return 1
