"""No host read of a tensor value in a training step from the project's code (issue: every
`.item()` / `bool(tensor)` / `.tolist()` is a device-to-host wait on a GPU).

A whole clip-, keystep- and video-level step of PeskaVLP (fused losses, soft-DTW, the batched
augmentation, forward, backward, optimizer step) runs under a TorchDispatchMode that records every
`aten._local_scalar_dense` with the innermost Python frame that asked for it. Reads from the
project's code must be zero during the steps; the every-N-steps logging then reads the values in
one go. Reads inside torch itself are not the project's (e.g. Adam's step counter on the CPU).
"""
import functools
import math
import os
import traceback

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import training_toy as toy
import surgvlp_fast
from surgvlp_fast.training.config import load_config
from surgvlp_fast.losses.objectives import build_objective
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.pretrain.augment import ClipAugmentation, make_views
from surgvlp_fast.training.trainer import Trainer

PROJECT = os.path.dirname(os.path.abspath(surgvlp_fast.__file__))
TORCH = os.path.dirname(os.path.abspath(torch.__file__))
# Thin torch wrappers between a caller and the op (Tensor.__format__, the dispatch machinery).
WRAPPERS = {os.path.join(TORCH, name) for name in ("_tensor.py", "_ops.py", "overrides.py", "_compile.py",
                                                   os.path.join("utils", "_python_dispatch.py"))}
DYNAMO = os.path.join(TORCH, "_dynamo") + os.sep        # it wraps the mode's __torch_dispatch__


def _plumbing(path: str) -> bool:
    return path == os.path.abspath(__file__) or path in WRAPPERS or path.startswith(DYNAMO)
# Host-side parameters by design: ClipAugmentation.sample_parameters draws every random number on
# the CPU (a CPU generator), and the chain branches on them there; on a GPU these are host reads.
HOST_PARAMETERS = {os.path.join(PROJECT, "pretrain", "augment.py")}


class ScalarReads(TorchDispatchMode):
    """Counts aten._local_scalar_dense by the innermost frame that is not a thin torch wrapper."""

    def __init__(self):
        super().__init__()
        self.project, self.elsewhere = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            frames = traceback.extract_stack()
            while _plumbing(os.path.abspath(frames[-1].filename)):
                frames.pop()
            where = frames[-1]
            path = os.path.abspath(where.filename)
            if path.startswith(PROJECT + os.sep) and path not in HOST_PARAMETERS:
                self.project.append(f"{os.path.relpath(path, PROJECT)}:{where.lineno} {where.line}")
            else:
                self.elsewhere.append(f"{path}:{where.lineno}")
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def test_training_steps_read_no_value_on_the_host(tmp_path, tokenizer_dir, tokenizer):
    levels = ("clip", "keystep", "video")
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir, levels) + ["method=peskavlp", "train.log_every=100",
                                                                         "train.nonfinite=skip"])
    data = toy.toy_data(tokenizer, levels)
    data.make_views = functools.partial(make_views, augmentation=ClipAugmentation(size=32))
    objective = build_objective("peskavlp", dtw_levels=("keystep", "video"))
    trainer = Trainer(cfg, str(tmp_path / "run"), data, objective=objective)
    for level in levels:                                   # batches drawn beforehand: the data loading is
        stream = trainer.streams[level]                    # host work of its own, not the step's
        batches = [stream.next() for _ in range(2)]
        stream.next = functools.partial(batches.pop, 0)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    reads = ScalarReads()
    with reads:
        results = [trainer.train_step(level, 1) for level in levels for _ in range(2)]
    assert reads.project == [], "host reads of tensor values in a training step:\n" + "\n".join(reads.project)
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the optimizer steps changed no parameter"
    # the logging reads every value of the steps at once, and finds them finite
    assert trainer._check_nonfinite() == set() and trainer.progress.skipped_steps == 0
    for result in results:
        means = trainer._global_mean(result)
        assert means and all(math.isfinite(v) for v in means.values())
    assert {"dtw", "clip_video_parent"} <= set(results[-1]) and "simclr" in results[0]


def test_non_finite_step_is_skipped_on_the_device(tmp_path, tokenizer_dir, tokenizer):
    """train.nonfinite=skip without a host read: the fused optimizer's found_inf leaves the
    parameters and the optimizer state as they were; the next log step counts the step."""
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir) + ["train.nonfinite=skip", "train.log_every=100"])

    class NaNLoss(toy.ToyObjective):
        def clip(self, e):
            loss, terms = super().clip(e)
            return loss * math.nan, terms

    trainer = Trainer(cfg, str(tmp_path / "run"), toy.toy_data(tokenizer), objective=NaNLoss())
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    reads = ScalarReads()
    with reads:
        trainer.train_step("clip", 2)
    assert reads.project == []
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in before.items())
    assert all(float(s["step"]) == 0 for s in trainer.optimizer.state.values())
    assert trainer._check_nonfinite() == {1} and trainer.progress.skipped_steps == 1
