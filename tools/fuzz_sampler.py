"""Fuzz the video readers (the native FFmpeg sampler, or PyAV where it is not built) with mutated files.

    python tools/fuzz_sampler.py atheris CORPUS_DIR [-atheris_runs=N -max_total_time=S ...]
        coverage-guided (atheris; pip install atheris): seeds are made in CORPUS_DIR with the ffmpeg
        CLI (H.264 / HEVC MP4, VP9 WebM, H.264 MKV, MPEG-4 AVI), each input is written to a file and
        opened, indexed and decoded; anything but frames or a VideoError naming the file is a finding.
    python tools/fuzz_sampler.py mutate OUT_DIR [--count 300] [--seed 0] [--timeout 10]
        deterministic: bit flips, byte overwrites, truncations and spliced / duplicated / dropped /
        resized MP4 boxes of the seeds, each decoded in a supervised worker process (a crash kills
        only the worker, a hang past --timeout is killed); prints the findings and the worker's
        resident memory. The test suite runs this at CI size (tests/video/test_fuzz.py).

Needs the ffmpeg CLI for the seeds. Findings are copied to OUT_DIR/findings/.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: ffmpeg arguments after "-y -v error" (tiny: 64x48 or 72x48 — a width that is not a multiple
# of 16 —, 1 s, several GOPs)
SEEDS = {
    "h264_w72.mp4": "-f lavfi -i testsrc2=size=72x48:rate=25:duration=1 -c:v libx264 -pix_fmt yuv420p -g 8",
    "h264.mp4": "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -c:v libx264 -pix_fmt yuv420p -g 8 -bf 2",
    "hevc.mp4": "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -c:v libx265 -pix_fmt yuv420p "
                "-x265-params log-level=none:keyint=8 -tag:v hvc1",
    "vp9.webm": "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -c:v libvpx-vp9 -pix_fmt yuv420p -g 8 "
                "-deadline realtime -cpu-used 8",
    "h264.mkv": "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -c:v libx264 -pix_fmt yuv420p -g 8",
    "mpeg4.avi": "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -c:v mpeg4 -g 8",
}


def make_seeds(folder: str) -> list[str]:
    """The seed files in `folder` (made with the ffmpeg CLI when missing)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("fuzz_sampler: the ffmpeg CLI is needed to make the seed videos")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, args in SEEDS.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            subprocess.run([ffmpeg, "-y", "-v", "error", *args.split(), path], check=True)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ mutations
