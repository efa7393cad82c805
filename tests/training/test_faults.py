"""Faults around a training run: a full disk during a checkpoint write, an unreadable or malicious
newest checkpoint (a failing evaluation: test_evaluation.py)."""
import errno
import functools
import os

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


def make(work_dir, tokenizer_dir, tokenizer, *overrides, resume=False):
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir) + ["data.clip.views=1", *overrides])
    return Trainer(cfg, str(work_dir), toy.toy_data(tokenizer, sizes={"clip": 8}), objective=toy.ToyObjective(),
                   resume=resume)


class DiskFull:
    """A file opener whose files fail with ENOSPC after `room` bytes (a disk that fills up)."""

    def __init__(self, room: int):
        self.room = room

    def __call__(self, path, mode):
        f = open(path, mode)
        room, write = self.room, f.write

        def limited(data):
            nonlocal room
            if len(data) > room:
                write(bytes(data[:room]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            room -= len(data)
            return write(data)

        f.write = limited
        return f


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, tokenizer_dir, tokenizer, monkeypatch):
    run = tmp_path / "run"
    trainer = make(run, tokenizer_dir, tokenizer)
    assert trainer.train(max_steps=2) == "stopped"
    good = ckpt.latest_checkpoint(str(run))
    before = open(good, "rb").read()
    monkeypatch.setattr(ckpt, "atomic_save", functools.partial(ckpt.atomic_save, opener=DiskFull(room=50_000)))
    with pytest.raises(ckpt.CheckpointError, match="step000000003.pt: .*No space left on device.*earlier checkpoints"):
        trainer.train(max_steps=3)
    assert ckpt.list_checkpoints(str(run)) == [good] and open(good, "rb").read() == before
    assert os.listdir(run / "checkpoints") == [os.path.basename(good)]          # no temporary file left
    assert "cannot write the checkpoint" in (run / "log.txt").read_text()
    assert ckpt.load_checkpoint(good)["progress"]["step"] == 2


class Payload:
    """Unpickling this runs code (it creates the file `marker`)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_corrupt_or_malicious_newest_checkpoint_falls_back(tmp_path, tokenizer_dir, tokenizer):
    run = tmp_path / "run"
    trainer = make(run, tokenizer_dir, tokenizer, "checkpoint.every_steps=1")
    trainer.train(max_steps=3)
    third = ckpt.checkpoint_path(str(run), 3)
    data = open(third, "rb").read()
    open(third, "wb").write(data[: len(data) // 2])                              # cut short
    marker = tmp_path / "code_ran"
    fourth = ckpt.checkpoint_path(str(run), 4)
    torch.save({"model": {}, "extra": Payload(str(marker))}, fourth)             # a pickle that runs code
    with pytest.raises(ckpt.CheckpointError, match="step000000004.pt"):
        ckpt.load_checkpoint(fourth)
    assert not marker.exists()

    resumed = make(run, tokenizer_dir, tokenizer, resume=True)
    assert resumed.progress.step == 2 and not marker.exists()
    log = (run / "log.txt").read_text()
    assert f"cannot read the checkpoint {fourth}" in log and f"cannot read the checkpoint {third}" in log
    assert f"resumed from {ckpt.checkpoint_path(str(run), 2)}" in log
    assert resumed.train() == "finished" and resumed.progress.step == 4
