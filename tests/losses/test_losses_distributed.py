"""The local-loss form on 2 real processes (gloo) equals one process on the same global batch."""
import os
import subprocess
import sys

import pytest
from contrastive_cases import fresh_seed, needs_native

import surgvlp_fast

WORKER = os.path.join(os.path.dirname(__file__), "losses_distributed_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(surgvlp_fast.__file__)))


@pytest.mark.parametrize("backend", ["reference", pytest.param("cpu", marks=needs_native)])
def test_two_processes_equal_one(backend):
    seed = fresh_seed()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", WORKER, backend,
         str(seed)], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"seed={seed}\n{result.stdout}\n{result.stderr[-4000:]}"


def test_gather_without_process_group_is_identity():
    import torch

    from surgvlp_fast.losses.distributed import gather_with_grad

    x = torch.randn(3, 2)
    x_all, offset = gather_with_grad(x)
    assert x_all is x and offset == 0
