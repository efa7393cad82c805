import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from training_toy import make_tokenizer

    return make_tokenizer(str(tmp_path_factory.mktemp("tok") / "tokenizer"))
