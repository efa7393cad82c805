"""Whole clip-level samples (decode + 2 augmented views + tokenise): ours vs the reference-style pipeline.

The baseline transcribes the reference's `video_text_ssl` sample (reference.md §2.3-2.4): per sample
an `ffprobe` subprocess for the duration, the narration CSVs read again (csv module: pandas is not
installed, so the baseline is a little faster than the reference), one `ffmpeg` subprocess decoding
the 3-5 s clip at 2 fps with the random square crop -> 336 and flip, `frames[::T//4][:4]`, the
per-frame PIL chain twice (RandomResizedCrop, ColorJitter p .8, grayscale p .2, PIL Gaussian blur p .5,
flip, ToTensor, Normalize), and the tokeniser on the three texts.

Ours: `ClipLevelDataset` (the video sampler, on the training cache or on the originals) + `TextCollator`
+ `make_views` on the batch. Videos: 720p 25 fps H.264 lectures (GOP 250, like raw uploads) with the
narration CSVs of a synthetic world; the training cache is the same lectures at 360p with a keyframe
every second, written by `surgvlp-fast prepare-videos`.

    .venv/bin/python benchmarks/bench_data_pipeline.py [--samples 24] [--lectures 3]
"""
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast import cli  # noqa: E402
from surgvlp_fast.pretrain.collate import TextCollator  # noqa: E402
from surgvlp_fast.pretrain.datasets import ClipLevelDataset, worker_init  # noqa: E402
from surgvlp_fast.synthetic import make_world  # noqa: E402
from surgvlp_fast.models import load_tokenizer  # noqa: E402
from surgvlp_fast.pretrain.augment import make_views  # noqa: E402
from surgvlp_fast.pretrain.stream import LevelStream  # noqa: E402
from surgvlp_fast.video import available_backends  # noqa: E402

SIZE = 336


