"""Launching the toy trainer (training_toy.py) in subprocesses: one process or torchrun."""
import os
import subprocess
import sys

import torch

from surgvlp_fast.testing import assert_close, rounding_bound

# Rounding bound (surgvlp_fast.testing) of one forward pass of training_toy's model and objective in float32:
# the longest reductions are the tiny CNN's last convolutions (3·3·128 terms) and its norms' statistics
# (up to 4·16·16 positions); the deepest path is the text side (embeddings, 2 BERT layers of about 8 stages,
# the pooling, the projection) and the objective's cosines and mean (about 4). The backward is as deep again.
TOY_FORWARD = rounding_bound(torch.float32, 3 * 3 * 128, depth=27)
TOY_BACKWARD = 2 * TOY_FORWARD


def assert_same_gradients(got: dict, want: dict, gain: float = 1.0):
    """Two evaluations of a toy step's gradients. A parameter's gradient sums products of activations and
    upstream gradients of the model's size: its terms are of the size of the largest gradient, against
    which it is compared (a gradient that is zero in exact arithmetic, such as an attention key bias's,
    is rounding noise on both sides). `gain`: the objective's, e.g. 1/τ for logits entering an exp."""
    assert got.keys() == want.keys() and want
    scale = max(g.abs().max().item() for g in want.values())
    for key in want:
        assert_close(got[key], want[key], TOY_BACKWARD * gain, scale=scale, msg=key)

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


def tiny_world_overrides(world, method):
    """Overrides that train `method` with tiny models on the tiny synthetic world in `world` (seconds per run)."""
    out = [f"data.root={world}", f"model.text.tokenizer={world}/tokenizer", "model.text.path=",
           "model.vision.backbone=tiny_cnn", "model.vision.weights=random", "model.embed_dim=32",
           "model.text.hidden_size=32", "model.text.num_layers=2", "model.text.num_heads=2",
           "model.text.intermediate_size=64", "model.text.max_positions=80", "model.text.last_n_layers=2",
           "data.num_workers=0", "device=cpu", "train.epochs=1", "train.progress_bar=false",
           "schedule.mode=batch", "schedule.batches.clip=2", "schedule.batches.keystep=1", "schedule.batches.video=1",
           "train.max_steps=4"]
    for level, frames, length in (("clip", 4, 24), ("val", 4, 24), ("keystep", 4, 48), ("video", 8, 64)):
        out += [f"data.{level}.size=32", f"data.{level}.num_frames={frames}", f"data.{level}.max_length={length}",
                f"data.{level}.batch_size=2"]
    if method == "peskavlp":   # the evaluation hook on the synthetic Cholec80 test videos
        out += ["eval.every_epochs=1", "eval.protocols=[cholec80]", "eval.options.videos=49-50", "train.max_steps=0"]
    else:
        out += ["eval.every_epochs=0"]
    return out
