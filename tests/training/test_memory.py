"""Resident memory stays flat over a long run of training steps: the toy world (real streams and
trainer), and the synthetic world through the whole pipeline (videos decoded, views, real objective)."""
import os

import pytest

import training_toy as toy
from training_helpers import ROOT, tiny_world_overrides
from surgvlp_fast.training.config import load_config
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.training.trainer import Trainer


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_resident_memory_is_flat_over_many_steps(tmp_path, tokenizer_dir):
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir, ("clip", "video")) + [
        "schedule.mode=batch", "schedule.batches.clip=1", "schedule.batches.video=1", "train.epochs=40",
        "data.video.batch_size=2", "checkpoint.every_epochs=10", "checkpoint.keep_last=2", "train.log_every=50"])
    trainer = Trainer(cfg, str(tmp_path / "run"), toy.toy_data(load_tokenizer(tokenizer_dir), ("clip", "video")),
                      objective=toy.ToyObjective())
    samples = []
    with trainer:
        for stop in range(20, trainer.total_steps + 1, 20):
            trainer.train(max_steps=stop)
            samples.append(rss_mb())
    assert trainer.progress.step == trainer.total_steps == 240
    warm = samples[2]
    assert max(samples[2:]) - warm < 25, f"resident memory over the run (MB, every 20 steps): {samples}"


@pytest.mark.slow
def test_resident_memory_is_flat_on_the_synthetic_world(tmp_path, tiny_world):
    from surgvlp_fast.pretrain.build import build_training_data

    world = str(tiny_world[0])
    cfg = load_config(os.path.join(ROOT, "configs", "hecvl.yaml"), tiny_world_overrides(world, "hecvl") + [
        "train.max_steps=0", "train.epochs=40", "checkpoint.every_epochs=10", "checkpoint.keep_last=2",
        "train.log_every=50", "validation.every_epochs=0"])
    trainer = Trainer(cfg, str(tmp_path / "run"), build_training_data(cfg.data, load_tokenizer(f"{world}/tokenizer"), seed=cfg.seed))
    samples = []
    with trainer:
        step = trainer.total_steps // 10
        for stop in range(step, trainer.total_steps + 1, step):
            trainer.train(max_steps=stop)
            samples.append(rss_mb())
    assert trainer.progress.step == trainer.total_steps >= 150
    warm = samples[2]
    assert max(samples[2:]) - warm < 25, f"resident memory over the run (MB, every {step} steps): {samples}"