def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(offset, size) of the ISO-BMFF boxes in data[start:end], descending into the container boxes."""
    end = len(data) if end is None else end
    boxes, at = [], start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size < 8 or at + size > end:
            break
        boxes.append((at, size))
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"):
            boxes += mp4_boxes(data, at + 8, at + size)
        at += size
    return boxes


def mutate(data: bytes, rng: random.Random, donors: list[bytes]) -> tuple[str, bytes]:
    """One mutation of `data`: (what was done, the new bytes)."""
    b = bytearray(data)
    boxes = mp4_boxes(data) if data[4:8] == b"ftyp" else []
    kinds = ["flip", "overwrite", "truncate", "splice"] + ["box_size", "box_drop", "box_dup", "box_swap"] * bool(boxes)
    kind = rng.choice(kinds)
    if kind == "flip":
        for _ in range(rng.randint(1, 32)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        i, n = rng.randrange(len(b)), rng.randint(1, 64)
        b[i:i + n] = bytes(rng.randrange(256) for _ in range(n))
    elif kind == "truncate":
        b = b[:rng.randrange(1, len(b))]
    elif kind == "splice":   # a chunk of another seed (another container / codec) at a random place
        donor = rng.choice(donors)
        i, n = rng.randrange(len(donor)), rng.randint(16, 4096)
        at = rng.randrange(len(b))
        b[at:at + rng.randint(0, n)] = donor[i:i + n]
    else:
        off, size = rng.choice(boxes)
        if kind == "box_size":
            value = rng.choice([0, 1, 7, size - 1, size + 1, size * 2, 0xFFFFFFFF, rng.randrange(1 << 32)])
            b[off:off + 4] = struct.pack(">I", value)
        elif kind == "box_drop":
            del b[off:off + size]
        elif kind == "box_dup":
            b[off:off] = data[off:off + size]
        else:
            off2, size2 = rng.choice(boxes)
            if off2 < off:
                off, size, off2, size2 = off2, size2, off, size
            if off + size <= off2:
                b = b[:off] + b[off2:off2 + size2] + b[off + size:off2] + b[off:off + size] + b[off2 + size2:]
        kind = f"{kind}@{off}"
    return kind, bytes(b)


def mutated_files(seeds: list[str], out_dir: str, count: int, seed: int) -> list[tuple[str, str]]:
    """Write `count` mutated files to out_dir: [(path, description)]."""
    rng = random.Random(seed)
    datas = {p: open(p, "rb").read() for p in seeds}
    donors = list(datas.values())
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for i in range(count):
        source = seeds[i % len(seeds)]
        what, data = mutate(datas[source], rng, donors)
        if rng.random() < 0.3:   # a second mutation now and then
            more, data = mutate(data, rng, donors)
            what += "+" + more
        path = os.path.join(out_dir, f"{i:04d}_{what.split('+')[0].split('@')[0]}{os.path.splitext(source)[1]}")
        with open(path, "wb") as f:
            f.write(data)
        files.append((path, f"{os.path.basename(source)}: {what}"))
    return files


# ------------------------------------------------------------------------------ checking one file
def check_file(path: str, backend: str = "auto") -> str:
    """Open, index and decode `path`, on one decoding thread and on two. Returns "ok" or "error"; raises when a failure is anything but
    a VideoError that names the file (that is a finding)."""
    import numpy as np

    from surgvlp_fast.video import VideoError, open_video

    outcome = "ok"
    for threads in (1, 2):   # 2: the request's keyframe segments on two decoders
        try:
            with open_video(path, backend=backend, threads=threads) as reader:
                duration = reader.metadata.duration
                times = np.linspace(0, max(duration, 0.0), 5) if np.isfinite(duration) else [0.0]
                frames = reader.frames_at(times, size=16)
                assert frames.shape[0] == len(times) and str(frames.dtype) == "torch.uint8", frames.shape
                reader.frames_in_range(0.0, min(max(duration, 0.0), 1.0), 4, size=8)
        except VideoError as err:
            if getattr(err, "path", None) != path or path not in str(err):
                raise AssertionError(f"VideoError without the file's name: {err!r}") from err
            outcome = "error"
    return outcome


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker_main(backend: str) -> None:
    """Read paths from stdin, answer one JSON line each: outcome and resident memory."""
    import torch

    torch.set_num_threads(1)
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            outcome, detail = check_file(path, backend), ""
        except Exception as err:   # noqa: BLE001 - every other failure is a finding, reported with its type
            outcome, detail = "bad_error", f"{type(err).__name__}: {err}"[:500]
        print(json.dumps({"outcome": outcome, "detail": detail, "rss_mb": _rss_mb()}), flush=True)


class Supervisor:
    """One worker process checking files in turn; a crash or a hang costs only that worker."""

    def __init__(self, backend: str = "auto", timeout: float = 10.0, index_dir: str | None = None):
        self.backend, self.timeout = backend, timeout
        self.env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
        if index_dir:
            self.env["SURGVLP_FAST_VIDEO_INDEX_DIR"] = index_dir
        self.process = None
        self.rss: list[float] = []   # resident memory after each file of the current worker

    def _start(self):
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", "--backend", self.backend],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=self.env,
                                        cwd=ROOT, bufsize=1)
        self.rss = []

    def check(self, path: str) -> dict:
        import selectors

        if self.process is None or self.process.poll() is not None:
            self._start()
        self.process.stdin.write(path + "\n")
        self.process.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        # the first file of a worker also pays for importing torch
        ready = selector.select(self.timeout + (60 if not self.rss else 0))
        selector.close()
        if not ready:
            self.process.kill()
            self.process.wait()
            self.process = None
            return {"outcome": "hang", "detail": f"no answer within {self.timeout} s"}
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.process = None
            return {"outcome": "crash", "detail": f"worker died with status {code}"}
        answer = json.loads(line)
        self.rss.append(answer["rss_mb"])
        return answer

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        self.process = None


def run_mutations(out_dir: str, count: int, seed: int, timeout: float, backend: str = "auto") -> dict:
    """Make `count` mutated files and check each; returns counts, findings and the memory trace."""
    seeds = make_seeds(os.path.join(out_dir, "seeds"))
    files = mutated_files(seeds, os.path.join(out_dir, "mutated"), count, seed)
    supervisor = Supervisor(backend, timeout, index_dir=os.path.join(out_dir, "index"))
    counts, findings, rss = {}, [], []
    started = time.perf_counter()
    try:
        for path, what in files:
            answer = supervisor.check(path)
            counts[answer["outcome"]] = counts.get(answer["outcome"], 0) + 1
            if answer["outcome"] not in ("ok", "error"):
                findings.append({"file": path, "mutation": what, **answer})
                os.makedirs(os.path.join(out_dir, "findings"), exist_ok=True)
                shutil.copy(path, os.path.join(out_dir, "findings"))
            rss.append(answer.get("rss_mb"))
    finally:
        supervisor.close()
    return {"counts": counts, "findings": findings, "rss_mb": rss, "seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------------------- atheris
def atheris_main(corpus: str, argv: list[str]) -> None:
    import atheris
    import numpy  # noqa: F401 - imported first: only the project's own modules are instrumented
    import torch  # noqa: F401

    with atheris.instrument_imports():
        import surgvlp_fast.video  # noqa: F401
        import surgvlp_fast.video.index  # noqa: F401
    make_seeds(corpus)
    scratch = tempfile.mkdtemp(prefix="fuzz_sampler_")
    path = os.path.join(scratch, "input.mp4")
    os.environ["SURGVLP_FAST_VIDEO_INDEX_DIR"] = os.path.join(scratch, "index")   # never a stale cached index

    def one_input(data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)
        if os.path.isdir(os.environ["SURGVLP_FAST_VIDEO_INDEX_DIR"]):
            shutil.rmtree(os.environ["SURGVLP_FAST_VIDEO_INDEX_DIR"])
        check_file(path)

    atheris.Setup([sys.argv[0], *argv, corpus], one_input)
    atheris.Fuzz()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        worker_main(argv[argv.index("--backend") + 1] if "--backend" in argv else "auto")
        return 0
    if argv[:1] == ["atheris"] and len(argv) >= 2:
        atheris_main(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(prog="fuzz_sampler.py", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["mutate"])
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    report = run_mutations(args.out_dir, args.count, args.seed, args.timeout, args.backend)
    rss = [r for r in report["rss_mb"] if r is not None]
    print(f"{args.count} mutated files in {report['seconds']:.1f} s: {report['counts']}; worker RSS "
          f"{rss[0]:.0f} -> {rss[-1]:.0f} MB" if rss else "")
    for finding in report["findings"]:
        print(json.dumps(finding))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
