import pytest
from training_helpers import HERE  # noqa: F401  (puts this folder on sys.path for toy.py)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from toy import make_tokenizer

    return make_tokenizer(str(tmp_path_factory.mktemp("tok") / "tokenizer"))
