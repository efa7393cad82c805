"""Launching the toy trainer (training_toy.py) in subprocesses: one process or torchrun."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS"):
        env.pop(key, None)
    return env


def toy_command(work_dir, *args, nproc=1):
    script = os.path.join(HERE, "training_toy.py")
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    f"--nproc_per_node={nproc}"]
    return [*launcher, script, str(work_dir), *args]


def run_toy(work_dir, tokenizer, *args, nproc=1, timeout=300):
    result = subprocess.run(toy_command(work_dir, "--tokenizer", tokenizer, *args, nproc=nproc), env=run_env(),
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result
