"""The GPU check behind tools/gpu_check.sh: build, kernel report, every GPU-marked test, the GPU
benchmarks (losses, clip sampling, a training step, predict); one markdown report plus rows in
benchmarks/results.csv.

    python benchmarks/gpu_check.py [--out DIR] [--dry-run] [--quick]

Without a CUDA device (or with --dry-run) it prints the steps it would run and exits 0.
Each step runs as a subprocess with its own time limit; a failing step is recorded in the report
and the next one still runs; the exit status is 1 when any step failed.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
LOSSES, SAMPLER, TRAIN = "gpu_losses.json", "gpu_sampler.json", "gpu_train.json"   # the benchmarks' results
PREDICT = "gpu_predict.json"


@dataclass
class Step:
    name: str
    command: list
    timeout_s: int
    env: dict = None


@dataclass
class Outcome:
    step: Step
    returncode: int
    seconds: float
    tail: str


def plan(out_dir: str, python: str, quick: bool = False) -> list:
    """The steps, in order (target: 8 minutes on one H100 / H200, not yet measured; --quick: the smallest sizes)."""
    sizes = ["4096"] if quick else ["4096", "16384", "32768"]
    clips = ["8"] if quick else ["16"]
    training = (["--cells", "bf16+ckpt", "bf16+ckpt+compile", "--levels", "clip"] if quick
                else ["--cells", *bench_cells()])
    no_interpreter = {"TRITON_INTERPRET": None}
    return [
        Step("build (CUDA kernels required)", [python, "-m", "pip", "install", "-e", ".", "--no-build-isolation", "-q"],
             420, {"SURGVLP_FAST_BUILD_CUDA": "1"}),
        Step("Triton kernels: ahead-of-time report", [python, "-m", "surgvlp_fast.cli", "doctor", "--kernels"], 180,
             no_interpreter),
        Step("GPU-marked tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable", "-m",
                                  "gpu", "tests"], 240),
        Step("fused losses vs naive vs GEMM floor; soft-DTW", [python, "benchmarks/bench_gpu_losses.py", "--sizes",
                                                               *sizes, "--json", os.path.join(out_dir, LOSSES)], 300,
             no_interpreter),
        Step("clip sampling: native NVDEC vs torchcodec CUDA vs native CPU",
             [python, "benchmarks/bench_gpu_sampler.py", "--clips", *clips, "--json", os.path.join(out_dir, SAMPLER)],
             180),
        Step("training step: ResNet-50 + BERT-base at the paper's batches",
             [python, "benchmarks/bench_gpu_train.py", *training, "--json", os.path.join(out_dir, TRAIN)], 420,
             no_interpreter),
        Step("predict: NVDEC + batched bf16, ResNet-50 at 224 on 1080p (goal >= 1000 frames/s)",
             [python, "benchmarks/bench_predict.py", "--gpu", "--seconds", "20" if quick else "60", "--threads", "8",
              "--json", os.path.join(out_dir, PREDICT)], 240),
    ]


def bench_cells() -> list:
    from bench_gpu_train import CELLS

    return CELLS


def run_step(step: Step) -> Outcome:
    env = dict(os.environ)
    for key, value in (step.env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    start = time.perf_counter()
    try:
        done = subprocess.run(step.command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=step.timeout_s)
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code = 124
        text = ((err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or ""))
        text += f"\n(stopped after {step.timeout_s} s)"
    return Outcome(step, code, time.perf_counter() - start, "\n".join(text.strip().splitlines()[-40:]))


def sections():
    """(results file, heading, markdown table of its results) of each GPU benchmark."""
    import bench_gpu_losses
    import bench_gpu_sampler
    import bench_gpu_train
    import bench_predict

    return [(LOSSES, "Fused losses (forward + backward)", bench_gpu_losses.table),
            (SAMPLER, "Clip sampling (clip recipe, 336 px)", bench_gpu_sampler.table),
            (TRAIN, "Training step (peskavlp, the paper's per-GPU batches)", bench_gpu_train.table),
            (PREDICT, "predict (NVDEC + batched bf16)", bench_predict.gpu_table)]


def write_report(path: str, outcomes: list, out_dir: str, device: str) -> str:
    """The markdown report: one line per step, each benchmark's table (from its results file in
    `out_dir`, when it wrote one), and the tail of each failed step."""
    lines = [f"# GPU check, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"Device: {device}", "", "| step | status | seconds |", "|---|---|---|"]
    for o in outcomes:
        status = "ok" if o.returncode == 0 else ("timed out" if o.returncode == 124 else f"failed ({o.returncode})")
        lines.append(f"| {o.step.name} | {status} | {o.seconds:.0f} |")
    for name, heading, table in sections():
        results = os.path.join(out_dir, name)
        if os.path.exists(results):
            with open(results) as f:
                lines += ["", f"## {heading}", "", table(json.load(f))]
    for o in outcomes:
        if o.returncode != 0 or o.step.name.startswith("Triton"):
            lines += ["", f"## {o.step.name}: output (last lines)", "", "```", o.tail, "```"]
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "gpu_check"), help="report folder")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and exit")
    parser.add_argument("--quick", action="store_true", help="smallest benchmark sizes only")
    args = parser.parse_args(argv)
    steps = plan(args.out, sys.executable, args.quick)
    import torch

    has_gpu = torch.cuda.is_available()
    if args.dry_run or not has_gpu:
        why = "dry run" if args.dry_run else "no CUDA device here"
        print(f"gpu_check ({why}): would run, in {ROOT}, writing {os.path.join(args.out, 'report.md')} "
              f"and rows in benchmarks/results.csv:")
        for i, s in enumerate(steps, 1):
            env = " ".join(f"{k}={v}" if v is not None else f"-u {k}" for k, v in (s.env or {}).items())
            print(f"  {i}. {s.name} (limit {s.timeout_s} s): {(env + ' ') if env else ''}{' '.join(s.command)}")
        return 0
    os.makedirs(args.out, exist_ok=True)
    for name in (LOSSES, SAMPLER, TRAIN, PREDICT):  # the report shows this run's results only
        if os.path.exists(os.path.join(args.out, name)):
            os.remove(os.path.join(args.out, name))
    outcomes = []
    for s in steps:
        print(f"gpu_check: {s.name} ...", flush=True)
        outcomes.append(run_step(s))
        print(f"gpu_check: {s.name}: rc {outcomes[-1].returncode}, {outcomes[-1].seconds:.0f} s", flush=True)
    report = write_report(os.path.join(args.out, "report.md"), outcomes, args.out, torch.cuda.get_device_name(0))
    print(report)
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
