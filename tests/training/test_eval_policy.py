"""Evaluation during training (surgvlp_fast/training/eval_policy.py) on the toy world: the validation
loss, the evaluation hook every N epochs, and a failing evaluation (eval.on_error)."""
import json
import math

import pytest
import torch

import training_toy as toy
from surgvlp_fast.training.config import load_config
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.training import checkpoint as ckpt
from surgvlp_fast.training.trainer import Trainer


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def make(work_dir, tokenizer_dir, tokenizer, *overrides, eval_hook=None, **data_kwargs):
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir) + list(overrides))
    return Trainer(cfg, str(work_dir), toy.toy_data(tokenizer, **data_kwargs), objective=toy.ToyObjective(),
                   eval_hook=eval_hook)


@pytest.mark.parametrize("mode,changes", [("eval", False), ("train", True)])
def test_validation_mode_and_batchnorm_statistics(tmp_path, tokenizer_dir, tokenizer, mode, changes):
    trainer = make(tmp_path / "run", tokenizer_dir, tokenizer, "model.vision.norm=batch",
                   f"validation.model_mode={mode}", val=True)
    stats = {k: v.clone() for k, v in trainer.model.state_dict().items() if "running_mean" in k}
    loss = trainer.validate()
    assert math.isfinite(loss) and trainer.model.training
    after = trainer.model.state_dict()
    assert any(not torch.equal(v, after[k]) for k, v in stats.items()) == changes
    assert trainer.validate() == loss       # the same augmentations, the same kernels


def test_evaluation_hook_every_n_epochs(tmp_path, tokenizer_dir, tokenizer):
    calls = []

    def hook(model, tok, cfg, device):
        calls.append((model.training, tok is tokenizer, cfg.method, str(device)))
        return {"cholec80/accuracy": 0.5}

    trainer = make(tmp_path / "run", tokenizer_dir, tokenizer, "eval.every_epochs=2", "train.epochs=4", eval_hook=hook)
    trainer.train()
    assert len(calls) == 2 and calls[0][1:] == (True, "peskavlp", "cpu")
    records = map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
    assert [r["step"] for r in records if r["kind"] == "eval"] == [6, 12]


def test_a_failing_evaluation_costs_no_training(tmp_path, tokenizer_dir, tokenizer):
    calls = []

    def hook(model, tok, cfg, device):
        calls.append(ckpt.latest_checkpoint(str(tmp_path / "run")))   # the epoch's checkpoint is already there
        if len(calls) == 1:
            raise FileNotFoundError("downstream_datasets/cholec80/frames/video49/00000001.png")
        return {"cholec80/accuracy": 0.5}

    short = ("data.clip.views=1", "eval.every_epochs=1", "train.epochs=3")
    trainer = make(tmp_path / "run", tokenizer_dir, tokenizer, *short, eval_hook=hook, sizes={"clip": 8})
    assert trainer.train() == "finished"
    assert calls[0] == ckpt.checkpoint_path(str(tmp_path / "run"), 2) and len(calls) == 3
    assert trainer.progress.failed_evals == 1
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "epoch 0 evaluation of evaluation failed: FileNotFoundError: downstream_datasets/cholec80" in log
    assert "1 evaluations failed" in log

    # eval.on_error=stop: the run stops with the error, after the epoch's checkpoint
    trainer = make(tmp_path / "stop", tokenizer_dir, tokenizer, *short, "eval.on_error=stop",
                   eval_hook=lambda *a: (_ for _ in ()).throw(ValueError("no frames")), sizes={"clip": 8})
    with pytest.raises(ValueError, match="no frames"):
        trainer.train()
    assert ckpt.latest_checkpoint(str(tmp_path / "stop")) == ckpt.checkpoint_path(str(tmp_path / "stop"), 2)
