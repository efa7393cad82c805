import pytest
from eval_fakes import PROMPTS, train_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(PROMPTS * 3 + ["the grasper holds the gallbladder", "clip and cut the duct"])


@pytest.fixture(scope="session")
def world(tiny_world):
    """The session's tiny synthetic world (tests/conftest.py) as a path; tests only read it."""
    return str(tiny_world[0])
