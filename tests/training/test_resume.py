"""A run stopped with SIGTERM, resumed, killed with SIGKILL and resumed again gives the losses of an
uninterrupted run.

The toy data draws from the global RNG in the dataset, the clip views take noise from the trainer's
augmentation generator, and two levels alternate, so the model, optimizer, scheduler, stream
positions and every RNG state must all come back for the losses to match.
"""
import json
import os
import signal
import subprocess
import time

import pytest
import torch

from training_helpers import ROOT, run_env, run_toy, toy_command
from surgvlp_fast.training.checkpoint import latest_checkpoint, list_checkpoints

ARGS = ["--levels", "clip,video", "schedule.mode=batch", "schedule.batches.clip=2", "schedule.batches.video=1",
        "data.clip.views=3", "train.epochs=3", "checkpoint.every_steps=2", "checkpoint.keep_last=3",
        "data.clip.batch_size=3", "data.video.batch_size=2"]


def step_losses(work_dir) -> dict:
    out = {}
    for line in open(os.path.join(work_dir, "metrics.jsonl")):
        record = json.loads(line)
        if record["kind"] == "train":
            out[record["step"]] = record["loss"]   # a step re-run after a resume overwrites the lost one
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tokenizer_dir):
    work_dir = tmp_path_factory.mktemp("resume") / "full"
    # a fresh process, as the interrupted runs: the same threads and summation order, whatever
    # earlier tests left in this process (torch.set_num_threads)
    run_toy(work_dir, tokenizer_dir, *ARGS)
    return work_dir


def start_slow(work_dir, tokenizer_dir, *extra):
    return subprocess.Popen(toy_command(work_dir, "--tokenizer", tokenizer_dir, "--slow", "0.15", *extra, *ARGS),
                            env=run_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, process, timeout=120):
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError("training ended before the test could interrupt it: " + process.stderr.read()[-3000:])
        if time.time() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def compare(uninterrupted, work_dir):
    a, b = step_losses(uninterrupted), step_losses(work_dir)
    assert a.keys() == b.keys() and len(a) >= 9
    for step in a:
        assert a[step] == b[step], step   # resume is exact: the same kernels on the same restored state
    pa = torch.load(latest_checkpoint(str(uninterrupted)), weights_only=True)["model"]
    pb = torch.load(latest_checkpoint(str(work_dir)), weights_only=True)["model"]
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


def checkpoint_steps(work_dir):
    return [int(p[-12:-3]) for p in list_checkpoints(str(work_dir))]


def test_sigterm_then_sigkill_then_resume_gives_the_same_losses(uninterrupted, tmp_path, tokenizer_dir):
    work_dir = tmp_path / "interrupted"
    # 1. SIGTERM (SLURM pre-emption): a checkpoint at the next step, a clean exit
    process = start_slow(work_dir, tokenizer_dir)
    wait_for(lambda: (work_dir / "metrics.jsonl").exists() and len(step_losses(work_dir)) >= 3, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    assert out.strip().splitlines()[-1] == "stopped"
    assert "stopping on SIGTERM" in (work_dir / "log.txt").read_text()
    stopped_at = max(checkpoint_steps(work_dir))
    assert stopped_at == max(step_losses(work_dir)) < max(step_losses(uninterrupted))
    # 2. resumed, then killed with SIGKILL after a later periodic checkpoint
    process = start_slow(work_dir, tokenizer_dir, "--resume")
    wait_for(lambda: max(checkpoint_steps(work_dir)) >= stopped_at + 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert max(step_losses(work_dir)) < max(step_losses(uninterrupted)), "the run must have been cut short"
    # 3. resumed to the end: the same losses and parameters as the uninterrupted run
    run_toy(work_dir, tokenizer_dir, "--resume", *ARGS)
    compare(uninterrupted, work_dir)
    assert len(list_checkpoints(str(work_dir))) == 3   # checkpoint.keep_last
    assert not [f for f in os.listdir(work_dir / "checkpoints") if ".tmp" in f]
    assert (work_dir / "log.txt").read_text().count("resumed from") == 2