# ---------------------------------------------------------------- the reference-style baseline
class ReferenceStyleClipSample:
    """One clip-level sample the way the reference makes it (subprocesses + per-frame PIL chain)."""

    def __init__(self, root, videos, tokenizer, size=SIZE, video_root=None, augment=True):
        from torchvision import transforms as T
        from PIL import ImageFilter

        class PilGaussian:
            def __call__(self, image):
                return image.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))

        self.root, self.videos, self.tokenizer, self.size, self.augment = root, videos, tokenizer, size, augment
        self.video_root = video_root or os.path.join(root, "videos")
        normalize = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.aug = T.Compose([T.ToPILImage(), T.RandomResizedCrop(size, scale=(0.08, 1.0)),
                              T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2),
                              T.RandomApply([PilGaussian()], p=0.5), T.RandomHorizontalFlip(), T.ToTensor(), normalize])
        self.normalize = normalize

    def _csv(self, folder, vid):
        with open(os.path.join(self.root, folder, f"{vid}.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        return [(float(r["start"]), float(r["end"]), r["text"]) for r in rows]

    def __call__(self, index):
        name = self.videos[index % len(self.videos)]
        vid = name.split(".")[0]
        path = os.path.join(self.video_root, name)
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", path],
                                          capture_output=True, text=True, check=True).stdout)
        duration = float(probe["streams"][0]["duration"])
        aws = self._csv("aws_narration_texts", vid)
        s, e, anchor = aws[random.randrange(len(aws))]
        if e - s < 4.0:
            d = 4.0 - (e - s)
            s = max(0.0, s - d / 2)
            e = s + 4.0
        s, e = int(s), int(e)
        length = random.randint(3, 5)
        seek = random.randint(s, max(s, e - length))
        if e > duration:
            seek = max(duration - length, 0)
        aw, ah = random.uniform(0, 1), random.uniform(0, 1)
        vf = (f"fps=2,crop=w='min(iw,ih)':h='min(iw,ih)':x='(iw-min(iw,ih))*{aw}':y='(ih-min(iw,ih))*{ah}',"
              f"scale={self.size}:{self.size}" + (",hflip" if random.uniform(0, 1) > 0.5 else ""))
        out = subprocess.run(["ffmpeg", "-loglevel", "error", "-ss", str(seek), "-t", str(length), "-i", path,
                              "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
                             capture_output=True, check=True).stdout
        frames = np.frombuffer(out, np.uint8).reshape(-1, self.size, self.size, 3)
        step = max(len(frames) // 4, 1)
        frames = torch.from_numpy(frames[::step][:4].copy()).permute(0, 3, 1, 2)
        views = [self.normalize(frames.float() / 255)]
        for _ in range(2 if self.augment else 0):
            views.append(torch.stack([self.aug(frame) for frame in frames]))
        whisper = self._csv("whisper_narration_texts", vid)
        cands = ([t for a, b, t in whisper if a <= s <= b] + [t for a, b, t in whisper if a >= s and b <= e]
                 + [t for a, b, t in whisper if a <= e <= b])[:2]
        cands += [anchor] * (2 - len(cands))
        tokens = [self.tokenizer([text], padding="max_length", truncation=True, max_length=77, return_tensors="pt")
                  for text in [anchor] + cands]
        return views, tokens


# ---------------------------------------------------------------- ours
def our_batches(dataset, collate, n_samples, batch_size, generator, workers=0, augment=True):
    """Make n_samples clip-level samples with 2 augmented views each (or none, when the views are
    left to the GPU); returns the number made."""
    stream = LevelStream("clip", dataset, batch_size, collate, seed=0, num_workers=workers, worker_init=worker_init)
    made = 0
    while made < n_samples:          # the training stream: pass order, workers, corrupt-sample policy
        batch = stream.next()
        views = make_views(batch["video"], n_aug=2 if augment else 0, generator=generator)
        made += views[0].shape[0]
    return made


# ---------------------------------------------------------------- data
def make_bench_data(folder, lectures=3, size="1280x720"):
    """A world's texts and tokenizer, with its lectures re-made as 720p 25 fps H.264 (GOP 250), and
    their training cache made by `surgvlp-fast prepare-videos` (360p, a keyframe every second)."""
    root = os.path.join(folder, "world")
    info = make_world(root, preset="tiny", seed=0, lectures=lectures, val_fraction=0.0, cholec80_train=0,
                      cholec80_test=0, autolaparo_train=0, autolaparo_test=0, cholect50_test=0)
    originals, cache = os.path.join(folder, "originals"), os.path.join(folder, "cache")
    os.makedirs(originals)
    for lecture in info["lectures"]:
        name = f"{lecture['video_id']}.mp4"
        src = f"testsrc2=size={size}:rate=25:duration={lecture['duration']}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", src, "-c:v", "libx264", "-preset",
                        "veryfast", "-pix_fmt", "yuv420p", os.path.join(originals, name)], check=True)
    if cli.main(["prepare-videos", originals, cache, "--jobs", "1"]) != 0:
        raise RuntimeError("prepare-videos failed")
    return root, originals, cache, [f"{lec['video_id']}.mp4" for lec in info["lectures"]]


def training_split(root, videos, samples):
    """A split naming each lecture often enough that one pass holds `samples` samples, as the
    training split of a real corpus does (hundreds of lectures): with a pass of one short batch,
    the stream would restart its DataLoader workers at every batch."""
    path = os.path.join(root, "splits", "bench_train.csv")
    with open(path, "w", newline="") as f:
        f.write("video_path\n" + "".join(f"{videos[i % len(videos)]}\n" for i in range(samples)))
    return path


def samples_per_second(fn, n):
    start = time.perf_counter()
    made = fn()
    return (made if isinstance(made, int) else n) / (time.perf_counter() - start)


