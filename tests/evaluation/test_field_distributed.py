"""The field suite over two real gloo processes: every frame encoded once, and every rank gets the
numbers (single-label and multi-label columns) of a one-process run."""
import numpy as np
import torch.distributed as dist
from eval_fakes import PROMPTS, LinearEncoder, train_tokenizer
from gloo_ranks import report, run_ranks, start
from interchange_fixtures import write_interchange

from surgvlp_fast.evaluation import EvalOptions
from surgvlp_fast.evaluation.field_suite import run_field_suite

PHASES, STEPS, TOOLS = ["idle", "dissect", "suture"], ["s0", "s1", "s2", "s3"], ["grasper", "hook", "needle"]
LENGTHS = {"CASE001": 9, "CASE002": 3, "CASE003": 6}   # unequal videos over two ranks
OPTIONS = EvalOptions(resize="16x16", crop=16, max_length=16, batch_size=4)
COLUMNS = ["field-grasp-phase", "field-grasp-step", "field-grasp-tool"]


class CountingEncoder(LinearEncoder):
    def __init__(self, vocab_size):
        super().__init__(vocab_size)
        self.frames_encoded = 0

    def encode_frames(self, frames):
        self.frames_encoded += len(frames)
        return super().encode_frames(frames)


def _write_set(root):
    rng = np.random.default_rng(3)
    videos = {}
    for video, n in LENGTHS.items():
        videos[video] = [(f * 37 % 250, {"phases": int(rng.integers(3)), "steps": int(rng.integers(4)),
                                         "tools": sorted(int(t) for t in np.flatnonzero(rng.random(3) < 0.5))})
                         for f in range(1, n + 1)]
    write_interchange(f"{root}/data/field", videos, {"phases": PHASES, "steps": STEPS, "tools": TOOLS}, name="grasp")
    train_tokenizer(PROMPTS * 3 + [f"prompt for {n}" for n in PHASES + STEPS + TOOLS]).save_pretrained(f"{root}/tokenizer")


def _suite(root, distributed):
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(f"{root}/tokenizer")   # one vocabulary for every process
    model = CountingEncoder(len(tokenizer.get_vocab()))
    results, absent = run_field_suite(model, tokenizer, f"{root}/data", OPTIONS, distributed=distributed)
    return {"metrics": {k: r.metrics for k, r in results.items()},
            "per_video": {k: r.per_video for k, r in results.items()},
            "absent": absent, "frames_encoded": model.frames_encoded}


def _rank(rank, tmp_dir):
    start(rank, tmp_dir)
    try:
        report(tmp_dir, rank, **_suite(tmp_dir, distributed=True))
    finally:
        dist.destroy_process_group()


def test_field_suite_on_two_gloo_processes_equals_one_process(tmp_path):
    _write_set(str(tmp_path))
    ranks = run_ranks(_rank, tmp_path, timeout=120.0)
    single = _suite(str(tmp_path), distributed=False)
    assert sorted(single["metrics"]) == COLUMNS and len(single["absent"]) == 7
    assert single["frames_encoded"] == 3 * sum(LENGTHS.values())            # each column encodes its frames
    assert sum(r["frames_encoded"] for r in ranks) == single["frames_encoded"]
    assert all(0 < r["frames_encoded"] < single["frames_encoded"] for r in ranks)   # the work was shared
    for r in ranks:
        assert r["absent"] == single["absent"]
        assert r["metrics"] == single["metrics"]
        for column in COLUMNS:
            assert list(r["per_video"][column]) == list(LENGTHS)            # the set's video order, not the ranks'
            for video, (labels, outputs) in single["per_video"][column].items():
                np.testing.assert_array_equal(r["per_video"][column][video][0], labels)
                np.testing.assert_array_equal(r["per_video"][column][video][1], outputs)
    m = single["metrics"]
    assert 0 < m["field-grasp-phase"]["video_accuracy"] < 100 and 0 < m["field-grasp-tool"]["mAP"] <= 100
