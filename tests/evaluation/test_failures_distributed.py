"""A protocol failing on one rank of a distributed evaluation (two real gloo processes): every rank
stops within seconds with that rank's error, and the ranks start the next protocol together."""
import time
from types import SimpleNamespace

import torch.distributed as dist

from eval_fakes import PROMPTS, OracleEncoder, make_videos, train_tokenizer
from gloo_ranks import error_of, report, run_ranks, start
from surgvlp_fast.evaluation import runner
from surgvlp_fast.evaluation.zero_shot import zero_shot_phase

LENGTHS = [120, 4, 20]   # rank 0 encodes videos 0 and 2 (70 batches of 2), rank 1 video 1 (2 batches)
CLASSES = [str(c) for c in range(len(PROMPTS))]
ERROR = "video01: frame 3 cannot be decoded"


class FailingEncoder(OracleEncoder):
    """Rank 1 raises on its second batch, 1 s in; rank 0 takes 0.2 s a batch (14 s for its whole share)."""

    def __init__(self, tokenizer, rank):
        super().__init__(tokenizer)
        self.rank, self.batches, self.failed_at = rank, 0, None

    def encode_frames(self, frames):
        self.batches += 1
        if self.rank == 1 and self.batches == 2:
            time.sleep(1.0)
            self.failed_at = time.time()
            raise ValueError(ERROR)
        if self.rank == 0:
            time.sleep(0.2)
        return super().encode_frames(frames)


def _phase(model, tokenizer, distributed=True):
    videos = make_videos(LENGTHS, seed=4, misread=0.3)
    return zero_shot_phase(model, tokenizer, videos, PROMPTS, CLASSES, batch_size=2, distributed=distributed)


def _oracle():
    tokenizer = train_tokenizer(PROMPTS * 3)
    return OracleEncoder(tokenizer), tokenizer


def _mid_protocol(rank, tmp_dir):
    start(rank, tmp_dir)
    tokenizer = _oracle()[1]
    model, error = FailingEncoder(tokenizer, rank), None
    try:
        _phase(model, tokenizer)
    except Exception as err:   # noqa: BLE001 - reported to the test
        error = error_of(err)
    after = _phase(OracleEncoder(tokenizer), tokenizer).metrics   # the group is usable and in step
    report(tmp_dir, rank, error=error, failed_at=model.failed_at, batches=model.batches, after=after)
    dist.destroy_process_group()


def test_a_rank_failing_mid_protocol_stops_the_other_within_seconds(tmp_path):
    reports = run_ranks(_mid_protocol, tmp_path)
    assert reports[1]["error"]["type"] == "ValueError" and reports[1]["error"]["message"] == ERROR
    stopped = reports[0]["error"]
    assert stopped["type"] == "RankFailed" and stopped["message"] == f"rank 1 failed: ValueError: {ERROR}"
    assert stopped["at"] - reports[1]["failed_at"] < 10.0
    assert 0 < reports[0]["batches"] < 70   # rank 0 was at work, and stopped without finishing its share
    expected = _phase(*_oracle(), distributed=False).metrics
    assert reports[0]["after"] == reports[1]["after"] == expected


class FakeProtocol:
    """`broken` fails on rank 1 while reading its data, before any collective; `fine` runs."""

    def __init__(self, name):
        self.name = name

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        if self.name == "broken" and dist.get_rank() == 1:
            raise FileNotFoundError(f"{data_root}/downstream_datasets/cholec80/labels/video50.csv")
        return _phase(model, tokenizer, distributed)


def _protocols(rank, tmp_dir):
    start(rank, tmp_dir)
    runner.get_protocol = FakeProtocol   # this process's registry: the two fake protocols
    model, tokenizer = _oracle()
    cfg = SimpleNamespace(protocols=["broken", "fine"], options={}, data_root="data")
    try:
        runner.run_protocols(model, tokenizer, cfg, distributed=True)
    except runner.EvaluationFailed as err:
        report(tmp_dir, rank, failures=err.failures, metrics=err.metrics)
    dist.destroy_process_group()


def test_the_ranks_agree_on_a_failed_protocol_and_run_the_next_together(tmp_path):
    reports = run_ranks(_protocols, tmp_path)
    missing = "FileNotFoundError: data/downstream_datasets/cholec80/labels/video50.csv"
    assert reports[1]["failures"] == {"broken": missing}
    assert reports[0]["failures"] == {"broken": f"RankFailed: rank 1 failed: {missing}"}
    expected = _phase(*_oracle(), distributed=False).metrics
    for r in reports:
        assert r["metrics"] == {"fine/accuracy": expected["accuracy"], "fine/f1": expected["f1"]}
