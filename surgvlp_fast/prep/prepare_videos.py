"""`surgvlp-fast prepare-videos SRC DST`: re-encode lectures once into a training cache.

Each video becomes `DST/{video_id}.mp4` (video_id: the file name up to its first '.'): H.264,
short side scaled down to `--short-side` (never up; 360 leaves room for 336 crops), a keyframe
every `--keyframe-interval` seconds (cheap seeks), no B-frames, `-tune fastdecode`, the display
rotation applied, audio dropped, optionally a lower frame rate (`--fps`). Beside it goes the
frame index sidecar `{video_id}.mp4.index.npz` that every reader picks up, and `videos.json`
sums up the cache (duration, fps, frames, size per video). The readers and the datasets read
the cache exactly as they read the originals.

Parallel (`--jobs`), resumable (finished outputs are skipped), atomic (a video is encoded and indexed
in a hidden work folder `DST/.{video_id}.tmp-XXXX/`, removed by the next run, and moved into place when
complete). A source that is a symbolic link to another source of the same folder (the
phase lectures of import-surglavi) gets a cache entry that links to that source's entry: it is not
encoded again. `--shard I/N` does the videos of one of N parts (prep/shards.py; a link goes with its
source) and records them in `DST/.prepare_videos_shards/`; `--merge N` then writes `videos.json`.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from surgvlp_fast.video.errors import VideoError
from surgvlp_fast.video.index import load_index, publish, save_index, scan, sidecar_path

from ..config import parse_shard
from .shards import add_shard_arguments, load_records, parse_merge, save_record, shard_of, write_text

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts")
STATE_DIR = ".prepare_videos_shards"


def add_arguments(parser):
    parser.add_argument("src", help="a folder of videos (or one video file)")
    parser.add_argument("dst", help="the cache folder to write")
    parser.add_argument("--short-side", type=int, default=360, help="scale the short side down to this (default 360)")
    parser.add_argument("--fps", type=float, default=None, help="lower the frame rate to this (default: keep)")
    parser.add_argument("--keyframe-interval", type=float, default=1.0, help="seconds between keyframes (default 1)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality (default 20)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="videos encoded at once (default: half the CPUs)")
    parser.add_argument("--threads", type=int, default=0, help="ffmpeg threads per video (default: CPUs / jobs)")
    add_shard_arguments(parser, merge_help="write DST/videos.json (after checking that every shard ran with "
                                           "these options)")


def video_id(name: str) -> str:
    return os.path.basename(name).split(".")[0]


def list_sources(src: str) -> list:
    if os.path.isfile(src):
        return [src]
    if not os.path.isdir(src):
        raise SystemExit(f"prepare-videos: {src} is neither a video file nor a folder")
    return sorted(os.path.join(src, n) for n in os.listdir(src)
                  if n.lower().endswith(VIDEO_EXTENSIONS) and not n.startswith("."))


def link_sources(sources: list) -> dict:
    """{source: the source it links to}: a symbolic link to another source of the list (followed
    through links inside the list) is that source's alias."""
    listed = {os.path.abspath(s): s for s in sources}
    aliases = {}
    for source in sources:
        path, seen = os.path.abspath(source), set()
        while os.path.islink(path) and path not in seen:
            seen.add(path)
            target = os.path.abspath(os.path.join(os.path.dirname(path), os.readlink(path)))
            if target not in listed:
                break
            path = target
        if path != os.path.abspath(source):
            aliases[source] = listed[path]
    return aliases


def encode_command(source: str, target: str, *, short_side: int, fps, keyframe_interval: float, crf: int,
                   preset: str, threads: int) -> list:
    s = int(short_side)
    scale = (f"scale=w='if(lte(iw,ih),min({s},iw),-2)':h='if(lte(iw,ih),-2,min({s},ih))'"
             ":flags=bicubic")
    filters = [scale] + ([f"fps={fps:g}"] if fps else [])
    return [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-y", "-v", "error", "-i", source,
            "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", ",".join(filters),
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-tune", "fastdecode", "-bf", "0",
            "-force_key_frames", f"expr:gte(t,n_forced*{keyframe_interval:g})", "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-threads", str(threads), "-movflags", "+faststart", "-f", "mp4", target]


def write_sidecar(target: str):
    index = scan(target)
    stat = os.stat(target)
    index.file_size, index.file_mtime_ns = stat.st_size, stat.st_mtime_ns
    save_index(index, sidecar_path(target))
    return index


