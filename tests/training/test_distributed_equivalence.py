"""2-process gloo training ends with the same parameters as 1 process on the same global batch.

The model has no batch statistics (tiny CNN with GroupNorm; per-process BatchNorm would make the
two runs differ by design), no dropout, and the data has no per-rank randomness (original views
only, no random draws in the dataset); all three levels run (batch-level alternation). Each rank
ends with the process group destroyed and its gloo threads joined.
"""
import json

import torch

from training_helpers import run_toy
from surgvlp_fast.training.checkpoint import latest_checkpoint

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
    run_toy(one, tokenizer_dir, *COMMON, "data.clip.batch_size=4", "data.keystep.batch_size=2", "data.video.batch_size=2")
    result = run_toy(two, tokenizer_dir, *COMMON, "data.clip.batch_size=2", "data.keystep.batch_size=1",
                     "data.video.batch_size=1", nproc=2)
    # the trainer ended its process group: no gloo thread left to abort the interpreter's shutdown
    assert result.stdout.count("process group open: False, gloo threads left: 0") == 2, result.stdout
    a, b = losses(one), losses(two)
    assert sorted({level for level, _ in a.values()}) == ["clip", "keystep", "video"]
    assert a.keys() == b.keys() and len(a) >= 8
    for step in a:
        assert a[step][0] == b[step][0]
        assert abs(a[step][1] - b[step][1]) < 1e-5, (step, a[step], b[step])
    pa = torch.load(latest_checkpoint(str(one)), weights_only=True)["model"]
    pb = torch.load(latest_checkpoint(str(two)), weights_only=True)["model"]
    assert pa.keys() == pb.keys()
    for key in pa:
        torch.testing.assert_close(pa[key], pb[key], rtol=1e-4, atol=1e-5, msg=key)
