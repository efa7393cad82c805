"""A rank failing in a distributed training run (two real gloo processes) stops the other within
seconds with its error, not after the process group's timeout: a failed checkpoint on the main rank
(the other waits for it), and an error in a training step on rank 1."""
import errno
import os
import socket
import time

import pytest

import training_toy as toy
from gloo_ranks import error_of, report, run_ranks, start, wait_for_report
from surgvlp_fast.training.config import load_config
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.training import checkpoint as ckpt
from surgvlp_fast.training.distributed import DistEnv
from surgvlp_fast.training.trainer import Trainer


def make(rank, tmp_dir, tokenizer_dir, port=None):
    """A toy trainer on rank `rank` of 2: in the test's process group, or (`port`) in its own, as a run has."""
    if port is None:
        start(rank, tmp_dir)
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir) + ["data.clip.views=1", "train.log_every=100"])
    data = toy.toy_data(load_tokenizer(tokenizer_dir), sizes={"clip": 16})
    return Trainer(cfg, os.path.join(tmp_dir, "run"), data, objective=toy.ToyObjective(),
                   env=DistEnv(rank, 2, 0, "127.0.0.1", port or 0, "torchrun"))


FAILED_AT = []   # when this process's failure happened


def full_disk(path, mode):
    FAILED_AT.append(time.time())
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def read_only_folder(work_dir, keep_last):
    FAILED_AT.append(time.time())
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(work_dir, "checkpoints"))


def _checkpoint(rank, tmp_dir, tokenizer_dir, fault):
    trainer = make(rank, tmp_dir, tokenizer_dir)
    if rank == 0 and fault == "disk full":
        real_save = ckpt.atomic_save
        ckpt.atomic_save = lambda state, path: real_save(state, path, opener=full_disk)
    elif rank == 0:   # the write succeeds, removing the older checkpoints fails
        ckpt.prune = read_only_folder
    try:
        trainer.save_checkpoint()
    except Exception as err:   # noqa: BLE001 - reported to the test
        report(tmp_dir, rank, error=error_of(err), failed_at=FAILED_AT)
    if rank == 0:
        wait_for_report(tmp_dir, 1)   # alive until rank 1 has stopped: no exit unblocks it


@pytest.mark.parametrize("fault, error", [("disk full", "CheckpointError"), ("read-only folder", "PermissionError")])
def test_a_failed_checkpoint_stops_every_rank(tmp_path, tokenizer_dir, fault, error):
    main, other = run_ranks(_checkpoint, tmp_path, tokenizer_dir, fault)
    assert main["error"]["type"] == error
    assert other["error"]["type"] == "RankFailed"
    assert other["error"]["message"] == f"rank 0 failed: {error}: {main['error']['message']}"
    assert other["error"]["at"] - main["failed_at"][0] < 10.0
    if fault == "disk full":
        assert "No space left on device" in main["error"]["message"]
        assert ckpt.list_checkpoints(str(tmp_path / "run")) == []


def _step(rank, tmp_dir, tokenizer_dir, port):
    trainer = make(rank, tmp_dir, tokenizer_dir, port)
    if rank == 1:   # its third batch cannot be read
        stream, served = trainer.streams["clip"], []

        def next_batch(real=stream.next):
            served.append(1)
            if len(served) == 3:
                FAILED_AT.append(time.time())
                raise ValueError("clip 5: the narration CSV has no 'text' column")
            return real()
        stream.next = next_batch
    try:
        with trainer:   # as `surgvlp-fast train`: close() ends the trainer's process group on the way out
            trainer.train()
    except Exception as err:   # noqa: BLE001 - reported to the test
        report(tmp_dir, rank, error=error_of(err), failed_at=FAILED_AT)
    if rank == 1:
        wait_for_report(tmp_dir, 0)   # alive: the closed group, not its exit, stops rank 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_rank_failing_in_a_training_step_stops_the_other(tmp_path, tokenizer_dir):
    reports = run_ranks(_step, tmp_path, tokenizer_dir, free_port())
    failed, stopped = reports[1], reports[0]["error"]
    assert failed["error"]["type"] == "ValueError"
    assert stopped["type"] == "RankFailed"
    assert stopped["message"] == "rank 1 failed: ValueError: clip 5: the narration CSV has no 'text' column"
    assert stopped["at"] - failed["failed_at"][0] < 10.0
