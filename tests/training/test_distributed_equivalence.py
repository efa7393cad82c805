"""2-process gloo training ends with the same parameters as 1 process on the same global batch.

The model has no batch statistics (tiny CNN with GroupNorm; per-process BatchNorm would make the
two runs differ by design), no dropout, and the data has no per-rank randomness (original views
only, no random draws in the dataset); all three levels run (batch-level alternation). Each rank
ends with the process group destroyed and its gloo threads joined.

Compared: the gradients of the first optimizer step (the same parameters on both sides: what DDP must
get right) and the loss of every step, within the toy step's rounding bounds (training_helpers.py).
Parameters after several steps are not compared: Adam turns rounding noise in gradients that are zero in
exact arithmetic (an attention key bias's) into lr-sized updates of parameters that do not change the loss.
"""
import json

import torch

from training_helpers import TOY_FORWARD, assert_same_gradients, run_toy

COMMON = ["--pure", "--levels", "clip,keystep,video", "schedule.mode=batch", "schedule.batches.clip=2",
          "schedule.batches.keystep=1", "schedule.batches.video=1", "data.clip.views=1", "train.epochs=2"]


def losses(work_dir):
    out = {}
    for line in open(work_dir / "metrics.jsonl"):
        record = json.loads(line)
        if record["kind"] == "train":
            out[record["step"]] = (record["level"], record["loss"])
    return out


def test_two_processes_equal_one_process(tmp_path, tokenizer_dir):
    one, two = tmp_path / "one", tmp_path / "two"
    # both runs in fresh processes with one intra-op thread: the same summation order, whatever
    # state earlier tests left in this process
    run_toy(one, tokenizer_dir, *COMMON, "--first-gradients", str(tmp_path / "one.pt"), "data.clip.batch_size=4",
            "data.keystep.batch_size=2", "data.video.batch_size=2")
    result = run_toy(two, tokenizer_dir, *COMMON, "--first-gradients", str(tmp_path / "two.pt"),
                     "data.clip.batch_size=2", "data.keystep.batch_size=1", "data.video.batch_size=1", nproc=2)
    # the trainer ended its process group: no gloo thread left to abort the interpreter's shutdown
    assert result.stdout.count("process group open: False, gloo threads left: 0") == 2, result.stdout
    a, b = losses(one), losses(two)
    assert sorted({level for level, _ in a.values()}) == ["clip", "keystep", "video"]
    assert a.keys() == b.keys() and len(a) >= 8
    for step in a:   # a loss: the mean of cosine distances, each at most 2
        assert a[step][0] == b[step][0]
        assert abs(a[step][1] - b[step][1]) <= TOY_FORWARD * 2, (step, a[step], b[step])
    assert_same_gradients(torch.load(tmp_path / "two.pt"), torch.load(tmp_path / "one.pt"))
