"""tools/gpu_check.sh without a GPU: the dry run, and the report and CSV rows it writes from results."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_gpu_losses  # noqa: E402
import bench_gpu_sampler  # noqa: E402
import bench_gpu_train  # noqa: E402
import bench_predict  # noqa: E402
import gpu_check  # noqa: E402

RESULTS = {
    "device": "NVIDIA H200",
    "losses": [
        {"loss": "milnce", "batch": 4096, "dtype": "bf16",
         "results": {"fused": {"seconds": 0.0030, "peak_bytes": 50 * 2**20},
                     "naive": {"seconds": 0.0100, "peak_bytes": 2000 * 2**20},
                     "gemm_floor": {"seconds": 0.0025, "peak_bytes": 300 * 2**20}}},
        {"loss": "clip_ntx", "batch": 32768, "dtype": "fp32",
         "results": {"fused": {"seconds": 0.02, "peak_bytes": 400 * 2**20}, "naive": {"error": "oom"},
                     "gemm_floor": {"seconds": 0.01, "peak_bytes": 4096 * 2**20}}},
    ],
    "softdtw_batch": 256,
    "softdtw": {"triton": {"seconds": 0.001}, "vectorised pytorch": {"seconds": 0.05}},
}
SAMPLER = {
    "device": "NVIDIA H200",
    "videos": [{"video": "1080p", "clips": 16, "results": {
        "native cpu 1t": {"clips_per_s": 2.0, "frames_per_s": 8.0, "decoded_per_s": 250.0, "status": "cpu"},
        "native nvdec": {"clips_per_s": 40.0, "frames_per_s": 160.0, "decoded_per_s": 5000.0,
                         "status": "nvdec on cuda:0", "max_abs_diff": 3, "mean_abs_diff": 0.25},
        "torchcodec cuda": {"error": "RuntimeError: no NVDEC"}}}],
}
TRAIN = {
    "device": "NVIDIA H200", "planned": ["bf16", "bf16+ckpt", "fp16+ckpt+compile"],
    "cells": [
        {"cell": "bf16", "levels": {"clip": {"error": "oom"}}},
        {"cell": "bf16+ckpt", "levels": {"clip": {"step_s": 1.25, "peak_bytes": 60 * 2**30,
                                                  "data_wait_fraction": 0.031},
                                         "video": {"step_s": 2.0, "peak_bytes": 90 * 2**30,
                                                   "data_wait_fraction": 0.5}}}],
}


def test_dry_run_prints_the_steps_and_exits_0():
    done = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpu_check (dry run): would run")
    assert [line.split(" (limit")[0].strip() for line in lines[1:]] == [
        f"{i}. {s.name}" for i, s in enumerate(gpu_check.plan("out", sys.executable), 1)]
    assert "doctor --kernels" in done.stdout and "-m gpu" in done.stdout and "bench_gpu_losses.py" in done.stdout
    assert "bench_gpu_sampler.py --clips 16" in done.stdout
    assert "bench_predict.py --gpu --seconds 60 --threads 8 --json" in done.stdout
    assert f"bench_gpu_train.py --cells {' '.join(bench_gpu_train.CELLS)} --json" in done.stdout
    quick = {s.name: s.command for s in gpu_check.plan("out", sys.executable, quick=True)}
    train = quick["training step: ResNet-50 + BERT-base at the paper's batches"]
    assert train[train.index("--cells") + 1:train.index("--json")] == ["bf16+ckpt", "bf16+ckpt+compile", "--levels",
                                                                        "clip"]


def test_benchmarks_fail_loudly_without_a_gpu_and_reject_bad_cells():
    for script, args in (("bench_gpu_sampler.py", []), ("bench_gpu_train.py", []), ("bench_predict.py", ["--gpu"]),
                         ("bench_gpu_train.py", ["--cells", "fp8+ckpt"])):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert ("cell 'fp8+ckpt'" if "--cells" in args else "no CUDA device") in done.stderr
    assert bench_gpu_train.parse_cell("fp16+ckpt+compile") == {"precision": "fp16", "checkpointing": True,
                                                               "compile": True}
    cfg = bench_gpu_train.overrides("w", bench_gpu_train.parse_cell("fp16+compile"), 8)
    assert {"train.precision=fp16", "train.compile=true", "model.gradient_checkpointing=false", "model.text.path=",
            "data.clip.batch_size=120", "data.keystep.batch_size=80", "data.video.batch_size=25"} <= set(cfg)


def test_report_and_rows_from_results(tmp_path):
    import json

    for name, results in ((gpu_check.LOSSES, RESULTS), (gpu_check.SAMPLER, SAMPLER), (gpu_check.TRAIN, TRAIN)):
        (tmp_path / name).write_text(json.dumps(results))
    steps = gpu_check.plan(str(tmp_path), sys.executable)
    outcomes = [gpu_check.Outcome(steps[0], 0, 100.0, "built"),
                gpu_check.Outcome(steps[2], 1, 30.0, "1 failed, 9 passed"),
                gpu_check.Outcome(steps[3], 124, 300.0, "(stopped after 300 s)"),
                gpu_check.Outcome(steps[4], 1, 60.0, "not measured on the GPU: 1080p torchcodec cuda"),
                gpu_check.Outcome(steps[5], 124, 420.0, "(stopped after 420 s)")]
    text = gpu_check.write_report(str(tmp_path / "report.md"), outcomes, str(tmp_path), "NVIDIA H200")
    assert (tmp_path / "report.md").read_text() == text
    assert "| build (CUDA kernels required) | ok | 100 |" in text
    assert "| GPU-marked tests | failed (1) | 30 |" in text and "1 failed, 9 passed" in text
    assert "| timed out | 300 |" in text
    assert "| milnce | 4096 | bf16 | 3.00 | 10.00 | 2.50 | 1.20 | 50 | 2000 | 0.025 |" in text
    assert "| clip_ntx | 32768 | fp32 | 20.00 | oom | 10.00 | 2.00 | 400 | oom | - |" in text
    assert "soft-DTW B = 256: Triton 1.00 ms, vectorised PyTorch 50.00 ms" in text
    rows = bench_gpu_losses.rows_of(RESULTS)
    assert {"benchmark": "gpu_milnce", "implementation": "fused", "size": "B=4096 d=768 bf16",
            "metric": "fwd+bwd time", "value": "3.000", "unit": "ms"} in rows
    assert {"benchmark": "gpu_clip_ntx", "implementation": "naive", "size": "B=32768 d=768 fp32",
            "metric": "fwd+bwd", "value": "oom", "unit": ""} in rows
    assert sum(r["benchmark"] == "gpu_softdtw" for r in rows) == 2


def test_sampler_and_training_report_and_rows(tmp_path):
    import json

    (tmp_path / gpu_check.SAMPLER).write_text(json.dumps(SAMPLER))
    (tmp_path / gpu_check.TRAIN).write_text(json.dumps(TRAIN))
    step = gpu_check.plan(str(tmp_path), sys.executable)[5]
    text = gpu_check.write_report(str(tmp_path / "report.md"), [gpu_check.Outcome(step, 124, 420.0, "(stopped)")],
                                  str(tmp_path), "NVIDIA H200")
    assert "## Fused losses" not in text    # no results file, no section
    assert "| 1080p | native cpu 1t | 2.0 | 8 | 250 | - | - | cpu |" in text
    assert "| 1080p | native nvdec | 40.0 | 160 | 5000 | 3 | 0.250 | nvdec on cuda:0 |" in text
    assert "| 1080p | torchcodec cuda | error: RuntimeError: no NVDEC |" in text
    assert "| bf16 | clip | 120 | oom | | |" in text
    assert "| bf16+ckpt | clip | 120 | 1250 | 60.0 | 3.1% |" in text
    assert "| bf16+ckpt | video | 25 | 2000 | 90.0 | 50.0% |" in text
    assert "Not measured (stopped by the time limit or a failure): fp16+ckpt+compile" in text
    size = "1080p H.264 gop250, 16 clips of 4 frames at 336"
    rows = bench_gpu_sampler.rows_of(SAMPLER)
    assert {"benchmark": "gpu_sampler_clip_recipe", "implementation": "native nvdec", "size": size,
            "metric": "max_abs_diff vs native cpu 1t", "value": "3", "unit": "levels"} in rows
    assert {"benchmark": "gpu_sampler_clip_recipe", "implementation": "native nvdec", "size": size,
            "metric": "decoded_per_s", "value": "5000.0", "unit": "frames/s"} in rows
    assert {"benchmark": "gpu_sampler_clip_recipe", "implementation": "torchcodec cuda", "size": size,
            "metric": "error", "value": "RuntimeError: no NVDEC", "unit": ""} in rows
    assert len(rows) == 4 + 3 + 1
    assert bench_gpu_sampler.fell_back("native nvdec", {"status": "FFmpeg has no CUDA hwaccel for h264"})
    assert not bench_gpu_sampler.fell_back("native nvdec", SAMPLER["videos"][0]["results"]["native nvdec"])
    rows = bench_gpu_train.rows_of(TRAIN)
    size = "ResNet-50 + BERT-base, batch 120, peskavlp"
    assert {"benchmark": "gpu_train_step_clip", "implementation": "bf16", "size": size, "metric": "step",
            "value": "oom", "unit": ""} in rows
    assert {"benchmark": "gpu_train_step_clip", "implementation": "bf16+ckpt", "size": size,
            "metric": "data wait fraction", "value": "0.031", "unit": ""} in rows
    assert {"benchmark": "gpu_train_step_video", "implementation": "bf16+ckpt",
            "size": "ResNet-50 + BERT-base, batch 25, peskavlp", "metric": "peak CUDA memory", "value": "90.00",
            "unit": "GiB"} in rows
    assert len(rows) == 1 + 3 + 3


def test_step_runner_records_failures_and_time_limits(tmp_path):
    ok = gpu_check.run_step(gpu_check.Step("ok", [sys.executable, "-c", "print('fine')"], 60, {"X_SET": "1"}))
    assert ok.returncode == 0 and ok.tail == "fine"
    slow = gpu_check.run_step(gpu_check.Step("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 1))
    assert slow.returncode == 124 and "stopped after 1 s" in slow.tail


PREDICT = {
    "device": "NVIDIA H100 80GB HBM3", "video": "1920x1080 60s", "arch": "resnet50", "batch": 256,
    "decoder": "nvdec on cuda:0", "goal_frames_per_s": 1000.0, "label_agreement": 0.98,
    "results": {"nvdec bf16 every frame": {"frames": 1500, "seconds": 1.2, "frames_per_s": 1250.0,
                                           "video_s_per_s": 50.0},
                "nvdec bf16 1 fps": {"frames": 60, "seconds": 1.0, "frames_per_s": 60.0, "video_s_per_s": 60.0},
                "cpu decode bf16 every frame": {"error": "RuntimeError: out of memory"}},
}


def test_predict_row_report_and_rows(tmp_path):
    import json

    (tmp_path / gpu_check.PREDICT).write_text(json.dumps(PREDICT))
    step = gpu_check.plan(str(tmp_path), sys.executable)[-1]
    assert step.name.startswith("predict: NVDEC + batched bf16") and "--gpu" in step.command
    assert gpu_check.plan(str(tmp_path), sys.executable, quick=True)[-1].command[3:5] == ["--seconds", "20"]
    text = gpu_check.write_report(str(tmp_path / "report.md"), [gpu_check.Outcome(step, 0, 90.0, "ok")],
                                  str(tmp_path), "NVIDIA H100 80GB HBM3")
    assert "## predict (NVDEC + batched bf16)" in text
    assert "| nvdec bf16 every frame | 1250 | 50.0 | 1.20 | met |" in text
    assert "| nvdec bf16 1 fps | 60 | 60.0 | 1.00 | - |" in text
    assert "| cpu decode bf16 every frame | error: RuntimeError: out of memory |" in text
    assert "decoder: nvdec on cuda:0" in text and "98.0 % equal" in text
    slower = json.loads(json.dumps(PREDICT))
    slower["results"]["nvdec bf16 every frame"]["frames_per_s"] = 999.0
    assert "| 999 | 50.0 | 1.20 | missed |" in bench_predict.gpu_table(slower)
    rows = bench_predict.gpu_rows(PREDICT)
    size = "resnet50 1920x1080 60s batch 256 bf16"
    assert {"benchmark": "gpu_predict", "implementation": "nvdec bf16 every frame", "size": size,
            "metric": "frames_per_s", "value": "1250.0", "unit": "frames/s"} in rows
    assert {"benchmark": "gpu_predict", "implementation": "cpu decode bf16 every frame", "size": size,
            "metric": "error", "value": "RuntimeError: out of memory", "unit": ""} in rows
    assert len(rows) == 3 + 3 + 1
