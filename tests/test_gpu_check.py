"""tools/gpu_check.sh without a GPU: the dry run, and the report and CSV rows it writes from results."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_gpu_losses  # noqa: E402
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


def test_dry_run_prints_the_steps_and_exits_0():
    done = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpu_check (dry run): would run")
    assert [line.split(" (limit")[0].strip() for line in lines[1:]] == [
        f"{i}. {s.name}" for i, s in enumerate(gpu_check.plan("out", sys.executable), 1)]
    assert "doctor --kernels" in done.stdout and "-m gpu" in done.stdout and "bench_gpu_losses.py" in done.stdout


def test_report_and_rows_from_results(tmp_path):
    import json

    losses_json = tmp_path / "gpu_losses.json"
    losses_json.write_text(json.dumps(RESULTS))
    steps = gpu_check.plan(str(tmp_path), sys.executable)
    outcomes = [gpu_check.Outcome(steps[0], 0, 100.0, "built"),
                gpu_check.Outcome(steps[2], 1, 30.0, "1 failed, 9 passed"),
                gpu_check.Outcome(steps[3], 124, 300.0, "(stopped after 300 s)")]
    text = gpu_check.write_report(str(tmp_path / "report.md"), outcomes, str(losses_json), "NVIDIA H200")
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


def test_step_runner_records_failures_and_time_limits(tmp_path):
    ok = gpu_check.run_step(gpu_check.Step("ok", [sys.executable, "-c", "print('fine')"], 60, {"X_SET": "1"}))
    assert ok.returncode == 0 and ok.tail == "fine"
    slow = gpu_check.run_step(gpu_check.Step("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 1))
    assert slow.returncode == 124 and "stopped after 1 s" in slow.tail
