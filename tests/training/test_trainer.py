"""The trainer in one process on the toy world: logs, corrupt samples, non-finite losses (validation
and the evaluation hook: test_evaluation.py)."""
import json
import math

import pytest
import torch

import training_toy as toy
from training_helpers import TOY_FORWARD, assert_same_gradients
from surgvlp_fast.training.config import load_config
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.testing import rounding_bound
from surgvlp_fast.training.nonfinite import NonFiniteLoss
from surgvlp_fast.training.trainer import Trainer

ANNEAL = rounding_bound(torch.float64, 1, depth=4)   # the schedule's factor (a ratio, a cosine, a sum, a product)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def make_trainer(tmp_path, tokenizer_dir, tokenizer, *overrides, levels=("clip",), objective=None, **data_kwargs):
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir, levels) + list(overrides))
    data = toy.toy_data(tokenizer, levels, **data_kwargs)
    return Trainer(cfg, str(tmp_path / "run"), data, objective=objective or toy.ToyObjective())


def records(tmp_path, kind):
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_logs_config_and_tensorboard_at_the_real_step(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, "train.tensorboard=true", "optim.warmup_steps=2")
    assert trainer.train() == "finished"
    trainer.close()                                         # flushes TensorBoard
    run = tmp_path / "run"
    assert load_config(str(run / "config.yaml")) == trainer.cfg
    train = records(tmp_path, "train")
    assert [r["step"] for r in train] == list(range(1, trainer.total_steps + 1)) and trainer.total_steps == 6
    assert train[-1]["lr"] == pytest.approx(0.0, abs=1e-3 * ANNEAL)    # annealed to 0 at the last real step
    assert "clip/view0" in train[0] and "samples_per_s" in train[0]
    assert "epoch 1 step 6/6 clip loss" in (run / "log.txt").read_text()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 7))


def test_corrupt_samples_are_skipped_counted_and_logged(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, corrupt=(1, 4))
    assert trainer.train() == "finished"
    assert trainer.progress.skipped_samples == 2 * 2   # two corrupt samples, two epochs
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "skipped corrupt sample of level clip: sample 4: video_4.mp4 cannot be decoded" in log
    assert "4 corrupt samples skipped" in log


class NaNAtStep(toy.ToyObjective):
    def __init__(self, bad_calls):
        self.calls, self.bad_calls = 0, bad_calls

    def clip(self, e):
        self.calls += 1
        loss, terms = super().clip(e)
        return (loss * math.nan, terms) if self.calls in self.bad_calls else (loss, terms)


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, objective=NaNAtStep({2}))
    with pytest.raises(NonFiniteLoss, match="non-finite clip loss at step 1 .*train.nonfinite=skip"):
        trainer.train()


def test_non_finite_loss_can_skip_the_step(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, "train.nonfinite=skip", objective=NaNAtStep({2, 5}))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.train() == "finished"
    assert trainer.progress.skipped_steps == 2 and trainer.progress.step == 6
    assert [r["step"] for r in records(tmp_path, "train")] == [1, 3, 4, 6]
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_steps_on_cpu(tmp_path, tokenizer_dir, tokenizer, precision):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, f"train.precision={precision}", "train.max_steps=2")
    assert trainer.train() == "stopped" and trainer.progress.step == 2
    assert all(r["loss"] > 0 for r in records(tmp_path, "train"))
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    saved = torch.load(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1], weights_only=True)
    assert ("scale" in saved["scaler"]) == (precision == "fp16")


def test_gradient_accumulation_equals_the_larger_batch(tmp_path, tokenizer_dir, tokenizer):
    """2 micro-batches of 2 = 1 batch of 4 (per-sample objective, original views only): the same
    gradient at the first step (same parameters) and the same losses step by step. Parameters after
    several Adam steps are not compared: Adam turns rounding noise in near-zero gradients into lr-sized
    updates."""
    grads, losses = [], []
    for name, overrides in (("big", ["data.clip.batch_size=4"]), ("accumulated", ["data.clip.batch_size=2",
                                                                                  "train.accumulate=2"])):
        trainer = make_trainer(tmp_path / name, tokenizer_dir, tokenizer, "data.clip.views=1", *overrides,
                               sizes={"clip": 8})
        assert trainer.total_steps == 4
        seen, model = [], trainer.model
        trainer.optimizer.register_step_pre_hook(lambda *_: seen.append(
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
        trainer.train()
        assert len(seen) == 4
        grads.append(seen[0])
        losses.append([r["loss"] for r in records(tmp_path / name, "train")])
    assert losses[0] == pytest.approx(losses[1], abs=2 * TOY_FORWARD)   # means of cosine distances (at most 2)
    assert_same_gradients(grads[1], grads[0])


def test_train_in_pieces_equals_one_call(tmp_path, tokenizer_dir, tokenizer):
    """train(max_steps=…) stops at that run step; later calls go on: the same steps, losses and
    parameters as one call. The call's limit is not written into the config."""
    whole = make_trainer(tmp_path / "whole", tokenizer_dir, tokenizer)
    assert whole.train() == "finished"
    whole.close()
    with make_trainer(tmp_path / "pieces", tokenizer_dir, tokenizer) as pieces:
        assert pieces.train(max_steps=2) == "stopped" and pieces.progress.step == 2
        assert pieces.train(max_steps=2) == "stopped" and pieces.progress.step == 2   # nothing more to do
        assert pieces.train(max_steps=4) == "stopped" and pieces.progress.step == 4
        assert pieces.train() == "finished" and pieces.progress.step == whole.progress.step == 6
        assert pieces.cfg.train.max_steps == 0
    a, b = records(tmp_path / "whole", "train"), records(tmp_path / "pieces", "train")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 7))
    # the same steps in the same process: the same kernels on the same numbers
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    pa, pb = whole.model.state_dict(), pieces.model.state_dict()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


def test_train_keeps_the_log_open_and_close_closes_it(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, "train.tensorboard=true")
    assert trainer.train(max_steps=1) == "stopped"
    assert trainer.log._tb is not None                      # still open: a later call can log
    assert trainer.train() == "finished"
    assert trainer.log._tb is not None
    trainer.close()
    assert trainer.log._tb is None and trainer.log._bar is None
    with make_trainer(tmp_path / "with", tokenizer_dir, tokenizer, "train.tensorboard=true") as t:
        t.train(max_steps=1)
    assert t.log._tb is None


def test_set_schedule_changes_the_length_and_the_saved_config(tmp_path, tokenizer_dir, tokenizer):
    trainer = make_trainer(tmp_path, tokenizer_dir, tokenizer, "optim.warmup_steps=2")
    caller_cfg = trainer.cfg
    assert trainer.total_steps == 6 and caller_cfg.train.epochs == 2
    assert trainer.train(max_steps=3) == "stopped"
    trainer.set_schedule(3)
    assert trainer.total_steps == 9 and trainer.cfg.train.epochs == 3
    assert caller_cfg.train.epochs == 2                     # the caller's config is left alone
    saved = load_config(str(tmp_path / "run" / "config.yaml"))
    assert saved == trainer.cfg and saved.train.epochs == 3
    assert trainer.train() == "finished"
    trainer.close()
    train = records(tmp_path, "train")
    assert [r["step"] for r in train] == list(range(1, 10))
    assert train[-1]["lr"] == pytest.approx(0.0, abs=1e-3 * ANNEAL)    # annealed over the new length
    assert train[3]["lr"] > 0
