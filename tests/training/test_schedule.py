"""Level schedules (reference.md §5.6 and the paper) and the LR schedule over the real steps."""
import pytest
import torch

from surgvlp_fast.testing import rounding_bound
from surgvlp_fast.training.schedule import cosine_with_warmup, epoch_plan, total_steps

EVERY = {"keystep": 3, "video": 5}
BATCHES = {"clip": 25, "keystep": 15, "video": 115}


def test_epoch_mode_matches_the_reference_counts():
    lengths = {"clip": 4, "keystep": 2, "video": 1}
    runs = {"keystep": 0, "video": 0}
    for epoch in range(150):
        levels = [lv for lv, _ in epoch_plan(epoch, lengths, "epoch", EVERY, BATCHES)]
        assert levels[:4] == ["clip"] * 4
        for lv in runs:
            runs[lv] += lv in levels
    assert runs == {"keystep": 49, "video": 29}          # reference.md §5.6
    assert epoch_plan(0, lengths, "epoch", EVERY, BATCHES) == [("clip", 1)] * 4
    assert epoch_plan(15, lengths, "epoch", EVERY, BATCHES) == [("clip", 1)] * 4 + [("keystep", 1)] * 2 + [("video", 1)]


def test_batch_mode_alternates_until_the_clip_pass_ends():
    plan = epoch_plan(0, {"clip": 60, "keystep": 7, "video": 3}, "batch", EVERY, BATCHES)
    levels = [lv for lv, _ in plan]
    assert levels[:25] == ["clip"] * 25 and levels[25:40] == ["keystep"] * 15 and levels[40:155] == ["video"] * 115
    assert levels.count("clip") == 60 and levels.count("keystep") == 45 and len(levels) == 60 + 3 * 130


def test_accumulation_groups_batches_of_one_level():
    plan = epoch_plan(3, {"clip": 5, "keystep": 3}, "epoch", EVERY, BATCHES, accumulate=2)
    assert plan == [("clip", 2), ("clip", 2), ("clip", 1), ("keystep", 2), ("keystep", 1)]


def test_total_counts_real_steps_and_the_reference_does_not():
    lengths = {"clip": 4, "keystep": 2, "video": 1}
    real = total_steps(150, lengths, "epoch", EVERY, BATCHES)
    assert real == 150 * 4 + 49 * 2 + 29 * 1
    assert total_steps(150, lengths, "epoch", EVERY, BATCHES, count="reference") == 150 * 7


def test_cosine_with_warmup():
    assert cosine_with_warmup(0, 10, 110) == 0.0
    near = rounding_bound(torch.float64, 1, depth=4)   # a ratio, a cosine, a sum, a product in float64
    assert cosine_with_warmup(5, 10, 110) == pytest.approx(0.5, abs=near)
    assert cosine_with_warmup(10, 10, 110) == pytest.approx(1.0, abs=near)
    assert cosine_with_warmup(60, 10, 110) == pytest.approx(0.5, abs=near)
    assert cosine_with_warmup(110, 10, 110) == pytest.approx(0.0, abs=near)
    assert cosine_with_warmup(0, 0, 5) == 1.0
