"""`surgvlp-fast extract-frames`: frames at 1 fps with the CAMMA naming, via the ffmpeg CLI.

`VIDEO... -o DIR` writes `DIR/{name}_{k}.png` with k = 1, 2, ... (the frame played at k-1 seconds;
Cholec80 and AutoLaparo frames are 1-indexed this way), `name` being the video's file name without
extension (or --name-format, e.g. `video{:02d}` with --number). --csv also writes a `path,label`
CSV skeleton for the phase datasets (label left empty).

Idempotent and shardable: a video's frames are extracted into a hidden work folder
`DIR/.{name}.frames-tmp/` (removed when the next run starts that video) and moved into DIR; then come its
CSV and a record `DIR/.{name}.frames.json` (the options, the source's size and mtime, the frame count).
A rerun skips a video whose record matches and whose frames are all there, and extracts a stopped one
again (frames of an earlier extraction beyond the new count are removed). `--shard I/N` extracts the
videos of one of N parts (prep/shards.py); every output is per video, so there is no merge.
"""
import json
import os
import re
import shutil
import subprocess
import sys

from ..config import parse_shard
from .shards import add_shard_arguments, shard_of, write_text


def _record_path(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, f".{name}.frames.json")


def _frame_names(out_dir: str, name: str, image_format: str) -> list[str]:
    pattern = re.compile(rf"{re.escape(name)}_(\d+)\.{re.escape(image_format)}")
    return [n for n in os.listdir(out_dir) if pattern.fullmatch(n)]


def extract(video: str, out_dir: str, name: str | None = None, fps: float = 1.0, start_number: int = 1,
            size: int | None = None, image_format: str = "png") -> tuple[list[str], bool]:
    """(the frame files in order, whether an earlier run had already extracted them)."""
    if not os.path.exists(video):
        raise FileNotFoundError(f"{video}: no such file")
    name = name or os.path.splitext(os.path.basename(video))[0]
    os.makedirs(out_dir, exist_ok=True)
    stat = os.stat(video)
    settings = {"fps": fps, "start_number": start_number, "size": size, "format": image_format,
                "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}
    pattern = os.path.join(out_dir, f"{name}_%d.{image_format}")
    work = os.path.join(out_dir, f".{name}.frames-tmp")
    shutil.rmtree(work, ignore_errors=True)
    try:
        with open(_record_path(out_dir, name), encoding="utf-8") as f:
            record = json.load(f)
        files = [pattern % k for k in range(start_number, start_number + record["frames"])]
        if record["settings"] == settings and all(os.path.isfile(p) for p in files):
            return files, True
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    os.makedirs(work)
    try:
        filters = [f"fps={fps:g}"] + ([f"scale=-2:{size}"] if size else [])
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", video, "-vf", ",".join(filters),
               "-start_number", str(start_number), os.path.join(work, f"{name}_%d.{image_format}")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg could not extract frames of {video}: {proc.stderr.strip()[-400:]}")
        made = set(_frame_names(work, name, image_format))
        files, k = [], start_number
        while os.path.basename(pattern % k) in made:
            os.replace(os.path.join(work, os.path.basename(pattern % k)), pattern % k)
            files.append(pattern % k)
            k += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    kept = {os.path.basename(p) for p in files}
    for stale in _frame_names(out_dir, name, image_format):
        if stale not in kept:
            os.unlink(os.path.join(out_dir, stale))
    write_text(_record_path(out_dir, name), json.dumps({"settings": settings, "frames": len(files)}, sort_keys=True))
    return files, False


def extract_frames(video: str, out_dir: str, name: str | None = None, fps: float = 1.0, start_number: int = 1,
                   size: int | None = None, image_format: str = "png") -> list[str]:
    """Extract frames of `video` at `fps` into out_dir as `{name}_{k}.{format}`; returns the files in order."""
    return extract(video, out_dir, name, fps, start_number, size, image_format)[0]


def add_arguments(parser):
    parser.add_argument("videos", nargs="+", metavar="VIDEO")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--start-number", type=int, default=1, help="index of the first frame (CAMMA: 1)")
    parser.add_argument("--size", type=int, help="resize to this height (keeping the aspect ratio)")
    parser.add_argument("--csv", metavar="DIR", help="also write DIR/{name}.csv with path,label rows (labels empty)")
    add_shard_arguments(parser)


def run(args) -> int:
    shard, count = parse_shard(args.shard)
    mine = [v for v in args.videos if shard_of(os.path.basename(v).split(".")[0], count) == shard]
    failed = 0
    for video in mine:
        try:
            files, skipped = extract(video, args.out, fps=args.fps, start_number=args.start_number, size=args.size)
        except (FileNotFoundError, RuntimeError) as err:
            print(f"surgvlp-fast extract-frames: {err}", file=sys.stderr)
            failed += 1
            continue
        name = os.path.splitext(os.path.basename(video))[0]
        if args.csv:
            write_text(os.path.join(args.csv, f"{name}.csv"),
                       "path,label\n" + "".join(f"{os.path.basename(p)},\n" for p in files))
        print(f"{video}: {len(files)} frames -> {args.out}" + (" (already there)" if skipped else ""))
    if args.shard is not None:
        print(f"shard {args.shard}: {len(mine)} of {len(args.videos)} videos ({failed} failed)")
    return 1 if failed else 0
