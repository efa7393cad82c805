import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from training_toy import make_tokenizer

    return make_tokenizer(str(tmp_path_factory.mktemp("tok") / "tokenizer"))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; two spinning OpenMP threads on a shared 2-core machine
    made these tests 10-20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
