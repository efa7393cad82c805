import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A tiny synthetic world of 4 lectures and no downstream videos, for the benchmarks' CI runs."""
    from surgvlp_fast.synthetic import make_world

    root = str(tmp_path_factory.mktemp("bench") / "world")
    make_world(root, preset="tiny", seed=0, lectures=4, val_fraction=0.0, cholec80_train=0, cholec80_test=0,
               autolaparo_train=0, autolaparo_test=0, cholect50_test=0)
    return root