def clear_leftovers(dst: str, vids: set):
    """Remove what stopped runs left of the videos `vids`: work folders `.{video_id}.tmp-XXXX/`, link
    and older temporary files `.{video_id}.*.tmp` (an encoder that outlived its run writes into a
    deleted folder and cannot touch the next run's files)."""
    for name in os.listdir(dst):
        if name.startswith(".") and name[1:].split(".")[0] in vids and ".tmp" in name:
            path = os.path.join(dst, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif name.endswith(".tmp"):
                os.unlink(path)


def prepare_one(source: str, dst: str, options: dict) -> tuple:
    """(video_id, status, detail): status is 'done', 'skipped' or 'failed'."""
    vid = video_id(source)
    target = os.path.join(dst, f"{vid}.mp4")
    if os.path.exists(target):
        try:  # finished: only the sidecar may be missing (stopped between the two renames)
            load_index(target) if os.path.exists(sidecar_path(target)) else write_sidecar(target)
            return vid, "skipped", target
        except VideoError:
            os.unlink(target)  # not a complete video: encode again
    work = tempfile.mkdtemp(dir=dst, prefix=f".{vid}.tmp-")
    tmp = os.path.join(work, f"{vid}.mp4")
    try:
        done = subprocess.run(encode_command(source, tmp, **options), capture_output=True, text=True)
        if done.returncode != 0:
            return vid, "failed", f"{source}: ffmpeg: {done.stderr.strip()[-500:]}"
        write_sidecar(tmp)              # a rename keeps size and mtime: the sidecar stays fresh
        publish(tmp, target)
        os.replace(sidecar_path(tmp), sidecar_path(target))
        return vid, "done", target
    except VideoError as err:
        return vid, "failed", str(err)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _link(path: str, target: str):
    if os.path.islink(path) and os.readlink(path) == target:
        return
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def link_one(alias: str, source: str, dst: str, source_status: str) -> tuple:
    """The cache entry of `alias`: links to the entry of `source` (its video and its sidecar)."""
    vid, of = video_id(alias), video_id(source)
    target = os.path.join(dst, f"{vid}.mp4")
    if source_status == "failed":
        return vid, "failed", f"{alias}: links to {source}, which failed"
    if os.path.isfile(target) and not os.path.islink(target):
        return vid, "skipped", target           # encoded by an earlier run: finished
    if os.path.islink(target) and os.readlink(target) == f"{of}.mp4" and os.path.exists(sidecar_path(target)):
        return vid, "skipped", target
    _link(sidecar_path(target), sidecar_path(f"{of}.mp4"))   # the sidecar first: a linked video is finished
    _link(target, f"{of}.mp4")
    return vid, "linked", target


def write_summary(dst: str):
    summary = {}
    for name in sorted(os.listdir(dst)):
        if name.endswith(".mp4") and not name.startswith("."):
            try:
                m = load_index(os.path.join(dst, name)).metadata
            except VideoError:
                continue
            summary[video_id(name)] = {"file": name, "duration": m.duration, "fps": m.fps,
                                       "num_frames": m.num_frames, "width": m.width, "height": m.height}
    write_text(os.path.join(dst, "videos.json"), json.dumps(summary, indent=1))
    return summary


def settings_of(args) -> dict:
    """What every shard and the merge must agree on (not --jobs / --threads: they change no frame)."""
    return {"src": os.path.abspath(args.src), "short_side": args.short_side, "fps": args.fps,
            "keyframe_interval": args.keyframe_interval, "crf": args.crf, "preset": args.preset}


def prepare(sources: list, dst: str, options: dict, jobs: int, shard=(0, 1)) -> dict:
    """Encode (or link) the sources of `shard`; {video_id: status}, with a line per video as it ends."""
    aliases = link_sources(sources)
    mine = [s for s in sources if shard_of(video_id(aliases.get(s, s)), shard[1]) == shard[0]]
    encode = [s for s in mine if s not in aliases]
    clear_leftovers(dst, {video_id(s) for s in mine})
    statuses, count = {}, 0

    def report(vid, status, detail):
        nonlocal count
        count += 1
        statuses[vid] = status
        print(f"[{count}/{len(mine)}] {vid}: {status}" + (f" ({detail})" if status == "failed" else ""),
              file=sys.stderr if status == "failed" else sys.stdout, flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(lambda s: prepare_one(s, dst, options), encode):
            report(*result)
    for alias in (s for s in mine if s in aliases):
        report(*link_one(alias, aliases[alias], dst, statuses.get(video_id(aliases[alias]), "failed")))
    return statuses


def run(args) -> int:
    shard = parse_shard(args.shard)
    merge = parse_merge(args.merge)
    settings = settings_of(args)
    state = os.path.join(args.dst, STATE_DIR)
    if merge is not None:
        records = load_records(state, merge, settings, "prepare-videos")
        failed = sum(status == "failed" for r in records for status in r["videos"].values())
        summary = write_summary(args.dst)
        print(f"{len(summary)} videos in {args.dst} ({failed} failed; {merge} shards merged)")
        return 1 if failed else 0
    sources = list_sources(args.src)
    os.makedirs(args.dst, exist_ok=True)
    jobs = max(1, args.jobs)
    options = dict(short_side=args.short_side, fps=args.fps, keyframe_interval=args.keyframe_interval,
                   crf=args.crf, preset=args.preset,
                   threads=args.threads or max(1, (os.cpu_count() or 1) // jobs))
    statuses = prepare(sources, args.dst, options, jobs, shard)
    failed = sum(status == "failed" for status in statuses.values())
    if args.shard is not None:
        save_record(state, *shard, settings, videos=dict(sorted(statuses.items())))
        print(f"shard {args.shard}: {len(statuses)} videos ({failed} failed); run --merge {shard[1]} when all "
              "shards are done")
        return 1 if failed else 0
    summary = write_summary(args.dst)
    print(f"{len(summary)} videos in {args.dst} ({failed} failed)")
    return 1 if failed else 0
