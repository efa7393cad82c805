"""A failing rank never hangs the others: with two real gloo processes, a rank raising inside
`fail_together()` stops its peer's pending and later collectives within seconds (not the group's
30-minute timeout) with RankFailed naming it, while the failed process is still alive; `lockstep()`
regions fail on every rank together and leave the ranks in step."""
import time

import pytest
import torch

from gloo_ranks import error_of, report, run_ranks, start, wait_for_report
from surgvlp_fast import collectives


def test_alone_the_helpers_are_plain():
    x = torch.arange(3.0)
    assert collectives.all_reduce(x) is x and x.tolist() == [0.0, 1.0, 2.0]
    assert collectives.all_gather_object({"a": 1}) == [{"a": 1}]
    assert collectives.exchange([1]) == [[1]]
    collectives.barrier()
    collectives.check_peers()
    with pytest.raises(ValueError, match="own"), collectives.fail_together():
        raise ValueError("own")
    with pytest.raises(ValueError, match="own"), collectives.lockstep():
        raise ValueError("own")
    assert str(collectives.RankFailed(3, "OSError: disk full")) == "rank 3 failed: OSError: disk full"


def _blocked_peer(rank, tmp_dir, failing, collective):
    start(rank, tmp_dir)
    if rank == failing:
        time.sleep(0.5)                      # the peer is blocked in its collective by now
        try:
            with collectives.fail_together():
                raise ValueError("video_7.mp4: no frames at 12.5 s")
        except ValueError as err:
            report(tmp_dir, rank, error=error_of(err))
        wait_for_report(tmp_dir, 1 - rank)   # alive (group open) until the peer has stopped
        return
    run = {"all_reduce": lambda: collectives.all_reduce(torch.ones(4)),
           "all_gather_object": lambda: collectives.all_gather_object({"rank": rank})}[collective]
    errors = []
    for call in (run, collectives.barrier):  # the pending collective, then a later one
        try:
            with collectives.fail_together():
                call()
        except Exception as err:   # noqa: BLE001 - reported to the test
            errors.append(error_of(err))
    report(tmp_dir, rank, errors=errors)


@pytest.mark.parametrize("failing, collective", [(1, "all_reduce"), (0, "all_gather_object")])
def test_a_failing_rank_stops_its_peer_blocked_in_a_collective(tmp_path, failing, collective):
    reports = run_ranks(_blocked_peer, tmp_path, failing, collective)
    failed, peer = reports[failing]["error"], reports[1 - failing]["errors"]
    assert failed["type"] == "ValueError"
    assert [e["type"] for e in peer] == ["RankFailed", "RankFailed"]
    for error in peer:
        assert error["message"] == f"rank {failing} failed: ValueError: video_7.mp4: no frames at 12.5 s"
        assert error["at"] - failed["at"] < 10.0


def _region(index, rank):
    if index == 0:
        raise ValueError(f"no labels on rank {rank}")   # fails on every rank
    if index == 1 and rank == 0:
        return int("video 3")                           # fails on rank 0, before its exchange
    return collectives.exchange(rank * 10)


def _regions(rank, tmp_dir):
    start(rank, tmp_dir)
    outcomes = []
    for index in range(3):
        try:
            with collectives.lockstep():
                outcomes.append(_region(index, rank))
        except Exception as err:   # noqa: BLE001 - reported to the test
            outcomes.append(f"{type(err).__name__}: {err}")
    report(tmp_dir, rank, outcomes=outcomes)


def test_lockstep_regions_fail_together_and_stay_in_step(tmp_path):
    reports = run_ranks(_regions, tmp_path)
    bad = "ValueError: invalid literal for int() with base 10: 'video 3'"
    assert reports[0]["outcomes"] == ["ValueError: no labels on rank 0", bad, [0, 10]]
    assert reports[1]["outcomes"] == ["ValueError: no labels on rank 1", f"RankFailed: rank 0 failed: {bad}", [0, 10]]
