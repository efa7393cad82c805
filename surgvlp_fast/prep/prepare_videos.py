"""`surgvlp-fast prepare-videos SRC DST`: re-encode lectures once into a training cache.

Each video becomes `DST/{video_id}.mp4` (video_id: the file name up to its first '.'): H.264,
short side scaled down to `--short-side` (never up; 360 leaves room for 336 crops), a keyframe
every `--keyframe-interval` seconds (cheap seeks), no B-frames, `-tune fastdecode`, the display
rotation applied, audio dropped, optionally a lower frame rate (`--fps`). Beside it goes the
frame index sidecar `{video_id}.mp4.index.npz` that every reader picks up, and `videos.json`
sums up the cache (duration, fps, frames, size per video). The readers and the datasets read
the cache exactly as they read the originals.

Parallel (`--jobs`), resumable (finished outputs are skipped), atomic (each output is written
to a temporary name and renamed when complete).
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

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts")


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


def video_id(name: str) -> str:
    return os.path.basename(name).split(".")[0]


def list_sources(src: str) -> list:
    if os.path.isfile(src):
        return [src]
    if not os.path.isdir(src):
        raise SystemExit(f"prepare-videos: {src} is neither a video file nor a folder")
    return sorted(os.path.join(src, n) for n in os.listdir(src)
                  if n.lower().endswith(VIDEO_EXTENSIONS) and not n.startswith("."))


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


def prepare_one(source: str, dst: str, options: dict) -> tuple:
    """(video_id, status, detail): status is 'done', 'skipped' or 'failed'."""
    vid = video_id(source)
    target = os.path.join(dst, f"{vid}.mp4")
    if os.path.exists(target):
        try:  # finished: only the sidecar may be missing (stopped between rename and index)
            load_index(target) if os.path.exists(sidecar_path(target)) else write_sidecar(target)
            return vid, "skipped", target
        except VideoError:
            os.unlink(target)  # not a complete video: encode again
    fd, tmp = tempfile.mkstemp(dir=dst, prefix=f".{vid}.", suffix=".mp4.tmp")
    os.close(fd)
    try:
        done = subprocess.run(encode_command(source, tmp, **options), capture_output=True, text=True)
        if done.returncode != 0:
            return vid, "failed", f"{source}: ffmpeg: {done.stderr.strip()[-500:]}"
        publish(tmp, target)
        write_sidecar(target)
        return vid, "done", target
    except VideoError as err:
        return vid, "failed", str(err)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    fd, tmp = tempfile.mkstemp(dir=dst, prefix=".videos.", suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(summary, f, indent=1)
    publish(tmp, os.path.join(dst, "videos.json"))
    return summary


def run(args) -> int:
    sources = list_sources(args.src)
    os.makedirs(args.dst, exist_ok=True)
    jobs = max(1, args.jobs)
    options = dict(short_side=args.short_side, fps=args.fps, keyframe_interval=args.keyframe_interval,
                   crf=args.crf, preset=args.preset,
                   threads=args.threads or max(1, (os.cpu_count() or 1) // jobs))
    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, (vid, status, detail) in enumerate(pool.map(lambda s: prepare_one(s, args.dst, options), sources)):
            failed += status == "failed"
            print(f"[{i + 1}/{len(sources)}] {vid}: {status}" + (f" ({detail})" if status == "failed" else ""),
                  file=sys.stderr if status == "failed" else sys.stdout, flush=True)
    summary = write_summary(args.dst)
    print(f"{len(summary)} videos in {args.dst} ({failed} failed)")
    return 1 if failed else 0
