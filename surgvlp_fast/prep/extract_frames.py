"""`surgvlp-fast extract-frames`: frames at 1 fps with the CAMMA naming, via the ffmpeg CLI.

`VIDEO... -o DIR` writes `DIR/{name}_{k}.png` with k = 1, 2, ... (the frame played at k-1 seconds;
Cholec80 and AutoLaparo frames are 1-indexed this way), `name` being the video's file name without
extension (or --name-format, e.g. `video{:02d}` with --number). --csv also writes a `path,label`
CSV skeleton for the phase datasets (label left empty).
"""
import os
import subprocess


def extract_frames(video: str, out_dir: str, name: str | None = None, fps: float = 1.0, start_number: int = 1,
                   size: int | None = None, image_format: str = "png") -> list[str]:
    """Extract frames of `video` at `fps` into out_dir as `{name}_{k}.{format}`; returns the files in order."""
    if not os.path.exists(video):
        raise FileNotFoundError(video)
    name = name or os.path.splitext(os.path.basename(video))[0]
    os.makedirs(out_dir, exist_ok=True)
    filters = [f"fps={fps:g}"] + ([f"scale=-2:{size}"] if size else [])
    pattern = os.path.join(out_dir, f"{name}_%d.{image_format}")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", video, "-vf", ",".join(filters),
           "-start_number", str(start_number), pattern]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not extract frames of {video}: {proc.stderr.strip()[-400:]}")
    files, k = [], start_number
    while os.path.exists(pattern % k):
        files.append(pattern % k)
        k += 1
    return files


def add_arguments(parser):
    parser.add_argument("videos", nargs="+", metavar="VIDEO")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--start-number", type=int, default=1, help="index of the first frame (CAMMA: 1)")
    parser.add_argument("--size", type=int, help="resize to this height (keeping the aspect ratio)")
    parser.add_argument("--csv", metavar="DIR", help="also write DIR/{name}.csv with path,label rows (labels empty)")


def run(args) -> int:
    for video in args.videos:
        files = extract_frames(video, args.out, fps=args.fps, start_number=args.start_number, size=args.size)
        name = os.path.splitext(os.path.basename(video))[0]
        if args.csv:
            os.makedirs(args.csv, exist_ok=True)
            with open(os.path.join(args.csv, f"{name}.csv"), "w") as f:
                f.write("path,label\n" + "".join(f"{os.path.basename(p)},\n" for p in files))
        print(f"{video}: {len(files)} frames -> {args.out}")
    return 0