def main(argv=None):
    parser = bench_parser(__doc__)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--lectures", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--backend", default="auto", help="video backend of our datasets (default auto)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker (worker_init); PIL is single-threaded too
    with tempfile.TemporaryDirectory(prefix="bench_data_", ignore_cleanup_errors=True) as folder:
        root, originals, cache, videos = make_bench_data(folder, args.lectures)
        tokenizer = load_tokenizer(os.path.join(root, "tokenizer"))
        collate = TextCollator(tokenizer, 77)
        generator = torch.Generator().manual_seed(0)
        random.seed(0)
        n = args.samples
        split = training_split(root, videos, 4 * n)
        results = {}
        for augment in (True, False):
            views = "" if augment else ", no views"
            baseline = ReferenceStyleClipSample(root, videos, tokenizer, video_root=originals, augment=augment)
            baseline(0)  # warm-up
            results[f"reference-style (subprocess + PIL){views}, originals"] = samples_per_second(
                lambda: [baseline(i) for i in range(n)], n)
            for label, video_root in (("training cache", cache), ("originals", originals)):
                dataset = ClipLevelDataset(root, split, video_root=video_root, size=SIZE,
                                           video_backend=args.backend)
                our_batches(dataset, collate, args.batch, args.batch, generator)  # warm-up: index + decoders
                results[f"ours{views}, {label}"] = samples_per_second(
                    lambda: our_batches(dataset, collate, n, args.batch, generator, augment=augment), n)
        # workers x decoding threads within the cores; the views stay in this process (as in
        # training), the workers (or this process, with 0) decode
        for workers, threads in ((0, 2), (1, 1), (1, 2), (2, 1)):
            dataset = ClipLevelDataset(root, split, video_root=cache, size=SIZE, video_backend=args.backend,
                                       decode_threads=threads)
            if workers == 0:
                our_batches(dataset, collate, args.batch, args.batch, generator)  # warm-up: index + decoders
            results[f"ours, training cache, {workers} DataLoader workers x {threads} decoding threads"] = \
                samples_per_second(lambda: our_batches(dataset, collate, 2 * n, args.batch, generator,
                                                       workers=workers), 2 * n)

    backend = available_backends()[0] if args.backend == "auto" else args.backend
    size = f"clip 4x{SIZE}px, 720p GOP250 / cache 360p GOP25, {backend} backend, {n} samples"
    lines = []
    for label, value in results.items():
        base = results["reference-style (subprocess + PIL)" + (", no views" if "no views" in label else "")
                       + ", originals"]
        lines.append([label, f"{value:.2f}", f"{1000 / value:.1f}", f"{value / base:.1f}x"])
    table = markdown_table(["pipeline", "samples/s", "ms/sample", "vs reference"], lines)
    finish(args, f"our video backend: {backend}\n{table}",
           measurement_rows("data_pipeline", size, {label: {"throughput": v} for label, v in results.items()},
                            [Metric("throughput", "throughput", "samples/s", ".3f")]))


# ---------------------------------------------------------------- pytest-benchmark (small, for CI)
@pytest.mark.benchmark(group="data_pipeline")
def test_reference_style_sample(benchmark, small_world):
    tokenizer = load_tokenizer(os.path.join(small_world, "tokenizer"))
    sample = ReferenceStyleClipSample(small_world, ["vd0001syn.mp4", "vd0002syn.mp4"], tokenizer, size=64)
    views, tokens = benchmark(sample, 0)
    assert len(views) == 3 and views[1].shape == (4, 3, 64, 64) and len(tokens) == 3


@pytest.mark.benchmark(group="data_pipeline")
def test_our_sample(benchmark, small_world):
    tokenizer = load_tokenizer(os.path.join(small_world, "tokenizer"))
    dataset = ClipLevelDataset(small_world, "train_narration", size=64)
    made = benchmark(our_batches, dataset, TextCollator(tokenizer, 77), 2, 2, torch.Generator().manual_seed(0))
    assert made == len(dataset) == 3   # the pass's 3 samples: a last batch of one joins the batch before


if __name__ == "__main__":
    main()
