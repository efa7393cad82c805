"""Distributed zero-shot evaluation with two real gloo processes: every frame is scored once."""
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from surgvlp_fast.evaluation.sharding import shard

LENGTHS = [13, 30, 8]  # three videos of unequal length over two ranks


def test_shards_partition_the_items():
    items = list(range(11))
    for world in (1, 2, 3, 5, 16):
        parts = [shard(items, r, world) for r in range(world)]
        assert sorted(x for p in parts for x in p) == items
    with pytest.raises(ValueError, match="rank 2 outside"):
        shard(items, 2, 2)


def _evaluate(distributed):
    sys.path.insert(0, str(Path(__file__).parent))
    from eval_fakes import PROMPTS, OracleEncoder, make_videos, train_tokenizer
    from surgvlp_fast.evaluation.zero_shot import zero_shot_phase

    tokenizer = train_tokenizer(PROMPTS * 3)
    model = OracleEncoder(tokenizer)
    videos = make_videos(LENGTHS, seed=4, misread=0.3)
    result = zero_shot_phase(model, tokenizer, videos, PROMPTS, [str(c) for c in range(len(PROMPTS))], batch_size=4,
                             distributed=distributed)
    return {"metrics": result.metrics, "per_video": result.per_video, "frame_calls": model.frame_calls}


def _worker(rank, world, tmp_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp_dir}/store", rank=rank, world_size=world)
    try:
        out = _evaluate(distributed=True)
        if rank == 0:  # alone inside a process group (e.g. the training hook on rank 0): all videos, no hang
            out["alone"] = _evaluate(distributed=False)
    finally:
        dist.destroy_process_group()
    (Path(tmp_dir) / f"rank{rank}.pkl").write_bytes(pickle.dumps(out))


def test_two_gloo_processes_score_every_frame_once(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ranks = [pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    single = _evaluate(distributed=False)
    assert sum(r["frame_calls"] for r in ranks) == sum(LENGTHS) == single["frame_calls"]
    assert sorted(r["frame_calls"] for r in ranks) == sorted([13 + 8, 30])
    for r in ranks:
        assert r["metrics"] == single["metrics"]
        assert r["metrics"]["frames"] == sum(LENGTHS)
        for vid, (labels, predictions) in single["per_video"].items():
            np.testing.assert_array_equal(r["per_video"][vid][0], labels)
            np.testing.assert_array_equal(r["per_video"][vid][1], predictions)
    assert ranks[0]["alone"]["frame_calls"] == sum(LENGTHS)
    assert ranks[0]["alone"]["metrics"] == single["metrics"]
    assert single["metrics"]["accuracy"] < 100.0  # misread frames make the check non-trivial
