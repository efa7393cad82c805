"""A run moves between world sizes: 1 process → 2 gloo processes → 1 process, each stop mid-epoch.

Every sample of each pass is served exactly once over the three runs (the rest of a pass is dealt
out over the new ranks from the stored global position), the steps go on without a gap, the losses
stay finite, and the last epoch runs the full pass of the final world.
"""
import collections
import json
import math
import os

from training_helpers import run_toy

SIZES = {"clip": 8, "video": 4}     # training_toy.main's sizes
ARGS = ["--levels", "clip,video", "schedule.mode=batch", "schedule.batches.clip=1", "schedule.batches.video=1",
        "data.clip.batch_size=2", "data.video.batch_size=2", "data.clip.views=3", "train.epochs=2"]


def served(record_dir):
    seen = collections.defaultdict(list)
    for name in os.listdir(record_dir):
        for line in open(os.path.join(record_dir, name)):
            level, epoch, index = line.split()
            seen[(level, int(epoch))].append(int(index))
    return seen


def train_records(work_dir):
    return [r for r in map(json.loads, open(work_dir / "metrics.jsonl")) if r["kind"] == "train"]


def test_resume_one_to_two_to_one_process(tmp_path, tokenizer_dir):
    work_dir, record = tmp_path / "run", tmp_path / "served"
    record.mkdir()
    common = ["--record", str(record), *ARGS]
    # 1 process: a clip step and a video step (clip at sample 2 of 8, video at 2 of 4)
    run_toy(work_dir, tokenizer_dir, *common, "train.max_steps=2")
    # 2 processes: one clip step (a batch of 2 per rank: clip at sample 6)
    run_toy(work_dir, tokenizer_dir, "--resume", *common, "train.max_steps=3", nproc=2)
    # 1 process again, to the end: the rest of epoch 0 (the round's video step, the last clip batch
    # and its video step), then a full epoch 1 (4 clip and 4 video steps)
    run_toy(work_dir, tokenizer_dir, "--resume", *common)

    seen = served(record)
    for level, size in SIZES.items():
        assert sorted(seen[(level, 0)]) == list(range(size)), (level, seen[(level, 0)])
    assert sorted(seen[("clip", 1)]) == list(range(8))       # epoch 1: a full pass on 1 process
    assert sorted(seen[("video", 1)]) == list(range(4))      # the video stream goes on into its next passes

    records = train_records(work_dir)
    steps = [r["step"] for r in records]
    assert steps == list(range(1, 15)), steps           # epoch 0: 2 + 1 + 3, epoch 1: 8
    assert all(math.isfinite(r["loss"]) for r in records)
    log = (work_dir / "log.txt").read_text()
    assert "resuming a checkpoint of 1 process(es) on 2" in log
    assert "resuming a checkpoint of 2 process(es) on 1" in log
    assert "finished: 14 steps" in log
